// The bonus end-to-end: a person in the real web client (headless Chromium) and a person on IRC in
// #general, each seeing what the other says, actions and a multi-line message included.
import { existsSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { skipUnless } from '../helpers/require.js';
import { SERVER_JS, startServer, type RunningServer } from '../helpers/server.js';
import { joinIrc, registerIrc, type IrcClient } from './helpers/irc-client.js';

const skip = skipUnless(chromiumMissing(), 'the IRC and web client browser test');

let tb: TestBrowser;
let server: RunningServer;
let ctx: BrowserContext;
let irc: IrcClient;

beforeAll(async () => {
  if (skip) return;
  if (!existsSync(SERVER_JS)) throw new Error(`${SERVER_JS} is missing: run npm run build first`);
  tb = await launchBrowser();
  server = await startServer(['--server-name', 'irc.test']);
}, 60_000);
afterAll(async () => {
  irc?.close();
  await ctx?.close().catch(() => undefined);
  await tb?.close();
  await server?.stop();
});

describe.skipIf(skip)('IRC and the web client', () => {
  it('a browser user and an IRC user talk in #general', { timeout: 60_000 }, async () => {
    ctx = await tb.context();
    const page: Page = await ctx.newPage();
    await page.goto(`http://127.0.0.1:${server.httpPort}/`);
    await page.locator('#name-input').fill('webber');
    await page.locator('#name-input').press('Enter');
    await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 15_000 }).toBe('Connected as webber');
    await page.locator('#rooms .conv-open', { hasText: '#general' }).waitFor({ state: 'attached' });

    irc = await registerIrc(server.ircPort!, 'ircer', { caps: ['echo-message'] });
    await joinIrc(irc, '#general');
    // The browser user is listed in the names.
    expect(irc.lines.some((l) => l.command === '353' && l.text.split(' ').includes('webber'))).toBe(true);

    irc.send('PRIVMSG #general :hello browser, from irssi land');
    await page.locator('#log .msg', { hasText: 'hello browser, from irssi land' }).waitFor({ timeout: 15_000 });
    irc.send('PRIVMSG #general :\x01ACTION waves at the page\x01');
    await page.locator('#log .msg', { hasText: 'waves at the page' }).waitFor({ timeout: 15_000 });

    await page.locator('#input').fill('hello irc, from the page');
    await page.locator('#input').press('Enter');
    const got = await irc.next((l) => l.command === 'PRIVMSG' && l.text === 'hello irc, from the page', 15_000);
    expect(got.source).toBe('webber!webber@irc.test');
  });
});
