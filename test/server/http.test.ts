// The HTTP front against the real server process: static files with security headers, no path
// traversal, /healthz, /metrics, and /ws refusing plain GETs.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveStatic } from '../../server/http.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp } from '../helpers/tcp-client.js';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

const url = (path: string): string => `http://127.0.0.1:${server.httpPort}${path}`;

/** A request written byte for byte, so no client library normalises the path first. */
function rawGet(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port: server.httpPort, host: '127.0.0.1' });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

describe('HTTP front', () => {
  it('serves the web client with a strict CSP and nosniff', async () => {
    const res = await fetch(url('/'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain(`ws://127.0.0.1:${server.httpPort}`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toMatch(/<html/i);
  });

  it('answers 404 for missing files and 405 for other methods', async () => {
    expect((await fetch(url('/nope.js'))).status).toBe(404);
    expect((await fetch(url('/'), { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it.each(['/../../../../etc/passwd', '/..%2f..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd', '/..\\..\\etc\\passwd', '/%00', '/%E0%A4%A'])(
    'never serves outside the web root: %s',
    async (path) => {
      const res = await rawGet(path);
      expect(res).toMatch(/^HTTP\/1\.1 (400|404)/);
      expect(res).not.toContain('root:');
    },
  );

  it('resolveStatic keeps every path under the root', () => {
    expect(resolveStatic('/srv/web', '/')).toBe('/srv/web/index.html');
    expect(resolveStatic('/srv/web', '/a/b.js')).toBe('/srv/web/a/b.js');
    expect(resolveStatic('/srv/web', '/../x')).toBe('/srv/web/x');
    expect(resolveStatic('/srv/web', '/a/../../x')).toBe('/srv/web/x');
    expect(resolveStatic('/srv/web', '/%2e%2e/x')).toBe('/srv/web/x');
    expect(resolveStatic('/srv/web', '/a%5c..%5cx')).toBeUndefined();
    expect(resolveStatic('/srv/web', '/%zz')).toBeUndefined();
  });

  it('/healthz is JSON', async () => {
    const res = await fetch(url('/healthz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', store: 'memory', connections: { tcp: expect.any(Number), ws: expect.any(Number) } });
  });

  it('/metrics is Prometheus text with connections, rooms, messages, bytes and errors by code', async () => {
    const c = await helloTcp(server.tcpPort, 'metered');
    c.send({ type: 'join', room: 'm' });
    c.send({ type: 'say', room: 'm', text: 'count me', id: 1 });
    await c.next((e) => e.type === 'ack');
    c.send({ type: 'nope' });
    await c.next((e) => e.type === 'error');
    const res = await fetch(url('/metrics'));
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    expect(text).toMatch(/^parley_connections\{transport="tcp"\} 1$/m);
    expect(text).toMatch(/^parley_connections\{transport="ws"\} 0$/m);
    expect(text).toMatch(/^parley_rooms 1$/m);
    expect(text).toMatch(/^parley_messages_in_total [1-9]/m);
    expect(text).toMatch(/^parley_messages_out_total [1-9]/m);
    expect(text).toMatch(/^parley_bytes_in_total\{transport="tcp"\} [1-9]/m);
    expect(text).toMatch(/^parley_errors_total\{code="unknown_type"\} 1$/m);
    expect(text).toMatch(/^parley_process_heap_bytes\{kind="used"\} [1-9]\d*$/m);
    // Every sample line belongs to a declared metric.
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      const name = /^[a-z_]+/.exec(line)![0];
      expect(text).toContain(`# TYPE ${name} `);
    }
    c.close();
  });

  it('/ws without an upgrade is 426 naming the WebSocket version', async () => {
    const res = await fetch(url('/ws'));
    expect(res.status).toBe(426);
    expect(res.headers.get('sec-websocket-version')).toBe('13');
  });
});
