// The HTTP port with a certificate, against the real server, with Node's own clients: HTTPS over
// HTTP/1.1 and HTTP/2 (ALPN), plaintext HTTP answered 400 instead of hanging, WebSocket over TLS by
// HTTP/1.1 Upgrade and by HTTP/2 extended CONNECT (RFC 8441), each counted by the metrics under the
// HTTP version that carried it, and the Host and Origin checks applied on the HTTP/2 road too.
import { once } from 'node:events';
import { connect as connectPlain } from 'node:net';
import { connect as connectH2, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { get as httpsGet } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCert, type TestCert } from '../helpers/certs.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { clientFrame, OP, parseFrames, rawHttp, requestText, upgradeHeaders, type Frame } from '../helpers/ws-client.js';

let cert: TestCert;
let server: RunningServer;
const sessions: ClientHttp2Session[] = [];

beforeAll(async () => {
  cert = makeCert(tempDir('parley-https-'));
  server = await startServer(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--log-level', 'warn', '--hello-timeout-ms', '1000']);
});
afterAll(async () => {
  for (const s of sessions) s.destroy();
  await server?.stop();
});

const origin = (): string => `https://localhost:${server.httpPort}`;

/** GET over HTTPS/1.1 trusting the test certificate. */
function get(path: string): Promise<{ status: number; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet({ host: 'localhost', port: server.httpPort, path, ca: cert.cert, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, alpn: (res.socket as { alpnProtocol?: string | false }).alpnProtocol ?? false }));
    });
    req.on('error', reject);
  });
}

async function h2(): Promise<ClientHttp2Session> {
  const s = connectH2(origin(), { ca: cert.cert });
  sessions.push(s);
  s.on('error', () => {});
  await once(s, 'remoteSettings');
  return s;
}

function respond(stream: ClientHttp2Stream): Promise<IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
}

function readAll(stream: ClientHttp2Stream): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => resolve(body));
  });
}

/** A WebSocket over one HTTP/2 stream: frames out masked, server frames parsed as they come. */
function wsOverStream(stream: ClientHttp2Stream): { send(obj: unknown): void; next(pred: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> } {
  let buf = Buffer.alloc(0);
  const events: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  stream.on('data', (chunk: Buffer) => {
    const { frames, rest } = parseFrames(Buffer.concat([buf, chunk]));
    buf = Buffer.from(rest);
    for (const f of frames as Frame[]) if (f.opcode === OP.TEXT) events.push(JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>);
    wake?.();
  });
  return {
    send: (obj) => stream.write(clientFrame(OP.TEXT, Buffer.from(JSON.stringify(obj)))),
    next: (pred) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching event within 5 s; got ${JSON.stringify(events)}`)), 5000);
        const look = (): void => {
          const i = events.findIndex(pred);
          if (i < 0) return;
          clearTimeout(timer);
          wake = undefined;
          resolve(events.splice(i, 1)[0]!);
        };
        wake = look;
        look();
      }),
  };
}

function connectRequest(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'https',
    ':path': '/ws',
    ':authority': `localhost:${server.httpPort}`,
    'sec-websocket-version': '13',
    origin: origin(),
    ...overrides,
  };
}

async function metric(name: string): Promise<number> {
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec((await get('/metrics')).body);
  return m ? Number(m[1]) : NaN;
}

describe('HTTPS and HTTP/2 on the HTTP port', () => {
  it('serves the web client over HTTP/1.1 and over HTTP/2, chosen by ALPN', async () => {
    const one = await get('/');
    expect(one.status).toBe(200);
    expect(one.body).toContain('<!doctype html');
    const s = await h2();
    expect(s.alpnProtocol).toBe('h2');
    const stream = s.request({ ':path': '/healthz' });
    expect((await respond(stream))[':status']).toBe(200);
    expect(JSON.parse(await readAll(stream))).toMatchObject({ status: 'ok', tls: true });
  });

  it('a plaintext HTTP request is answered 400 saying to use https://, and closed', async () => {
    const t0 = Date.now();
    const res = await rawHttp(server.httpPort, requestText('/', { Host: `localhost:${server.httpPort}` }), 3000);
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/speaks HTTPS. Use https:\/\//);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a client silent before its first byte, or stalled inside its handshake, is closed after the hello timeout', async () => {
    for (const first of [undefined, Buffer.from([0x16, 0x03, 0x01])]) {
      const t0 = Date.now();
      const s = connectPlain({ port: server.httpPort, host: '127.0.0.1' });
      s.on('error', () => {});
      if (first) s.write(first);
      const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now() - t0)));
      const hang = setTimeout(() => s.destroy(new Error('hang')), 5000);
      const ms = await closed;
      clearTimeout(hang);
      expect(ms, first ? 'stalled handshake' : 'silent client').toBeGreaterThanOrEqual(900);
      expect(ms, first ? 'stalled handshake' : 'silent client').toBeLessThan(4000);
    }
  });

  it('announces SETTINGS_ENABLE_CONNECT_PROTOCOL and opens a WebSocket on an HTTP/2 stream (RFC 8441)', async () => {
    const before = await metric('parley_ws_connections_by_http_total{http="2"}');
    const s = await h2();
    expect(s.remoteSettings.enableConnectProtocol).toBe(true);
    const stream = s.request(connectRequest(), { endStream: false });
    const head = await respond(stream);
    expect(head[':status']).toBe(200);
    const ws = wsOverStream(stream);
    ws.send({ type: 'hello', name: 'h2amy', protocol: 1, id: 1 });
    expect(await ws.next((e) => e.type === 'welcome')).toMatchObject({ name: 'h2amy', re: 1 });
    ws.send({ type: 'join', room: 'h2', id: 2 });
    await ws.next((e) => e.type === 'members');
    ws.send({ type: 'say', room: 'h2', text: 'over a stream', id: 3 });
    expect(await ws.next((e) => e.type === 'message')).toMatchObject({ from: 'h2amy', text: 'over a stream' });
    expect(await metric('parley_ws_connections_by_http_total{http="2"}')).toBe(before + 1);
    // Other requests share the session meanwhile: that is the point of HTTP/2.
    const page = s.request({ ':path': '/' });
    expect((await respond(page))[':status']).toBe(200);
    stream.close();
  });

  it('refuses over HTTP/2 a foreign Origin (403), a foreign :authority (403), another path (404), another :protocol (400)', async () => {
    const s = await h2();
    const cases: [Record<string, string>, number, RegExp][] = [
      [{ origin: 'https://evil.example' }, 403, /origin not allowed/],
      [{ ':authority': `evil.example:${server.httpPort}`, origin: `https://evil.example:${server.httpPort}` }, 403, /--public-url/],
      [{ ':path': '/elsewhere' }, 404, /not found/],
      [{ ':protocol': 'webtransport' }, 400, /must be "websocket"/],
    ];
    for (const [change, status, body] of cases) {
      const stream = s.request(connectRequest(change), { endStream: false });
      expect((await respond(stream))[':status'], JSON.stringify(change)).toBe(status);
      expect(await readAll(stream)).toMatch(body);
    }
  });

  it('a WebSocket over HTTP/2 counts against the connection caps: past them the stream is answered 503 with the reason', async () => {
    const capped = await startServer(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--log-level', 'warn', '--max-connections-per-ip', '1']);
    try {
      const s = connectH2(`https://localhost:${capped.httpPort}`, { ca: cert.cert });
      sessions.push(s);
      s.on('error', () => {});
      await once(s, 'remoteSettings');
      const req = (): Record<string, string> => connectRequest({ ':authority': `localhost:${capped.httpPort}`, origin: `https://localhost:${capped.httpPort}` });
      const first = s.request(req(), { endStream: false });
      expect((await respond(first))[':status']).toBe(200);
      const second = s.request(req(), { endStream: false });
      expect((await respond(second))[':status']).toBe(503);
      expect(await readAll(second)).toMatch(/too many connections from your address/);
      // The session itself is fine: a page still loads over it.
      const page = s.request({ ':path': '/' });
      expect((await respond(page))[':status']).toBe(200);
    } finally {
      await capped.stop();
    }
  });

  it('opens a WebSocket over TLS by HTTP/1.1 Upgrade too (wss://), counted as HTTP/1.1', async () => {
    const before = await metric('parley_ws_connections_by_http_total{http="1.1"}');
    const headers = { ...upgradeHeaders(server.httpPort, 'localhost'), Origin: origin() };
    const res = await rawHttp(server.httpPort, requestText('/ws', headers), 5000, '127.0.0.1', { tls: { ca: cert.cert, servername: 'localhost' } });
    expect(res.status).toBe(101);
    expect(await metric('parley_ws_connections_by_http_total{http="1.1"}')).toBe(before + 1);
  });
});
