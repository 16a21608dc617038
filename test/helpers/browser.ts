// Launches the system Chromium through playwright-core for browser tests. Playwright never downloads
// a browser here: the tests use /usr/bin/chromium or skip loudly (fail under PARLEY_REQUIRE_ALL=1).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
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

export interface PageOptions {
  width?: number;
  height?: number;
  colorScheme?: 'light' | 'dark';
  /**
   * For a test that attaches to the page what outlives a navigation (a WebSocket route, a CDP
   * session, request listeners): the page is closed after the test, and a new tab in its context
   * (not a new context: that is the costly part) is made when the pool next needs one.
   */
  own?: boolean;
}

/**
 * Pages for a file's tests, each alone in a browser context, handed out again when a test is done
 * instead of a new context per page: a new context costs Chromium about three times the CPU of
 * loading the page again in one that exists (a renderer process, a storage partition, a cold
 * cache), and browser files are CPU-bound on two cores. A page comes back as a fresh profile
 * would be for the tests: on about:blank (its WebSocket closed, so the server sees that person go),
 * its origin's localStorage and sessionStorage emptied, at the size and colour scheme asked for.
 */
export interface PagePool {
  page(opts?: PageOptions): Promise<Page>;
  /** For afterEach: every page the test was handed goes back, or is closed. */
  release(): Promise<void>;
  /** For afterAll. */
  close(): Promise<void>;
}

/** `setup` runs once for each page made (listeners that report page errors, a default timeout). */
export function pagePool(tb: TestBrowser, setup: (page: Page) => void = () => undefined): PagePool {
  const contexts: BrowserContext[] = [];
  /** What can be handed out: a page on about:blank, or the context of an own page, for a new tab. */
  const free: { ctx: BrowserContext; page?: Page }[] = [];
  const lent: { page: Page; own: boolean }[] = [];
  const discard = (page: Page): Promise<void> => page.context().close().catch(() => undefined);

  async function giveBack(used: Page, own: boolean): Promise<void> {
    if (used.url().startsWith('http')) {
      // The app keeps running until the page leaves: with setItem gone (storage.ts writes through
      // it alone) nothing it does afterwards is kept.
      await used.evaluate('Storage.prototype.setItem = () => {}; localStorage.clear(); sessionStorage.clear()');
    }
    if (own) {
      await used.close();
      free.push({ ctx: used.context() });
      return;
    }
    // about:blank closes the app's WebSocket, so the server sees that person go.
    await used.goto('about:blank');
    free.push({ ctx: used.context(), page: used });
  }

  return {
    async page(opts = {}) {
      const width = opts.width ?? 1280;
      const height = opts.height ?? 800;
      const colorScheme = opts.colorScheme ?? 'light';
      // A page from the pool is on no app's document: a test may still route its WebSocket first.
      const reuse = free.pop();
      let page = reuse?.page;
      if (reuse && !page) {
        page = await reuse.ctx.newPage();
        setup(page);
      }
      if (page) {
        await page.setViewportSize({ width, height });
        await page.emulateMedia({ colorScheme });
      } else {
        const ctx = await tb.context({ width, height, colorScheme });
        contexts.push(ctx);
        page = await ctx.newPage();
        setup(page);
      }
      lent.push({ page, own: opts.own === true });
      return page;
    },
    async release() {
      for (const { page, own } of lent.splice(0)) {
        if (page.isClosed()) await discard(page);
        else await giveBack(page, own).catch(() => discard(page));
      }
    },
    async close() {
      await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
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
