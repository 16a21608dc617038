// The opening handshake: the pure rules (validateUpgrade) as a table, then the same rules over raw TCP
// against the real server, where http.ts's routing also plays its part.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptKey, validateUpgrade, WS_VERSION, type UpgradeRequest } from '../../server/ws/handshake.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { newKey, rawHttp, requestText } from '../helpers/ws-client.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function req(headers: Record<string, string | undefined>, over: Partial<UpgradeRequest> = {}): UpgradeRequest {
  const h: Record<string, string> = {
    host: 'chat.example:8080',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-version': '13',
    'sec-websocket-key': KEY,
  };
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) delete h[k];
    else h[k] = v;
  }
  return { method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1, headers: h, ...over };
}

const opts = { allowedOrigins: [] as string[], deflate: true };

describe('acceptKey', () => {
  it('matches the RFC 6455 1.3 example', () => {
    expect(acceptKey(KEY)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

describe('validateUpgrade (pure)', () => {
  const rows: [string, UpgradeRequest, number, (typeof opts)?][] = [
    ['valid', req({}), 101],
    ['POST', req({}, { method: 'POST' }), 400],
    ['HTTP/1.0', req({}, { httpVersionMinor: 0 }), 400],
    ['HTTP/2.0 is "or higher"', req({}, { httpVersionMajor: 2, httpVersionMinor: 0 }), 101],
    ['no Upgrade', req({ upgrade: undefined }), 400],
    ['Upgrade: h2c', req({ upgrade: 'h2c' }), 400],
    ['Upgrade token list, any case', req({ upgrade: 'foo, WebSocket' }), 101],
    ['no Connection', req({ connection: undefined }), 400],
    ['Connection: keep-alive', req({ connection: 'keep-alive' }), 400],
    ['Connection token list', req({ connection: 'keep-alive, UPGRADE' }), 101],
    ['Connection: upgraded is not the token', req({ connection: 'upgraded' }), 400],
    ['version 8', req({ 'sec-websocket-version': '8' }), 426],
    ['no version', req({ 'sec-websocket-version': undefined }), 426],
    ['no key', req({ 'sec-websocket-key': undefined }), 400],
    ['key of 15 bytes', req({ 'sec-websocket-key': Buffer.alloc(15, 1).toString('base64') }), 400],
    ['key of 17 bytes', req({ 'sec-websocket-key': Buffer.alloc(17, 1).toString('base64') }), 400],
    ['key not base64', req({ 'sec-websocket-key': '!!!!!!!!!!!!!!!!!!!!!!==' }), 400],
    ['key non-canonical padding bits', req({ 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZR==' }), 400],
    ['key without padding', req({ 'sec-websocket-key': KEY.slice(0, 22) }), 400],
    ['two keys joined by Node', req({ 'sec-websocket-key': `${KEY}, ${KEY}` }), 400],
    ['no Origin (non-browser)', req({ origin: undefined }), 101],
    ['Origin = own host', req({ origin: 'http://chat.example:8080' }), 101],
    ['Origin = own host, upper case', req({ origin: 'HTTP://CHAT.EXAMPLE:8080' }), 101],
    ['Origin other port', req({ origin: 'http://chat.example:9999' }), 403],
    ['Origin foreign', req({ origin: 'https://evil.example' }), 403],
    ['Origin null', req({ origin: 'null' }), 403],
    ['Origin listed', req({ origin: 'https://app.example' }), 101, { allowedOrigins: ['https://app.example'], deflate: true }],
    ['Origin listed with slash', req({ origin: 'https://app.example' }), 101, { allowedOrigins: ['https://app.example/'], deflate: true }],
    ['Origin not listed', req({ origin: 'https://other.example' }), 403, { allowedOrigins: ['https://app.example'], deflate: true }],
    ['Origin any with *', req({ origin: 'https://evil.example' }), 101, { allowedOrigins: ['*'], deflate: true }],
  ];
  for (const [name, r, status, o] of rows) {
    it(`${name} -> ${status}`, () => {
      const res = validateUpgrade(r, o ?? opts);
      if (status === 101) {
        expect(res.ok).toBe(true);
        if (res.ok) expect(res.response).toContain(`Sec-WebSocket-Accept: ${acceptKey(KEY)}\r\n`);
      } else {
        expect(res).toMatchObject({ ok: false, status });
        if (!res.ok) expect(res.reason.length).toBeGreaterThan(0);
      }
    });
  }

  it('426 names the version it speaks', () => {
    const res = validateUpgrade(req({ 'sec-websocket-version': '8' }), opts);
    expect(res).toMatchObject({ ok: false, status: 426, headers: { 'Sec-WebSocket-Version': WS_VERSION } });
  });

  it('negotiates permessage-deflate only when enabled and offered', () => {
    const offer = { 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' };
    const on = validateUpgrade(req(offer), opts);
    expect(on.ok && on.deflate?.serverMaxWindowBits).toBe(15);
    expect(on.ok && on.response).toMatch(/\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n/);
    const off = validateUpgrade(req(offer), { ...opts, deflate: false });
    expect(off.ok && off.deflate).toBeUndefined();
    expect(off.ok && off.response).not.toMatch(/Extensions/);
    const none = validateUpgrade(req({}), opts);
    expect(none.ok && none.deflate).toBeUndefined();
  });
});

describe('handshake over a real socket', () => {
  let server: RunningServer;
  let noDeflate: RunningServer;
  beforeAll(async () => {
    [server, noDeflate] = await Promise.all([
      startServer(['--allowed-origins', 'https://app.example', '--log-level', 'warn']),
      startServer(['--no-deflate', '--log-level', 'warn']),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), noDeflate?.stop()]);
  });

  const base = (port: number, key = newKey()): Record<string, string | undefined> => ({
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  });

  // [name, header changes, expected status, method, http version, path]
  const rows: [string, Record<string, string | undefined>, number, string?, string?, string?][] = [
    ['valid', {}, 101],
    ['Upgrade: WebSocket, Connection: keep-alive, Upgrade', { Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' }, 101],
    ['POST', {}, 400, 'POST'],
    ['HTTP/1.0', {}, 400, 'GET', 'HTTP/1.0'],
    ['Upgrade: h2c', { Upgrade: 'h2c' }, 400],
    // Without both Upgrade and Connection: upgrade, Node never treats it as an upgrade; http.ts's /ws
    // handler still answers a half-made handshake with 400 and the reason, plain HTTP with 426.
    ['no Upgrade header', { Upgrade: undefined }, 400],
    ['Connection: keep-alive', { Connection: 'keep-alive' }, 400],
    ['neither Upgrade nor Connection: upgrade', { Upgrade: undefined, Connection: undefined }, 426],
    ['version 8', { 'Sec-WebSocket-Version': '8' }, 426],
    ['no version', { 'Sec-WebSocket-Version': undefined }, 426],
    ['no key', { 'Sec-WebSocket-Key': undefined }, 400],
    ['short key', { 'Sec-WebSocket-Key': 'AAAA' }, 400],
    ['key of 20 bytes', { 'Sec-WebSocket-Key': Buffer.alloc(20).toString('base64') }, 400],
    ['no Origin', { Origin: undefined }, 101],
    ['Origin = Host', { Origin: 'ORIGIN_SELF' }, 101],
    ['Origin listed', { Origin: 'https://app.example' }, 101],
    ['Origin foreign', { Origin: 'https://evil.example' }, 403],
    ['Origin null', { Origin: 'null' }, 403],
    ['other path', {}, 404, 'GET', 'HTTP/1.1', '/chat'],
  ];
  for (const [name, change, status, method = 'GET', version = 'HTTP/1.1', path = '/ws'] of rows) {
    it(`${name} -> ${status}`, async () => {
      const port = server.httpPort;
      const key = newKey();
      const h = { ...base(port, key), ...change };
      if (h.Origin === 'ORIGIN_SELF') h.Origin = `http://127.0.0.1:${port}`;
      const res = await rawHttp(port, requestText(path, h, method, version));
      expect(res.status, res.body).toBe(status);
      if (status === 101) {
        expect(res.headers['sec-websocket-accept']).toBe(acceptKey(key));
        expect(res.headers.upgrade?.toLowerCase()).toBe('websocket');
      }
      if (status === 426) expect(res.headers['sec-websocket-version']).toBe('13');
      if (status >= 400) expect(res.body.length).toBeGreaterThan(0);
    });
  }

  it('offers permessage-deflate by default and not with --no-deflate', async () => {
    const ext = { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' };
    const on = await rawHttp(server.httpPort, requestText('/ws', { ...base(server.httpPort), ...ext }));
    expect(on.status).toBe(101);
    expect(on.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
    const off = await rawHttp(noDeflate.httpPort, requestText('/ws', { ...base(noDeflate.httpPort), ...ext }));
    expect(off.status).toBe(101);
    expect(off.headers['sec-websocket-extensions']).toBeUndefined();
  });

  it('a half-made handshake names what is missing', async () => {
    const noUpgrade = await rawHttp(server.httpPort, requestText('/ws', { ...base(server.httpPort), Upgrade: undefined }));
    expect(noUpgrade.body).toMatch(/Upgrade header must contain "websocket"/);
    const noConnection = await rawHttp(server.httpPort, requestText('/ws', { ...base(server.httpPort), Connection: 'keep-alive' }));
    expect(noConnection.body).toMatch(/Connection header must contain "upgrade"/);
  });

  it('a refused handshake is a complete response and the socket is closed', async () => {
    // rawHttp resolves on Content-Length; the server must also close (Connection: close).
    const res = await rawHttp(server.httpPort, requestText('/ws', { ...base(server.httpPort), 'Sec-WebSocket-Key': 'x' }));
    expect(res.status).toBe(400);
    expect(res.headers.connection).toBe('close');
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
  });
});
