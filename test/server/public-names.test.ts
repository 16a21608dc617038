// The names the server answers to: Host (DNS rebinding) and Origin (cross-site WebSocket) are both
// checked against public names, never against each other. Unit rows with a made-up machine, then the
// real server: a rebinding page (Host and Origin both evil.example, which matched each other and so
// passed before) is refused, a --public-url name is served, /healthz answers any name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERFACES_REFRESH_MS, nameOf, PublicNames, type NameSources } from '../../server/public-names.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { rawHttp, requestText, upgradeHeaders } from '../helpers/ws-client.js';

function machine(addresses: string[]): NameSources & { clock: number; addresses(): string[]; set(a: string[]): void } {
  let current = addresses;
  const m = {
    clock: 0,
    hostname: () => 'Box',
    addresses: () => current,
    now: () => m.clock,
    set: (a: string[]) => (current = a),
  };
  return m;
}

describe('nameOf', () => {
  it('strips port, brackets, case and a trailing dot; refuses what is not a host', () => {
    expect(nameOf('Chat.Example.COM:8080')).toBe('chat.example.com');
    expect(nameOf('localhost.')).toBe('localhost');
    expect(nameOf('[::1]:8080')).toBe('::1');
    expect(nameOf('127.0.0.1')).toBe('127.0.0.1');
    expect(nameOf('a/b')).toBeUndefined();
    expect(nameOf('user@host')).toBeUndefined();
    expect(nameOf('two words')).toBeUndefined();
  });
});

describe('PublicNames', () => {
  const sources = machine(['127.0.0.1', '10.1.2.3', '::1', 'fe80::1%eth0']);
  const any = new PublicNames({ host: '0.0.0.0', publicUrls: ['https://chat.example.com:8443'], allowedOrigins: ['https://app.example'] }, sources);

  it.each([
    ['localhost:8080', true],
    ['LOCALHOST.', true],
    ['box', true],
    ['10.1.2.3:80', true],
    ['[::1]:8080', true],
    ['[fe80::1]', true],
    ['chat.example.com', true],
    ['chat.example.com:9999', true],
    ['evil.example', false],
    ['evil.example:8080', false],
    ['app.example', false],
    ['10.1.2.4', false],
  ])('Host %s -> %s (bound to 0.0.0.0)', (host, ok) => {
    expect(any.hostAllowed(host)).toBe(ok);
  });

  it('a request without Host (HTTP/1.0, no browser) passes', () => {
    expect(any.hostAllowed(undefined)).toBe(true);
  });

  it.each([
    [undefined, true],
    ['https://chat.example.com', true],
    ['http://localhost:3000', true],
    ['https://10.1.2.3:8443', true],
    ['https://app.example', true],
    ['https://app.example:444', false],
    ['https://evil.example', false],
    ['null', false],
  ])('Origin %s -> %s', (origin, ok) => {
    expect(any.originAllowed(origin)).toBe(ok);
  });

  it('bound to one address: that address and the fixed names, not the other interfaces', () => {
    const one = new PublicNames({ host: '127.0.0.1', publicUrls: [], allowedOrigins: [] }, machine(['127.0.0.1', '10.1.2.3']));
    expect(one.hostAllowed('127.0.0.1:8080')).toBe(true);
    expect(one.hostAllowed('localhost')).toBe(true);
    expect(one.hostAllowed('10.1.2.3')).toBe(false);
  });

  it('an address that appears later is seen after at most one refresh interval', () => {
    const m = machine(['127.0.0.1']);
    const names = new PublicNames({ host: '::', publicUrls: [], allowedOrigins: [] }, m);
    m.set(['127.0.0.1', '192.168.7.7']);
    m.clock += INTERFACES_REFRESH_MS - 1;
    expect(names.hostAllowed('192.168.7.7')).toBe(false);
    m.clock += 1;
    expect(names.hostAllowed('192.168.7.7')).toBe(true);
  });

  it('--allowed-origins * admits any Origin, and a listed null admits Origin: null', () => {
    const star = new PublicNames({ host: '127.0.0.1', publicUrls: [], allowedOrigins: ['*'] }, machine([]));
    expect(star.originAllowed('https://anything.example')).toBe(true);
    const nul = new PublicNames({ host: '127.0.0.1', publicUrls: [], allowedOrigins: ['null'] }, machine([]));
    expect(nul.originAllowed('null')).toBe(true);
  });
});

describe('DNS rebinding against the real server', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--public-url', 'http://chat.example', '--log-level', 'warn']);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const get = (path: string, host: string) => rawHttp(server.httpPort, requestText(path, { Host: host, Connection: 'close' }));
  const upgrade = (host: string, origin: string) =>
    rawHttp(server.httpPort, requestText('/ws', { ...upgradeHeaders(server.httpPort), Host: host, Origin: origin }));

  it('a page under a name that merely resolves here is refused 403, with how to set --public-url', async () => {
    const res = await get('/', `evil.example:${server.httpPort}`);
    expect(res.status).toBe(403);
    expect(res.body).toContain('--public-url http://evil.example');
    expect((await get('/metrics', 'evil.example')).status).toBe(403);
  });

  it('its WebSocket is refused 403 even though its Origin and Host agree', async () => {
    const res = await upgrade(`evil.example:${server.httpPort}`, `http://evil.example:${server.httpPort}`);
    expect(res.status).toBe(403);
    expect(res.body).toContain('--public-url');
  });

  it('a --public-url name is served, and its pages may open /ws', async () => {
    expect((await get('/', `chat.example:${server.httpPort}`)).status).toBe(200);
    expect((await upgrade(`chat.example:${server.httpPort}`, `http://chat.example:${server.httpPort}`)).status).toBe(101);
  });

  it('a page from a public name on another port may open /ws (names compare without ports)', async () => {
    expect((await upgrade(`127.0.0.1:${server.httpPort}`, 'http://localhost:3000')).status).toBe(101);
    expect((await upgrade(`127.0.0.1:${server.httpPort}`, 'http://evil.example:3000')).status).toBe(403);
  });

  it('/healthz answers whatever name a probe uses', async () => {
    expect((await get('/healthz', 'probe.internal')).status).toBe(200);
  });
});
