// Connection caps: what counts as one address (IPv6 by /64), the counting itself, and the real server
// at its defaults: 100 chat connections from 127.0.0.1 are served, the 101st (TCP or WebSocket) is
// refused at once with the reason, while another address, /healthz, and a freed slot still work. A
// server-wide cap, and a refusal inside TLS on a TLS port, too.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { addressKey, ConnectionLimits } from '../../server/conn-limits.js';
import { makeCert } from '../helpers/certs.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { connectTcp, type TcpClient } from '../helpers/tcp-client.js';
import { rawHttp, requestText, upgradeHeaders } from '../helpers/ws-client.js';

const WAIT = { timeout: 10_000, interval: 50 };

describe('addressKey', () => {
  it('counts IPv4 by address, IPv4-mapped IPv6 as IPv4, and IPv6 by /64', () => {
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::9')).toBe('2001:db8:1:3::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::10.1.2.3')).toBe('64:ff9b:0:0::/64');
  });
});

describe('ConnectionLimits', () => {
  it('refuses past the per-address cap, other addresses still admitted, a release frees a slot', () => {
    const l = new ConnectionLimits(2, 0);
    const a1 = l.admit('10.0.0.1');
    const a2 = l.admit('10.0.0.1');
    expect(a1.ok && a2.ok).toBe(true);
    const a3 = l.admit('::ffff:10.0.0.1');
    expect(a3).toMatchObject({ ok: false, refusal: { code: 'too_many_connections', scope: 'address' } });
    expect(l.admit('10.0.0.2').ok).toBe(true);
    if (a1.ok) l.release(a1.key);
    expect(l.admit('10.0.0.1').ok).toBe(true);
    expect(l.count).toBe(3);
  });

  it('refuses past the server-wide cap whatever the address; 0 means no cap', () => {
    const l = new ConnectionLimits(0, 3);
    for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) expect(l.admit(a).ok).toBe(true);
    expect(l.admit('10.0.0.4')).toMatchObject({ ok: false, refusal: { scope: 'server' } });
    const open = new ConnectionLimits(0, 0);
    for (let i = 0; i < 1000; i++) expect(open.admit('10.0.0.1').ok).toBe(true);
  });
});

/** What the server sent before it closed: the refusal line, parsed. */
async function refusedLine(c: TcpClient): Promise<Record<string, unknown>> {
  const ev = await c.next((e) => e.type === 'error');
  await c.closed();
  return ev;
}

async function healthz(port: number, localAddress?: string): Promise<{ status: number; tcp: number; ws: number }> {
  const res = await rawHttp(port, requestText('/healthz', { Host: `127.0.0.1:${port}`, Connection: 'close' }), 5000, '127.0.0.1', { localAddress });
  const body = JSON.parse(res.body) as { connections: { tcp: number; ws: number } };
  return { status: res.status, ...body.connections };
}

describe('the server at its default caps (100 per address)', () => {
  let server: RunningServer;
  const held: TcpClient[] = [];
  beforeAll(async () => {
    // A long hello timeout: the held connections never say hello and must outlive the test.
    server = await startServer(['--hello-timeout-ms', '120000', '--log-level', 'warn']);
    for (let i = 0; i < 100; i++) held.push(await connectTcp(server.tcpPort));
    await vi.waitFor(async () => expect((await healthz(server.httpPort)).tcp).toBe(100), WAIT);
  }, 60_000);
  afterAll(async () => {
    for (const c of held) c.close();
    await server?.stop();
  });

  it('the 101st TCP connection from the address gets too_many_connections (fatal) and is closed', async () => {
    const c = await connectTcp(server.tcpPort);
    const ev = await refusedLine(c);
    expect(ev).toMatchObject({ type: 'error', code: 'too_many_connections', fatal: true });
    expect(String(ev.message)).toMatch(/at most 100 at once \(--max-connections-per-ip\)/);
  });

  it('a WebSocket from the same address is refused 503 with the reason, before the upgrade', async () => {
    const res = await rawHttp(server.httpPort, requestText('/ws', upgradeHeaders(server.httpPort)));
    expect(res.status).toBe(503);
    expect(res.body).toMatch(/too many connections from your address/);
  });

  it('/healthz still answers the capped address', async () => {
    expect((await healthz(server.httpPort)).status).toBe(200);
  });

  it('another address is served over TCP and WebSocket', async () => {
    const c = await connectTcp(server.tcpPort, '127.0.0.1', { localAddress: '127.0.0.2' });
    c.send({ type: 'hello', name: 'elsewhere', protocol: 1 });
    await c.next((e) => e.type === 'welcome');
    c.close();
    const ws = await rawHttp(server.httpPort, requestText('/ws', upgradeHeaders(server.httpPort)), 5000, '127.0.0.1', { localAddress: '127.0.0.3' });
    expect(ws.status).toBe(101);
  });

  it('a closed connection frees its slot', async () => {
    held.shift()!.close();
    await vi.waitFor(async () => expect((await healthz(server.httpPort)).tcp).toBe(99), WAIT);
    const c = await connectTcp(server.tcpPort);
    c.send({ type: 'hello', name: 'latecomer', protocol: 1 });
    await c.next((e) => e.type === 'welcome');
    held.push(c);
  });
});

describe('other caps', () => {
  const servers: RunningServer[] = [];
  const clients: TcpClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('--max-connections caps the server whatever the address', async () => {
    const s = await startServer(['--max-connections', '3', '--max-connections-per-ip', '0', '--hello-timeout-ms', '60000', '--log-level', 'warn']);
    servers.push(s);
    for (const a of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) clients.push(await connectTcp(s.tcpPort, '127.0.0.1', { localAddress: a }));
    await vi.waitFor(async () => expect((await healthz(s.httpPort)).tcp).toBe(3), WAIT);
    const c = await connectTcp(s.tcpPort, '127.0.0.1', { localAddress: '127.0.0.5' });
    const ev = await refusedLine(c);
    expect(ev).toMatchObject({ code: 'too_many_connections', fatal: true });
    expect(String(ev.message)).toMatch(/limit of 3 connections \(--max-connections\)/);
  });

  it('on a TLS port the refusal comes inside TLS, readable by a TLS client', async () => {
    const cert = makeCert(tempDir('parley-caps-tls-'));
    const s = await startServer(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--max-connections-per-ip', '1', '--hello-timeout-ms', '60000', '--log-level', 'warn']);
    servers.push(s);
    const tls = { ca: cert.cert, servername: 'localhost' };
    // Counted at accept, before its handshake: once that handshake is done, the slot is surely taken.
    clients.push(await connectTcp(s.tcpPort, '127.0.0.1', { tls }));
    const c = await connectTcp(s.tcpPort, '127.0.0.1', { tls });
    expect(await refusedLine(c)).toMatchObject({ code: 'too_many_connections', fatal: true });
  });
});
