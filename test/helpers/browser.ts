// Launches the system Chromium through playwright-core for browser tests. Playwright never downloads
// a browser here: the tests use /usr/bin/chromium or skip loudly (fail under PARLEY_REQUIRE_ALL=1).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { ROOT, SERVER_JS, startServer, type RunningServer } from './server.js';

export const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'test-artifacts');

// Everything that could make the browser talk to the internet or to Google is off: tests are loopback only.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} does not exist (apt-get install chromium)`;
}

export interface TestBrowser {
  browser: Browser;
  /** A fresh profile each time, so localStorage from one test never leaks into another. */
  context(opts?: { width?: number; height?: number; colorScheme?: 'light' | 'dark' }): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** `extraArgs`: more Chromium switches, e.g. --ignore-certificate-errors-spki-list=HASH to trust a test certificate. */
export async function launchBrowser(extraArgs: string[] = []): Promise<TestBrowser> {
  // launch() runs Chromium on a fresh temporary profile that playwright deletes on close, and every
  // newContext() is a separate incognito-like profile inside it: no state survives between tests.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs], timeout: 30_000 });
  return {
    browser,
    context: (opts = {}) =>
      browser.newContext({
        viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
        colorScheme: opts.colorScheme ?? 'light',
        serviceWorkers: 'block',
      }),
    close: async () => {
      await browser.close().catch(() => undefined);
    },
  };
}

/**
 * A picture of the page for a person to look at (test-artifacts/), only with PARLEY_SCREENSHOTS=1:
 * nothing asserts on these, and on two shared cores each costs the suite real time.
 */
export async function keepScreenshot(page: { screenshot(opts: { path: string }): Promise<unknown> }, name: string): Promise<void> {
  if (process.env.PARLEY_SCREENSHOTS === '1') await page.screenshot({ path: artifactPath(name) });
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/**
 * Builds the web client from the current sources when dist/web is older than them (a run straight
 * after an edit); `make test` has just built it, so usually this costs nothing.
 */
export function ensureWebBuild(): void {
  const built = join(ROOT, 'dist', 'web', 'web-client', 'app.js');
  const at = existsSync(built) ? statSync(built).mtimeMs : -Infinity;
  const stale = ['web-client', 'protocol'].some((dir) => readdirSync(join(ROOT, dir)).some((f) => statSync(join(ROOT, dir, f)).mtimeMs > at));
  if (!stale) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.web.json'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/copy-static.mjs'], { cwd: ROOT, stdio: 'inherit' });
}

/** What a browser test file starts with: the built server and page, a browser, and a server of its own. */
export async function browserAndServer(): Promise<[TestBrowser, RunningServer]> {
  if (!existsSync(SERVER_JS)) throw new Error(`${SERVER_JS} is missing: run npm run build first`);
  ensureWebBuild();
  return Promise.all([launchBrowser(), startServer()]);
}
