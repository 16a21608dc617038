// IRC over TLS on its own port (--irc-tls-port, 6697 by default) whenever the server has a
// certificate: a client that trusts it registers and talks with a console user; a plaintext client on
// that port is closed at once instead of hanging.
import { connect } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCert, type TestCert } from '../helpers/certs.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { connectTcp } from '../helpers/tcp-client.js';

let server: RunningServer;
let cert: TestCert;
let ircsPort: number;
beforeAll(async () => {
  cert = makeCert(tempDir('parley-ircs-'), 'ircs');
  server = await startServer(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--irc-tls-port', '0', '--hello-timeout-ms', '2000']);
  const m = / ircs=\S+:(\d+)/.exec(server.stderr());
  expect(m).not.toBeNull();
  ircsPort = Number(m![1]);
});
afterAll(async () => {
  await server?.stop();
});

/** Lines received on `socket`, and a wait for one matching `re`. */
function lines(socket: TLSSocket) {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (buf += d));
  return {
    async waitFor(re: RegExp, timeoutMs = 10_000): Promise<string> {
      const t0 = Date.now();
      for (;;) {
        const m = re.exec(buf);
        if (m) return m[0];
        if (Date.now() - t0 > timeoutMs) throw new Error(`${re} not received; got:\n${buf}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe('IRC over TLS', () => {
  it('a client trusting the certificate registers on the TLS port and talks with a console user', async () => {
    const irc = connectTls({ port: ircsPort, host: '127.0.0.1', ca: cert.cert, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      irc.once('secureConnect', resolve);
      irc.once('error', reject);
    });
    const got = lines(irc);
    irc.write('NICK tessa\r\nUSER tessa 0 * :Tessa\r\n');
    await got.waitFor(/ 001 tessa /);
    irc.write('JOIN #secure\r\n');
    await got.waitFor(/ 366 tessa #secure /);
    const json = await connectTcp(server.tcpPort, '127.0.0.1', { tls: { ca: cert.cert, servername: 'localhost' } });
    json.send({ type: 'hello', name: 'jules', id: 'h' });
    await json.next((e) => e.re === 'h');
    json.send({ type: 'join', room: 'secure' });
    await json.next((e) => e.type === 'history');
    irc.write('PRIVMSG #secure :over tls both ways\r\n');
    expect(await json.next((e) => e.type === 'message')).toMatchObject({ from: 'tessa', text: 'over tls both ways' });
    json.send({ type: 'say', room: 'secure', text: 'right back' });
    await got.waitFor(/:jules!\S+ PRIVMSG #secure :right back/);
    irc.destroy();
    json.close();
  });

  it('a plaintext client on the TLS port is closed at once, never left hanging', async () => {
    const plain = connect({ port: ircsPort, host: '127.0.0.1' });
    const t0 = Date.now();
    await new Promise<void>((resolve) => {
      plain.on('connect', () => plain.write('NICK plain\r\nUSER plain 0 * :x\r\n'));
      plain.on('error', () => undefined);
      plain.on('close', () => resolve());
    });
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
