// The web client in headless Chromium over https:// and wss://, against the real server with a
// self-signed certificate that the test's browser trusts by its public key hash (Chromium's
// --ignore-certificate-errors-spki-list, so there is no certificate error at all, as with a real CA).
// Twice: as Chromium does by default, where the page comes over HTTP/2 and the WebSocket rides that
// connection as an extended CONNECT (RFC 8441); and with HTTP/2 switched off, where it is an HTTP/1.1
// Upgrade inside TLS. The server's metrics say which road each WebSocket took, so a test passing by
// the other road would fail.
import { get as httpsGet } from 'node:https';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { makeCert, type TestCert } from '../helpers/certs.js';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { skipUnless } from '../helpers/require.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';

const skip = skipUnless(chromiumMissing(), 'HTTPS browser tests (test/tls)');
const TIMEOUT = 90_000;

let cert: TestCert;
let server: RunningServer;
const browsers: TestBrowser[] = [];
const contexts: BrowserContext[] = [];
const consoles: ConsoleProc[] = [];

beforeAll(async () => {
  if (skip) return;
  cert = makeCert(tempDir('parley-browser-tls-'));
  server = await startServer(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--log-level', 'warn']);
}, TIMEOUT);

afterAll(async () => {
  for (const c of consoles) c.proc.kill();
  for (const c of contexts) await c.close().catch(() => undefined);
  for (const b of browsers) await b.close();
  await server?.stop();
});

function metrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsGet({ host: 'localhost', port: server.httpPort, path: '/metrics', ca: cert.cert, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

async function wsOpened(http: '1.1' | '2'): Promise<number> {
  const m = new RegExp(`^parley_ws_connections_by_http_total\\{http="${http.replace('.', '\\.')}"\\} (\\d+)$`, 'm').exec(await metrics());
  return m ? Number(m[1]) : NaN;
}

async function page(extraArgs: string[]): Promise<Page> {
  const tb = await launchBrowser([`--ignore-certificate-errors-spki-list=${cert.spki}`, ...extraArgs]);
  browsers.push(tb);
  const ctx = await tb.context();
  contexts.push(ctx);
  const p = await ctx.newPage();
  p.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  return p;
}

/** Signs in on https://localhost and talks in #general with a console client over TLS. */
async function chat(p: Page, name: string, text: string): Promise<void> {
  const res = await p.goto(`https://localhost:${server.httpPort}/`);
  expect(res?.status()).toBe(200);
  await p.locator('#name-input').fill(name);
  await p.locator('#name-input').press('Enter');
  await expect.poll(() => p.locator('#status-text').textContent(), { timeout: 20_000 }).toBe(`Connected as ${name}`);
  const listener = runConsole(['--host', 'localhost', '--port', String(server.tcpPort), '--name', `${name}-tty`, '--ca', cert.certFile]);
  consoles.push(listener);
  await listener.waitFor(/#general: /);
  await p.locator('#input').fill(text);
  await p.locator('#input').press('Enter');
  await listener.waitFor(new RegExp(`<${name}~?> ${text}`));
  listener.type(`hi ${name}`);
  await p.locator('#log .msg', { hasText: `hi ${name}` }).waitFor({ timeout: 15_000 });
  expect(await listener.end()).toBe(0);
}

describe.skipIf(skip)('the web client over HTTPS', () => {
  it('HTTP/2: the page and its WebSocket (RFC 8441 extended CONNECT) share one connection', async () => {
    const [h1Before, h2Before] = [await wsOpened('1.1'), await wsOpened('2')];
    const p = await page([]);
    await chat(p, 'hanna', 'sent over h2');
    expect(await p.evaluate<string>("performance.getEntriesByType('navigation')[0].nextHopProtocol")).toBe('h2');
    expect(await p.evaluate<string>('location.protocol')).toBe('https:');
    expect(await wsOpened('2')).toBe(h2Before + 1);
    expect(await wsOpened('1.1')).toBe(h1Before);
  }, TIMEOUT);

  it('HTTP/1.1 (HTTP/2 off in the browser): wss:// by Upgrade inside TLS', async () => {
    const [h1Before, h2Before] = [await wsOpened('1.1'), await wsOpened('2')];
    const p = await page(['--disable-http2']);
    await chat(p, 'otto', 'sent over http1');
    expect(await p.evaluate<string>("performance.getEntriesByType('navigation')[0].nextHopProtocol")).toBe('http/1.1');
    expect(await wsOpened('1.1')).toBe(h1Before + 1);
    expect(await wsOpened('2')).toBe(h2Before);
  }, TIMEOUT);
});
