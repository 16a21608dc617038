// A raw IRC client for tests. Deliberately independent of server/irc/: it parses the server's lines
// with its own small parser, so a bug in our codec cannot hide itself from the tests.
//
//   const c = await registerIrc(port, 'amy', { caps: ['echo-message'] });   // waits for 001
//   c.send('JOIN #general');
//   await c.next((l) => l.command === '366');
//
// Every wait rejects after a timeout (with the lines seen so far) instead of hanging.
import { connect, type Socket } from 'node:net';

export interface IrcLine {
  raw: string;
  tags: Map<string, string>;
  source: string | undefined;
  /** Upper case. */
  command: string;
  params: string[];
  /** The last parameter, or "". */
  text: string;
}

export interface IrcClient {
  socket: Socket;
  /** Every line received, in order. */
  lines: IrcLine[];
  /** One line; CR LF is added. */
  send(line: string): void;
  sendRaw(bytes: Buffer | string): void;
  /** The first line not yet taken by next() that matches. */
  next(predicate?: (l: IrcLine) => boolean, timeoutMs?: number): Promise<IrcLine>;
  /**
   * Every line not yet taken, up to and including the first that matches `end`; all of them are
   * taken. For a reply made of several lines (a batch, a WHOIS).
   */
  until(end: (l: IrcLine) => boolean, timeoutMs?: number): Promise<IrcLine[]>;
  /** Resolves when the server has closed the connection. */
  closed(timeoutMs?: number): Promise<void>;
  isClosed(): boolean;
  close(): void;
}

const UNESCAPE: Record<string, string> = { ':': ';', s: ' ', '\\': '\\', r: '\r', n: '\n' };

export function parseIrcLine(raw: string): IrcLine {
  let rest = raw;
  const tags = new Map<string, string>();
  if (rest.startsWith('@')) {
    const sp = rest.indexOf(' ');
    for (const part of rest.slice(1, sp).split(';')) {
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? '' : part.slice(eq + 1).replace(/\\(.?)/g, (_m, c: string) => (c === '' ? '' : (UNESCAPE[c] ?? c)));
      tags.set(key, value);
    }
    rest = rest.slice(sp + 1).replace(/^ +/, '');
  }
  let source: string | undefined;
  if (rest.startsWith(':')) {
    const sp = rest.indexOf(' ');
    source = rest.slice(1, sp);
    rest = rest.slice(sp + 1).replace(/^ +/, '');
  }
  const params: string[] = [];
  let command = '';
  while (rest.length > 0) {
    if (command !== '' && rest.startsWith(':')) {
      params.push(rest.slice(1));
      break;
    }
    const sp = rest.indexOf(' ');
    const word = sp < 0 ? rest : rest.slice(0, sp);
    if (command === '') command = word.toUpperCase();
    else params.push(word);
    rest = sp < 0 ? '' : rest.slice(sp + 1).replace(/^ +/, '');
  }
  return { raw, tags, source, command, params, text: params[params.length - 1] ?? '' };
}

export function connectIrc(port: number, host = '127.0.0.1'): Promise<IrcClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host });
    const lines: IrcLine[] = [];
    const taken = new Set<number>();
    let waiters: (() => void)[] = [];
    let buf = '';
    let ended = false;
    const wake = (): void => {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line !== '') lines.push(parseIrcLine(line));
      }
      wake();
    });
    socket.on('close', () => {
      ended = true;
      wake();
    });
    socket.on('error', () => {});
    const seen = (): string => lines.map((l) => l.raw).join('\n');
    const wait = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
      new Promise((res, rej) => {
        const found = check();
        if (found !== undefined) return res(found);
        const timer = setTimeout(() => rej(new Error(`${what}: nothing within ${timeoutMs} ms; got:\n${seen()}`)), timeoutMs);
        const again = (): void => {
          const v = check();
          if (v !== undefined) {
            clearTimeout(timer);
            res(v);
          } else if (ended) {
            clearTimeout(timer);
            rej(new Error(`${what}: connection closed; got:\n${seen()}`));
          } else waiters.push(again);
        };
        waiters.push(again);
      });
    socket.once('connect', () => {
      const client: IrcClient = {
        socket,
        lines,
        send: (line) => socket.write(line + '\r\n'),
        sendRaw: (bytes) => socket.write(bytes),
        next: (predicate = () => true, timeoutMs = 10_000) =>
          wait(
            () => {
              for (let i = 0; i < lines.length; i++) {
                if (!taken.has(i) && predicate(lines[i]!)) {
                  taken.add(i);
                  return lines[i]!;
                }
              }
              return undefined;
            },
            timeoutMs,
            'next',
          ),
        until: (end, timeoutMs = 10_000) =>
          wait(
            () => {
              const out: number[] = [];
              for (let i = 0; i < lines.length; i++) {
                if (taken.has(i)) continue;
                out.push(i);
                if (end(lines[i]!)) {
                  for (const j of out) taken.add(j);
                  return out.map((j) => lines[j]!);
                }
              }
              return undefined;
            },
            timeoutMs,
            'until',
          ),
        closed: (timeoutMs = 10_000) =>
          new Promise((res, rej) => {
            if (ended) return res();
            const timer = setTimeout(() => rej(new Error(`still open after ${timeoutMs} ms; got:\n${seen()}`)), timeoutMs);
            socket.once('close', () => {
              clearTimeout(timer);
              res();
            });
          }),
        isClosed: () => ended,
        close: () => socket.destroy(),
      };
      resolve(client);
    });
    socket.once('error', reject);
  });
}

export interface RegisterOptions {
  /** Caps to request (CAP LS 302 / REQ / END); none means no CAP negotiation at all. */
  caps?: string[];
  /** SASL PLAIN into this account (adds the sasl cap). */
  sasl?: { name: string; password: string };
  pass?: string;
  host?: string;
}

export function saslPlain(name: string, password: string, authzid = ''): string {
  return Buffer.from(`${authzid}\0${name}\0${password}`, 'utf8').toString('base64');
}

/** Connects and registers; resolves once 001 has arrived (and the 422 that ends the burst). */
export async function registerIrc(port: number, nick: string, opts: RegisterOptions = {}): Promise<IrcClient> {
  const c = await connectIrc(port, opts.host);
  const caps = [...(opts.caps ?? []), ...(opts.sasl ? ['sasl'] : [])];
  if (caps.length > 0) c.send('CAP LS 302');
  if (opts.pass !== undefined) c.send(`PASS ${opts.pass}`);
  c.send(`NICK ${nick}`);
  c.send(`USER ${nick} 0 * :${nick} the tester`);
  if (caps.length > 0) {
    c.send(`CAP REQ :${caps.join(' ')}`);
    const ack = await c.next((l) => l.command === 'CAP' && (l.params[1] === 'ACK' || l.params[1] === 'NAK'));
    if (ack.params[1] !== 'ACK') throw new Error(`caps refused: ${ack.raw}`);
    if (opts.sasl) {
      c.send('AUTHENTICATE PLAIN');
      await c.next((l) => l.command === 'AUTHENTICATE');
      c.send(`AUTHENTICATE ${saslPlain(opts.sasl.name, opts.sasl.password)}`);
      const done = await c.next((l) => l.command === '903' || l.command === '904', 10_000);
      if (done.command !== '903') throw new Error(`SASL failed: ${done.raw}`);
    }
    c.send('CAP END');
  }
  await c.next((l) => l.command === '001' || l.command === '433' || l.command === '432' || l.command === '464' || l.command === 'ERROR', 10_000).then((l) => {
    if (l.command !== '001') throw new Error(`registration as ${nick} failed: ${l.raw}`);
  });
  await c.next((l) => l.command === '422');
  return c;
}

/** Joins and waits for the end of the names (366) of each channel. */
export async function joinIrc(c: IrcClient, ...channels: string[]): Promise<void> {
  c.send(`JOIN ${channels.join(',')}`);
  for (const ch of channels) await c.next((l) => l.command === '366' && l.params[1]?.toLowerCase() === ch.toLowerCase());
}
