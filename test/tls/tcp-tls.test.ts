// The chat TCP port with a certificate, against the real server and console client processes: chat
// end to end over TLS (--ca trusts the test's self-signed certificate; --tls alone must refuse it;
// --insecure connects but warns), a plaintext client told tls_required instead of hanging, a silent
// one closed, and the certificate reloaded on SIGHUP without dropping anyone.
import { copyFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeCert, type TestCert } from '../helpers/certs.js';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { connectTcp, type TcpClient } from '../helpers/tcp-client.js';

/** Polls for state; generous because the test machine is shared and often loaded. */
const WAIT = { timeout: 10_000, interval: 50 };

let dir: string;
let first: TestCert;
let second: TestCert;
/** The paths the server reads, so SIGHUP can find other bytes in them. */
let certFile: string;
let keyFile: string;
let server: RunningServer;
const consoles: ConsoleProc[] = [];
const clients: TcpClient[] = [];

beforeAll(async () => {
  dir = tempDir('parley-tls-');
  first = makeCert(dir, 'first');
  second = makeCert(dir, 'second');
  certFile = join(dir, 'cert.pem');
  keyFile = join(dir, 'key.pem');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  server = await startServer(['--tls-cert', certFile, '--tls-key', keyFile, '--hello-timeout-ms', '1000']);
});
afterAll(async () => {
  for (const c of consoles) c.proc.kill('SIGKILL');
  for (const c of clients) c.close();
  await server?.stop();
});

function consoleClient(...args: string[]): ConsoleProc {
  const c = runConsole(['--host', 'localhost', '--port', String(server.tcpPort), ...args]);
  consoles.push(c);
  return c;
}

/** A raw TLS chat client trusting `ca`, welcomed as `name`. */
async function tlsHello(name: string, ca: Buffer): Promise<TcpClient> {
  const c = await connectTcp(server.tcpPort, '127.0.0.1', { tls: { ca, servername: 'localhost' } });
  clients.push(c);
  c.send({ type: 'hello', name, protocol: 1, id: 'hello' });
  await c.next((e) => e.type === 'welcome');
  return c;
}

/** The certificate a new handshake on `port` (default: the chat port) is shown now, and the ALPN it agreed. */
function served(port = server.tcpPort, ALPNProtocols?: string[]): Promise<{ fingerprint: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const s = connectTls({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(ALPNProtocols ? { ALPNProtocols } : {}) }, () => {
      const got = { fingerprint: s.getPeerCertificate().fingerprint256, alpn: s.alpnProtocol };
      s.destroy();
      resolve(got);
    });
    s.on('error', reject);
  });
}

const servedFingerprint = async (): Promise<string> => (await served()).fingerprint;

/** Connects in plaintext, optionally writes `send`, and collects what arrives until the server closes. */
function plaintext(send: string | Buffer | undefined): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = connect({ port: server.tcpPort, host: '127.0.0.1' });
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.on('close', () => resolve({ text, ms: Date.now() - t0 }));
    s.on('error', reject);
    if (send !== undefined) s.once('connect', () => s.write(send));
    // A hang fails the test here rather than at vitest's timeout.
    setTimeout(() => {
      s.destroy();
      reject(new Error(`the server neither answered nor closed within 5 s; got ${JSON.stringify(text)}`));
    }, 5000).unref();
  });
}

describe('TLS on the chat TCP port', () => {
  it('console clients chat over TLS when they trust the certificate (--ca)', async () => {
    const watcher = await tlsHello('watcher', first.cert);
    watcher.send({ type: 'join', room: 'general', id: 'j' });
    await watcher.next((e) => e.type === 'members');
    const amy = consoleClient('--name', 'amy', '--ca', first.certFile);
    await amy.waitFor(/connected to localhost:\d+ as amy/);
    amy.type('hello over tls');
    const seen = await watcher.next((e) => e.type === 'message' && e.from === 'amy');
    expect(seen.text).toBe('hello over tls');
    expect(await amy.end()).toBe(0);
    expect(amy.err()).not.toMatch(/WARNING/);
  });

  it('--tls alone checks the certificate against the system CAs and refuses a self-signed one', async () => {
    const c = consoleClient('--name', 'trusting', '--tls', '--retry-for', '0');
    expect(await c.exited).toBe(1);
    expect(c.err()).toMatch(/self-signed certificate/);
  });

  it('--insecure connects without checking, after a loud warning on stderr', async () => {
    const c = consoleClient('--name', 'reckless', '--insecure');
    await c.waitFor(/connected to localhost:\d+ as reckless/);
    expect(c.err()).toMatch(/WARNING: --insecure: the server's certificate is NOT checked/);
    expect(await c.end()).toBe(0);
  });

  it('a plaintext client is told tls_required in plaintext and closed at once', async () => {
    const got = await plaintext('{"type":"hello","name":"plain","protocol":1}\n');
    const line = JSON.parse(got.text.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ type: 'error', code: 'tls_required', fatal: true });
    expect(String(line.message)).toMatch(/speaks TLS/);
    expect(got.ms).toBeLessThan(3000);
  });

  it('the console client without --tls says the port speaks TLS and exits', async () => {
    const c = consoleClient('--name', 'forgetful');
    expect(await c.exited).toBe(1);
    expect(c.err()).toMatch(/speaks TLS: connect with --tls/);
  });

  it('a client that sends nothing is closed after the hello timeout', async () => {
    const got = await plaintext(undefined);
    expect(got.text).toBe('');
    expect(got.ms).toBeGreaterThanOrEqual(900);
    expect(got.ms).toBeLessThan(4000);
  });

  it('a client that starts a TLS handshake and stalls is closed after the hello timeout', async () => {
    const got = await plaintext(Buffer.from([0x16, 0x03, 0x01]));
    expect(got.text).toBe('');
    expect(got.ms).toBeGreaterThanOrEqual(900);
    expect(got.ms).toBeLessThan(4000);
  });

  it('SIGHUP reloads the pair: a connection made before keeps chatting, new handshakes see the new certificate', async () => {
    expect(await servedFingerprint()).toBe(first.fingerprint256);
    expect((await served(server.httpPort)).fingerprint).toBe(first.fingerprint256);
    const before = await tlsHello('before', first.cert);
    before.send({ type: 'join', room: 'reload', id: 'j' });
    await before.next((e) => e.type === 'members');

    copyFileSync(second.certFile, certFile);
    copyFileSync(second.keyFile, keyFile);
    server.proc.kill('SIGHUP');
    await vi.waitFor(async () => expect(await servedFingerprint()).toBe(second.fingerprint256), WAIT);
    // The HTTPS port shares the pair, and still offers HTTP/2 with it.
    expect(await served(server.httpPort, ['h2', 'http/1.1'])).toEqual({ fingerprint: second.fingerprint256, alpn: 'h2' });

    // The old connection is still up, still encrypted under the old handshake, and still served.
    const after = await tlsHello('after', second.cert);
    after.send({ type: 'join', room: 'reload', id: 'j' });
    await after.next((e) => e.type === 'members');
    before.send({ type: 'say', room: 'reload', text: 'still here', id: 's' });
    await before.next((e) => e.type === 'ack' && e.re === 's');
    expect((await after.next((e) => e.type === 'message')).text).toBe('still here');
    expect(before.socket.destroyed).toBe(false);
    expect(server.proc.exitCode).toBeNull();
  });

  it('a reload that finds a broken pair keeps serving the last good one', async () => {
    copyFileSync(first.keyFile, keyFile); // second's certificate with first's key: not a pair
    const logged = server.stderr().length;
    server.proc.kill('SIGHUP');
    await vi.waitFor(() => expect(server.stderr().slice(logged)).toMatch(/reload failed, still serving the previous certificate/), WAIT);
    expect(await servedFingerprint()).toBe(second.fingerprint256);
    copyFileSync(second.keyFile, keyFile);
  });
});
