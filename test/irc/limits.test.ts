// The IRC listener under hostile or broken clients, against the real server: any chunking, bad UTF-8,
// the registration timeout, server PINGs and the idle close, the rate limits the hub applies, the
// slow-consumer bound, and a flood answered locally (PINGs) that pauses reading instead of growing.
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp } from '../helpers/tcp-client.js';
import { connectIrc, joinIrc, registerIrc } from './helpers/irc-client.js';

const S = 'irc.test';
const open: { close(): void }[] = [];
const servers: RunningServer[] = [];

async function serve(args: string[] = []): Promise<RunningServer> {
  const s = await startServer(['--server-name', S, ...args]);
  servers.push(s);
  return s;
}

afterAll(async () => {
  for (const c of open) c.close();
  for (const s of servers) await s.stop();
});

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Polls until `check` passes (it throws until then), for up to `ms`. */
async function eventually(check: () => void | Promise<void>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('input', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await serve();
  });

  it('accepts any chunking: a whole session sent one byte at a time, LF or CR LF', async () => {
    const c = await connectIrc(server.ircPort!);
    open.push(c);
    const script = 'CAP LS 302\r\nNICK bytewise\nUSER b 0 * :b\r\nCAP REQ :echo-message\r\nCAP END\r\nJOIN #bytes\r\nPRIVMSG #bytes :one byte at a time, é😀 included\r\n';
    const bytes = Buffer.from(script, 'utf8');
    for (let i = 0; i < bytes.length; i++) {
      c.sendRaw(bytes.subarray(i, i + 1));
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await c.next((l) => l.command === '001');
    await c.next((l) => l.command === '366');
    const echo = await c.next((l) => l.command === 'PRIVMSG');
    expect(echo.text).toBe('one byte at a time, é😀 included');
  });

  it('refuses a line that is not UTF-8 with FAIL INVALID_UTF8, and goes on', async () => {
    const c = await registerIrc(server.ircPort!, 'latin1');
    open.push(c);
    c.sendRaw(Buffer.concat([Buffer.from('PRIVMSG latin1 :caf'), Buffer.from([0xe9]), Buffer.from('\r\n')]));
    const fail = await c.next((l) => l.command === 'FAIL');
    expect(fail.params.slice(0, 2)).toEqual(['PRIVMSG', 'INVALID_UTF8']);
    c.send('PING :ok');
    await c.next((l) => l.command === 'PONG');
  });

  it('a line far over the limit is discarded up to its newline, answered 417 once', async () => {
    const c = await registerIrc(server.ircPort!, 'bigline');
    open.push(c);
    c.sendRaw(`PRIVMSG bigline :${'z'.repeat(100_000)}\r\nPING :after\r\n`);
    await c.next((l) => l.command === 'PONG' && l.text === 'after');
    expect(c.lines.filter((l) => l.command === '417')).toHaveLength(1);
  });
});

describe('timeouts and liveness', () => {
  it('a connection that does not register in time gets ERROR and is closed', async () => {
    const server = await serve(['--hello-timeout-ms', '300']);
    const c = await connectIrc(server.ircPort!);
    open.push(c);
    c.send('NICK slowpoke');
    expect((await c.next((l) => l.command === 'ERROR', 10_000)).text).toMatch(/Registration timed out/);
    await c.closed();
  });

  it('so does one that logs in with SASL and never ends CAP negotiation', async () => {
    // Long enough for the password check (scrypt) on a loaded machine, so 903 comes first.
    const server = await serve(['--hello-timeout-ms', '2000']);
    const made = await helloTcp(server.tcpPort, 'saslstall');
    made.send({ type: 'register', password: 'pw-of-saslstall', id: 'r' });
    await made.next((e) => e.re === 'r');
    made.close();
    const c = await connectIrc(server.ircPort!);
    open.push(c);
    c.send('CAP LS 302');
    c.send('CAP REQ sasl');
    c.send('AUTHENTICATE PLAIN');
    c.send(`AUTHENTICATE ${Buffer.from('\0saslstall\0pw-of-saslstall').toString('base64')}`);
    await c.next((l) => l.command === '903');
    expect((await c.next((l) => l.command === 'ERROR', 15_000)).text).toMatch(/Registration timed out/);
    await c.closed();
  });

  it('a quiet client is sent PING; one that answers stays, one that does not is closed (Ping timeout)', async () => {
    // An idle timeout long enough for a loaded test machine to answer in time, short enough to wait for.
    const server = await serve(['--ping-interval-ms', '200', '--idle-timeout-ms', '1500']);
    const silent = await registerIrc(server.ircPort!, 'silent');
    const lively = await registerIrc(server.ircPort!, 'lively');
    open.push(silent, lively);
    const answered = new Set<unknown>();
    lively.socket.on('data', () => {
      for (const l of lively.lines) {
        if (l.command !== 'PING' || answered.has(l)) continue;
        answered.add(l);
        lively.send(`PONG :${l.text}`);
      }
    });
    expect(await silent.next((l) => l.command === 'PING', 10_000)).toMatchObject({ source: S, params: [S] });
    const error = await silent.next((l) => l.command === 'ERROR', 10_000);
    expect(error.text).toMatch(/^Closing Link: silent \(Ping timeout: silent for \d+ seconds\)$/);
    await silent.closed();
    // The answering one outlives several idle timeouts.
    const since = Date.now();
    await eventually(() => expect(Date.now() - since).toBeGreaterThan(4000), 10_000);
    expect(lively.isClosed()).toBe(false);
    expect(lively.lines.filter((l) => l.command === 'PING').length).toBeGreaterThan(1);
  });
});

describe('limits shared with the other transports', () => {
  it('the hub’s rate limits apply: a PRIVMSG flood is refused (404) and the client stays connected', async () => {
    const server = await serve(['--no-rate-limit=false', '--rate-limit', '2']);
    const c = await registerIrc(server.ircPort!, 'flooder');
    open.push(c);
    await joinIrc(c, '#flood');
    for (let i = 0; i < 20; i++) c.send(`PRIVMSG #flood :spam ${i}`);
    const refused = await c.next((l) => l.command === '404');
    expect(refused.text).toMatch(/Cannot send to #flood: too many message requests/);
    c.send('PING :alive');
    await c.next((l) => l.command === 'PONG' && l.text === 'alive');
  });

  it('a client that does not read is cut as a slow consumer; the room goes on', async () => {
    const server = await serve(['--max-buffered-bytes', '65536', '--log-level', 'warn']);
    const sleeper = await registerIrc(server.ircPort!, 'sleeper');
    const reader = await registerIrc(server.ircPort!, 'reader');
    open.push(sleeper, reader);
    await joinIrc(sleeper, '#busy');
    await joinIrc(reader, '#busy');
    sleeper.socket.pause();
    const talker = await helloTcp(server.tcpPort, 'talker');
    open.push(talker);
    talker.send({ type: 'join', room: 'busy', history: 0 });
    await talker.next((e) => e.type === 'members');
    const text = 'x'.repeat(3000);
    let n = 0;
    await eventually(async () => {
      for (let i = 0; i < 50; i++) talker.send({ type: 'say', room: 'busy', text: `${n++} ${text}` });
      await talker.next((e) => e.type === 'ack' || e.type === 'message');
      expect(await metrics(server.httpPort)).toMatch(/^parley_errors_total\{code="slow_consumer"\} [1-9]/m);
    }, 20_000);
    // The reader kept up and is still connected; the sleeper's connection was closed.
    reader.send('PING :reader');
    await reader.next((l) => l.command === 'PONG' && l.text === 'reader', 10_000);
    sleeper.socket.resume();
    await sleeper.closed(10_000);
  });

  it('a flood answered here (PINGs) by a client that does not read pauses reading; nothing is lost once it reads', { timeout: 120_000 }, async () => {
    const server = await serve(['--max-buffered-bytes', '1048576']);
    const c = await registerIrc(server.ircPort!, 'pinger');
    open.push(c);
    c.socket.pause();
    // 3 MB of PINGs whose PONGs (9 MB) would pass the 1 MB bound many times over if the server kept
    // reading: it must stop reading instead, and neither cut the client nor buffer without bound.
    const N = 300_000;
    const burst = Buffer.from(Array.from({ length: N }, (_, i) => `PING :${i}\r\n`).join(''));
    c.socket.write(burst);
    const readIn = async (): Promise<number> => Number(/^parley_bytes_in_total\{transport="irc"\} (\d+)$/m.exec(await metrics(server.httpPort))?.[1]);
    let before = -1;
    await eventually(async () => {
      const now = await readIn();
      const settled = now === before;
      before = now;
      expect(settled).toBe(true);
    }, 10_000);
    // (What the kernels buffer on both sides is read and answered first; then reading stops.)
    expect(before).toBeLessThan(burst.length / 2);
    // Meanwhile the server serves others promptly.
    const other = await registerIrc(server.ircPort!, 'bystander');
    open.push(other);
    other.send('PING :quick');
    await other.next((l) => l.command === 'PONG');
    c.socket.resume();
    // Polled by count (a predicate scan of 300,000 lines per chunk would cost more than the test).
    const pongs = (): number => c.lines.length - c.lines.findIndex((l) => l.command === 'PONG');
    await eventually(() => expect(c.lines.at(-1)?.text).toBe(String(N - 1)), 90_000);
    expect(pongs()).toBe(N);
    expect(c.lines.slice(-N).every((l, i) => l.command === 'PONG' && l.text === String(i))).toBe(true);
    expect(c.isClosed()).toBe(false);
    expect(await metrics(server.httpPort)).not.toMatch(/slow_consumer/);
  });

  it('IRC connections are counted in /metrics', async () => {
    const server = await serve();
    const c = await registerIrc(server.ircPort!, 'counted');
    open.push(c);
    const text = await metrics(server.httpPort);
    expect(text).toMatch(/^parley_connections\{transport="irc"\} 1$/m);
    expect(text).toMatch(/^parley_bytes_in_total\{transport="irc"\} [1-9]/m);
  });
});

describe('shutdown', () => {
  it('an IRC client hears ERROR (Server shutting down) and is closed; registration-pending ones too', async () => {
    const server = await startServer(['--server-name', S]);
    const c = await registerIrc(server.ircPort!, 'leaving');
    const early = await connectIrc(server.ircPort!);
    early.send('NICK early');
    early.send('PING :here');
    await early.next((l) => l.command === 'PONG');
    const exited = server.stop();
    expect((await c.next((l) => l.command === 'ERROR')).text).toBe('Closing Link: leaving (Server shutting down)');
    expect((await early.next((l) => l.command === 'ERROR')).text).toBe('Closing Link: early (Server shutting down)');
    await c.closed();
    await early.closed();
    expect(await exited).toBe(0);
  });
});

describe('the listener flags', () => {
  it('--no-irc turns the listener off: no irc= on the start line', async () => {
    const server = await serve(['--no-irc']);
    expect(server.ircPort).toBeUndefined();
    expect(server.stderr()).toMatch(/parley listening tcp=\S+ http=\S+( data=\S+)?\n/);
  });

  it('--server-name must be a name that fits in IRC lines', async () => {
    await expect(startServer(['--server-name', 'has space'])).rejects.toThrow(/--server-name must be/);
  });
});
