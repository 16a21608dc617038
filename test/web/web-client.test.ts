// The web client in headless Chromium against the real server process: people on pages and on the
// console client in the same rooms, DMs, hostile text, reconnect with resume after a restart,
// keyboard-only use, permessage-deflate as negotiated by a real browser, and the phone layout.
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page, Request, Response } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, browserAndServer, chromiumMissing, keepScreenshot, pagePool, type PageOptions, type PagePool, type TestBrowser } from '../helpers/browser.js';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { skipUnless } from '../helpers/require.js';
import { ROOT, startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { tapWebSocket } from './ws-tap.js';

const skip = skipUnless(chromiumMissing(), 'web client browser tests (test/web)');

const TIMEOUT = 60_000;
// Page-side expressions are strings: the test program is compiled without the DOM library.
const ACTIVE_ID = 'document.activeElement ? document.activeElement.id : undefined';

let tb: TestBrowser;
let server: RunningServer;
let pool: PagePool;
const consoles: ConsoleProc[] = [];
const tcps: TcpClient[] = [];

function base(s: RunningServer = server): string {
  return `http://127.0.0.1:${s.httpPort}/`;
}

/** A page with nothing of any other test's on it (see pagePool: most are handed on, not made anew). */
function newPage(opts: PageOptions = {}): Promise<Page> {
  return pool.page(opts);
}

/** Anything the page logs as an error (a CSP violation, an exception) is a bug worth seeing in the output. */
function reportErrors(page: Page): void {
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  page.on('console', (m) => {
    if (m.type() === 'error') process.stderr.write(`[page console] ${m.text()}\n`);
  });
}

/** Opens the client, joins as a guest through the name form and waits for the first room to appear. */
async function signIn(page: Page, name: string, s: RunningServer = server): Promise<void> {
  await page.goto(base(s));
  await page.locator('#name-input').fill(name);
  await page.locator('#name-input').press('Enter');
  await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 15_000 }).toBe(`Connected as ${name}`);
  // attached, not visible: on a phone the room list lives in a closed drawer.
  await page.locator('#rooms .conv-open', { hasText: '#general' }).waitFor({ state: 'attached' });
}

/** Signs into the account `name` (registered beforehand, e.g. with accountTcp) through the form. */
async function signInAccount(page: Page, name: string, password = `pw-of-${name.toLowerCase()}`, s: RunningServer = server): Promise<void> {
  await page.goto(base(s));
  await page.locator('#mode-signin').click();
  await page.locator('#name-input').fill(name);
  await page.locator('#password-input').fill(password);
  await page.locator('#password-input').press('Enter');
  await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 15_000 }).toBe(`Connected as ${name}`);
  // attached, not visible: on a phone the room list lives in a closed drawer.
  await page.locator('#rooms .conv-open', { hasText: '#general' }).waitFor({ state: 'attached' });
}

async function say(page: Page, text: string): Promise<void> {
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
}

function msg(page: Page, text: string) {
  return page.locator('#log .msg', { hasText: text });
}

beforeAll(async () => {
  if (skip) return;
  [tb, server] = await browserAndServer();
  pool = pagePool(tb, reportErrors);
}, TIMEOUT);

afterEach(async () => {
  await pool?.release();
});

afterAll(async () => {
  for (const c of consoles) c.proc.kill();
  for (const t of tcps) t.close();
  await pool?.close();
  await tb?.close();
  await server?.stop();
});


/**
 * Skips the back-off wait when the page is waiting: the page may already have reconnected by itself
 * (the back-off can be shorter than the test's steps on a busy machine), when there is nothing to click.
 */
async function retryNow(page: Page): Promise<void> {
  const retry = page.locator('#retry');
  if (await retry.isVisible()) await retry.click({ timeout: 2000 }).catch(() => undefined);
}

describe.skipIf(skip)('web client in Chromium', () => {
  it('serves the page and its modules under the CSP without errors', async () => {
    const page = await newPage();
    const failures: string[] = [];
    const failed = (r: Request): void => void failures.push(r.url());
    const answered = (r: Response): void => {
      if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`);
    };
    page.on('requestfailed', failed);
    page.on('response', answered);
    const res = await page.goto(base());
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('#name-input').waitFor();
    await expect.poll(() => page.evaluate<boolean>("'parley' in window")).toBe(true);
    expect(failures).toEqual([]);
    // The page goes on to other tests: without this test's listeners.
    page.off('requestfailed', failed);
    page.off('response', answered);
  }, TIMEOUT);

  it('two pages and a console client chat in one room', async () => {
    const [alice, bob] = await Promise.all([newPage(), newPage()]);
    await Promise.all([signIn(alice, 'alice'), signIn(bob, 'bob')]);
    const carol = runConsole(['--port', String(server.tcpPort), '--name', 'carol', '--host', '127.0.0.1']);
    consoles.push(carol);
    await alice.locator('#members .member-open', { hasText: 'carol' }).waitFor({ timeout: 15_000 });

    await say(alice, 'hello from alice');
    await msg(bob, 'hello from alice').waitFor();
    await carol.waitFor(/hello from alice/);
    carol.type('hi from the terminal');
    await msg(alice, 'hi from the terminal').waitFor();
    await msg(bob, 'hi from the terminal').waitFor();
    await say(bob, 'bob here');
    await msg(alice, 'bob here').waitFor();
    await carol.waitFor(/bob here/);

    // Own messages are marked; every message has a time and a sender.
    await expect.poll(() => alice.locator('#log .msg.own', { hasText: 'hello from alice' }).count()).toBe(1);
    expect(await bob.locator('#log .msg.own', { hasText: 'hello from alice' }).count()).toBe(0);
    const row = msg(alice, 'bob here');
    expect(await row.locator('.from-name').textContent()).toBe('bob');
    expect(await row.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    // Join notices, members with online dots.
    await alice.locator('#log .notice', { hasText: 'carol joined' }).waitFor();
    await alice.locator('#members .member-open .dot.on').nth(2).waitFor();
    expect(await alice.locator('#members .member-name').allTextContents()).toEqual(['alice (you)', 'bob', 'carol']);
    await keepScreenshot(alice, 'chat-alice.png');
  }, TIMEOUT);

  it('a direct message between a page and a console client, both ways', async () => {
    // Accounts: a DM with a guest is never stored, and the reload below shows the stored history.
    (await accountTcp(server.tcpPort, 'dana')).close();
    (await accountTcp(server.tcpPort, 'erin')).close();
    const dana = await newPage();
    await signInAccount(dana, 'dana');
    const erin = runConsole(['--port', String(server.tcpPort), '--name', 'erin', '--host', '127.0.0.1'], {
      env: { PARLEY_PASSWORD: 'pw-of-erin', XDG_CONFIG_HOME: tempDir('parley-cfg-') },
    });
    consoles.push(erin);
    await dana.locator('#members .member-open', { hasText: 'erin' }).click({ timeout: 15_000 });
    await expect.poll(() => dana.locator('#conv-title').textContent()).toBe('@erin');
    await say(dana, 'psst erin');
    await erin.waitFor(/psst erin/);
    // Back to the room, so the reply arrives as an unread DM.
    await dana.locator('#rooms .conv-open', { hasText: '#general' }).click();
    erin.type('/msg dana psst back');
    const dmRow = dana.locator('#dms .conv-open', { hasText: '@erin' });
    await dmRow.locator('.badge', { hasText: '1' }).waitFor();
    await dmRow.click();
    await msg(dana, 'psst back').waitFor();
    expect(await dmRow.locator('.badge').count()).toBe(0);
    expect(await dana.locator('#log .msg').count()).toBe(2);
    // And with the /msg command, which opens the conversation.
    await dana.locator('#rooms .conv-open', { hasText: '#general' }).click();
    await say(dana, '/msg erin via the command');
    await erin.waitFor(/via the command/);
    await expect.poll(() => dana.locator('#conv-title').textContent()).toBe('@erin');
    await keepScreenshot(dana, 'dm.png');
    // A reload keeps the conversation: the row comes back and its stored history is shown, once each.
    await dana.reload();
    await expect.poll(() => dana.locator('#status-text').textContent(), { timeout: 15_000 }).toBe('Connected as dana');
    await dana.locator('#dms .conv-open', { hasText: '@erin' }).click({ timeout: 15_000 });
    await msg(dana, 'via the command').waitFor();
    const texts = await dana.locator('#log .msg').allTextContents();
    expect(texts.filter((t) => t.includes('psst erin'))).toHaveLength(1);
    expect(texts.filter((t) => t.includes('psst back'))).toHaveLength(1);
    expect(texts.findIndex((t) => t.includes('psst erin'))).toBeLessThan(texts.findIndex((t) => t.includes('via the command')));
    expect(texts).toHaveLength(3);
    await expect.poll(() => dana.locator('#older').textContent()).toBe('This is the beginning of your conversation with erin.');
  }, TIMEOUT);

  it('hostile text renders literally and runs nothing', async () => {
    const page = await newPage();
    await signIn(page, 'frank');
    const mallory = await helloTcp(server.tcpPort, 'mallory');
    tcps.push(mallory);
    mallory.send({ type: 'join', room: 'general', id: 1 });
    await mallory.next((e) => e.type === 'members');
    const payloads = [
      '<img src=x onerror="window.__pwned=1">',
      '<script>window.__pwned=2</script>',
      '<a href="javascript:window.__pwned=3">click</a><b style="x">bold</b>',
      'bell\u0007 and \u001b[31mred\u001b[0m and \u202Eevil',
    ];
    for (const [i, text] of payloads.entries()) mallory.send({ type: 'say', room: 'general', text, id: 10 + i });
    await msg(page, 'bell').waitFor();
    const bodies = await page.locator('#log .msg .body').allTextContents();
    expect(bodies).toContain(payloads[0]);
    expect(bodies).toContain(payloads[1]);
    expect(bodies).toContain(payloads[2]);
    // Control characters and bidi overrides are spelled out visibly (as the console does), not passed to the screen.
    expect(bodies).toContain('bell^G and ^[[31mred^[[0m and <U+202E>evil');
    expect(await page.locator('#log img, #log script, #log a, #log b').count()).toBe(0);
    await page.waitForTimeout(300); // an onerror from a broken image would have fired by now
    expect(await page.evaluate<unknown>('window.__pwned')).toBeUndefined();
    await keepScreenshot(page, 'hostile.png');
  }, TIMEOUT);

  it('explains bad and taken names inline, then remembers the name', async () => {
    const holder = await helloTcp(server.tcpPort, 'gina');
    tcps.push(holder);
    const page = await newPage();
    await page.goto(base());
    await page.locator('#name-input').fill('no spaces please');
    await page.locator('#name-input').press('Enter');
    await expect.poll(() => page.locator('#name-error').textContent()).toContain('1–32 letters');
    expect(await page.locator('#name-input').getAttribute('aria-invalid')).toBe('true');
    await page.locator('#name-input').fill('GINA');
    await page.locator('#name-input').press('Enter');
    await expect.poll(() => page.locator('#name-error').textContent(), { timeout: 15_000 }).toContain('GINA is already online');
    await page.locator('#name-input').fill('gina2');
    await page.locator('#name-input').press('Enter');
    await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 15_000 }).toBe('Connected as gina2');
    expect(await page.locator('#name-screen').isHidden()).toBe(true);
    // A reload signs in again without asking.
    await page.reload();
    await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 15_000 }).toBe('Connected as gina2');
    expect(await page.locator('#name-screen').isHidden()).toBe(true);
  }, TIMEOUT);

  it('shows history on join, loads older pages on scroll up, and pauses autoscroll', async () => {
    const feeder = await helloTcp(server.tcpPort, 'feeder');
    tcps.push(feeder);
    feeder.send({ type: 'join', room: 'busy', id: 'j' });
    await feeder.next((e) => e.type === 'members');
    for (let i = 1; i <= 130; i++) feeder.send({ type: 'say', room: 'busy', text: `line ${i}`, id: i });
    await feeder.next((e) => e.type === 'ack' && e.re === 130);

    const page = await newPage({ height: 700 });
    await signIn(page, 'hank');
    await page.locator('#join-input').fill('busy');
    await page.locator('#join-input').press('Enter');
    await expect.poll(() => page.locator('#conv-title').textContent()).toBe('#busy');
    await msg(page, 'line 130').waitFor();
    expect(await page.locator('#log .msg').count()).toBeGreaterThanOrEqual(50);
    expect(await page.locator('#log .msg').count()).toBeLessThan(130);

    // Scroll to the top until the beginning of the room is reached.
    await expect
      .poll(async () => {
        await page.locator('#scroller').evaluate((s) => (s.scrollTop = 0));
        return page.locator('#log .msg').count();
      })
      .toBe(130);
    const seqs = await page.locator('#log .msg').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    expect(seqs).toEqual(Array.from({ length: 130 }, (_, i) => i + 1));
    await expect.poll(() => page.locator('#older').textContent()).toContain('beginning of #busy');

    // Reading older messages: a new one does not yank the view down, a button offers the jump.
    // Resolves on the next frame: a frame fires pending scroll events before its animation frame
    // callbacks, so by then the page has taken in that the reader left the bottom.
    await page.evaluate<void>("new Promise((done) => { document.getElementById('scroller').scrollTop = 0; requestAnimationFrame(() => done()); })");
    feeder.send({ type: 'say', room: 'busy', text: 'while you were reading', id: 'r' });
    await msg(page, 'while you were reading').waitFor();
    await page.locator('#jump').waitFor();
    expect(await page.locator('#scroller').evaluate((s) => s.scrollTop)).toBeLessThan(100);
    await page.locator('#jump').click();
    await expect.poll(() => page.locator('#scroller').evaluate((s) => s.scrollHeight - s.scrollTop - s.clientHeight)).toBeLessThan(5);
    expect(await page.locator('#jump').isHidden()).toBe(true);
    // At the bottom, new messages scroll into view by themselves.
    feeder.send({ type: 'say', room: 'busy', text: 'follow along', id: 'f' });
    await msg(page, 'follow along').waitFor();
    await expect.poll(() => page.locator('#scroller').evaluate((s) => s.scrollHeight - s.scrollTop - s.clientHeight)).toBeLessThan(5);
    expect(await page.locator('#jump').isHidden()).toBe(true);
  }, TIMEOUT);

  it('slash commands, unread counts, /me and leaving', async () => {
    const page = await newPage();
    await signIn(page, 'ivy');
    const jo = await helloTcp(server.tcpPort, 'jo');
    tcps.push(jo);
    jo.send({ type: 'join', room: 'general', id: 'j' });
    await jo.next((e) => e.type === 'members');

    await say(page, '/join side');
    await expect.poll(() => page.locator('#conv-title').textContent()).toBe('#side');
    await say(page, '/me waves');
    await page.locator('#log .msg.action .body', { hasText: /^\* ivy(guest)? waves$/ }).waitFor();
    await say(page, '/rooms');
    await page.locator('#log .notice', { hasText: '#side (1)' }).waitFor();
    // As in the console: /users is this room's members, /users * everyone the server knows.
    await say(page, '/users');
    await page.locator('#log .notice', { hasText: 'In #side: ivy.' }).waitFor();
    await say(page, '/users *');
    await page.locator('#log .notice', { hasText: /Online: .*jo/ }).waitFor();
    await say(page, '/time');
    await page.locator('#log .notice', { hasText: 'Server time' }).waitFor();
    await say(page, '/help');
    await page.locator('#log .notice', { hasText: '/msg NAME TEXT' }).waitFor();
    await say(page, '/nonsense');
    await page.locator('#log .notice.error', { hasText: 'Unknown command' }).waitFor();

    // A message in a room not on screen counts as unread there.
    jo.send({ type: 'say', room: 'general', text: 'over here', id: 's' });
    await page.locator('#rooms .conv-open', { hasText: '#general' }).locator('.badge', { hasText: '1' }).waitFor();
    expect(await page.title()).toBe('(1) Parley');

    await say(page, '/leave');
    await expect.poll(() => page.locator('#rooms .conv-open', { hasText: '#side' }).count()).toBe(0);
    await expect.poll(() => page.locator('#conv-title').textContent()).toBe('#general');
    await msg(page, 'over here').waitFor();
    expect(await page.title()).toBe('Parley');
  }, TIMEOUT);

  it('keyboard only: Tab to the message box, Enter sends, Shift+Enter adds a line', async () => {
    const page = await newPage();
    await page.goto(base());
    // The name field has focus on arrival.
    await expect.poll(() => page.evaluate<string | undefined>(ACTIVE_ID)).toBe('name-input');
    await page.keyboard.type('kim');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 15_000 }).toBe('Connected as kim');
    await page.locator('#rooms .conv-open', { hasText: '#general' }).waitFor();
    // Start from the top of the page and Tab until the message box has focus.
    await page.evaluate('document.activeElement && document.activeElement.blur()');
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate<string | undefined>(ACTIVE_ID)) === 'input';
    }
    expect(reached).toBe(true);
    await page.keyboard.type('first line');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('second line');
    await page.keyboard.press('Enter');
    const body = msg(page, 'first line').locator('.body');
    await body.waitFor();
    expect(await body.textContent()).toBe('first line\nsecond line');
    expect(await page.locator('#input').inputValue()).toBe('');
    // The new-message announcements live in a polite live region.
    expect(await page.locator('#live').getAttribute('aria-live')).toBe('polite');
  }, TIMEOUT);

  it('permessage-deflate is negotiated by Chromium while chatting with a TCP client', async () => {
    const page = await newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const extensions: string[] = [];
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
      const headers = e.response.headers;
      for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === 'sec-websocket-extensions') extensions.push(v);
    });
    await signIn(page, 'lee');
    expect(extensions.length).toBeGreaterThan(0);
    expect(extensions[0]).toMatch(/permessage-deflate/);
    const tcp = await helloTcp(server.tcpPort, 'mo');
    tcps.push(tcp);
    tcp.send({ type: 'join', room: 'general', id: 'j' });
    await tcp.next((e) => e.type === 'members');
    // Big, repetitive text is where compression shows; both directions must arrive intact.
    const big = 'compress me please '.repeat(200).trim();
    tcp.send({ type: 'say', room: 'general', text: big, id: 'b' });
    await expect.poll(() => page.locator('#log .msg .body').allTextContents()).toContain(big);
    await say(page, `back at you ${big}`);
    await tcp.next((e) => e.type === 'message' && e.text === `back at you ${big}`);
    // The page goes on to other tests: without the network events.
    await cdp.detach();
  }, TIMEOUT);

  it('fits a phone screen: the sidebar becomes a drawer', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await signIn(page, 'ned');
    expect(await page.locator('#sidebar').isVisible()).toBe(false);
    await page.locator('#menu-toggle').click();
    expect(await page.locator('#sidebar').isVisible()).toBe(true);
    expect(await page.locator('#menu-toggle').getAttribute('aria-expanded')).toBe('true');
    await keepScreenshot(page, 'phone-drawer.png');
    await page.locator('#rooms .conv-open', { hasText: '#general' }).click();
    expect(await page.locator('#sidebar').isVisible()).toBe(false);
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await keepScreenshot(page, 'phone.png');
  }, TIMEOUT);
});

describe.skipIf(skip)('web client across a dead link', () => {
  it('a DM the server sent into a dead connection shows after the reconnect, without a reload, once and in order', async () => {
    const page = await newPage({ own: true });
    const tap = await tapWebSocket(page);
    // Accounts: only DMs between accounts are stored, so only they have an inbox and a history.
    (await accountTcp(server.tcpPort, 'uma')).close();
    await signInAccount(page, 'uma');
    // Gone if the page reloads: the DM must appear in this very document.
    await page.evaluate('window.__sameDocument = true');
    const vic = await accountTcp(server.tcpPort, 'vic');
    tcps.push(vic);
    vic.send({ type: 'join', room: 'general', id: 'j' });
    await vic.next((e) => e.type === 'members');
    vic.send({ type: 'dm', to: 'uma', text: 'before the cut', id: 1 });
    await page.locator('#dms .conv-open', { hasText: '@vic' }).click();
    await msg(page, 'before the cut').waitFor();
    await expect.poll(() => page.locator('#older').textContent()).toBe('This is the beginning of your conversation with vic.');

    await tap.cut();
    await expect.poll(() => page.locator('#status').getAttribute('class'), { timeout: 15_000 }).toContain('waiting');
    // The server still counts uma online: these go into the dead connection, and never to the inbox.
    vic.send({ type: 'dm', to: 'uma', text: 'into the void', id: 2 });
    vic.send({ type: 'dm', to: 'uma', text: 'and again', id: 3 });
    await vic.next((e) => e.type === 'ack' && e.re === 3);
    await tap.closeServerSides();
    await vic.next((e) => e.type === 'left' && e.name === 'uma');
    // Offline now: this one goes through the inbox and arrives right after the welcome.
    vic.send({ type: 'dm', to: 'uma', text: 'from the inbox', id: 4 });
    await vic.next((e) => e.type === 'ack' && e.re === 4);
    tap.heal();
    await retryNow(page);
    await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 30_000 }).toBe('Connected as uma');

    await msg(page, 'from the inbox').waitFor();
    vic.send({ type: 'dm', to: 'uma', text: 'live again', id: 5 });
    await msg(page, 'live again').waitFor();
    expect(await page.locator('#log .msg .body').allTextContents()).toEqual(['before the cut', 'into the void', 'and again', 'from the inbox', 'live again']);
    const seqs = await page.locator('#log .msg').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect(await page.evaluate<unknown>('window.__sameDocument')).toBe(true);
  }, TIMEOUT);

  it('asks for users only on /users, one page of 100, never at a welcome, and says when there are more', async () => {
    const page = await newPage({ own: true });
    const tap = await tapWebSocket(page);
    // Today's server lists everyone; the paged server will say `more` when it stops at the limit.
    tap.rewrite = (ev) => (ev.type === 'users' && ev.room === undefined ? { ...ev, more: true } : ev);
    const allUsers = (): unknown[] => tap.sent.filter((r) => r.type === 'who' && r.room === undefined);
    await signIn(page, 'quinn');
    // A reply to a request sent after the welcome: whatever the welcome made the page send went first.
    await say(page, '/time');
    await page.locator('#log .notice', { hasText: 'Server time' }).waitFor();
    expect(allUsers()).toEqual([]);

    await say(page, '/users *');
    const listed = page.locator('#log .notice', { hasText: 'Online:' });
    await listed.waitFor();
    expect(await listed.textContent()).toMatch(/quinn.*There are more users than the first \d+ listed here\./);
    expect(allUsers()).toEqual([{ type: 'who', limit: 100, id: expect.anything() }]);

    // Nor after a reconnect's welcome.
    await tap.cut();
    await tap.closeServerSides();
    tap.heal();
    await retryNow(page);
    await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 30_000 }).toBe('Connected as quinn');
    await say(page, '/time');
    await expect.poll(() => page.locator('#log .notice', { hasText: 'Server time' }).count()).toBe(2);
    expect(allUsers()).toHaveLength(1);
  }, TIMEOUT);
});

describe.skipIf(skip)('web client across a server restart', () => {
  it('reconnects with backoff, rejoins with since, and shows missed messages exactly once', async () => {
    const dir = tempDir('parley-web-restart-');
    const [first, page] = await Promise.all([startServer(['--data-dir', dir]), newPage()]);
    let s = first;
    const httpPort = s.httpPort;
    try {
      await signIn(page, 'olga', s);
      await say(page, '/join ops');
      await expect.poll(() => page.locator('#conv-title').textContent()).toBe('#ops');
      let pat = await helloTcp(s.tcpPort, 'pat');
      pat.send({ type: 'join', room: 'ops', id: 'j' });
      await pat.next((e) => e.type === 'members');
      pat.send({ type: 'say', room: 'ops', text: 'before the restart', id: 1 });
      await msg(page, 'before the restart').waitFor();
      pat.close();

      await s.stop();
      await expect.poll(() => page.locator('#status').getAttribute('class'), { timeout: 15_000 }).toContain('waiting');
      expect(await page.locator('#status-text').textContent()).toContain('Connection lost');
      // Let the backoff grow so the page is certainly away while the missed messages are sent.
      await expect
        .poll(async () => Number(/(\d+)/.exec((await page.locator('#status-countdown').textContent()) ?? '')?.[1] ?? 0), { timeout: 20_000 })
        .toBeGreaterThanOrEqual(3);
      await keepScreenshot(page, 'reconnecting.png');

      s = await startServer(['--data-dir', dir, '--http-port', String(httpPort)]);
      pat = await helloTcp(s.tcpPort, 'pat');
      tcps.push(pat);
      pat.send({ type: 'join', room: 'ops', id: 'j2' });
      await pat.next((e) => e.type === 'members');
      for (let i = 1; i <= 3; i++) pat.send({ type: 'say', room: 'ops', text: `missed ${i}`, id: 100 + i });
      await pat.next((e) => e.type === 'ack' && e.re === 103);
      // In #general meanwhile: counted as unread there after the resume.
      pat.send({ type: 'join', room: 'general', id: 'j3' });
      await pat.next((e) => e.type === 'members' && e.room === 'general');
      pat.send({ type: 'say', room: 'general', text: 'general while away', id: 200 });
      await pat.next((e) => e.type === 'ack' && e.re === 200);

      // The back-off has been seen to grow, by the page's own failed attempts; what is left of its
      // last wait (up to 15 s, jittered) is the Retry button's to skip.
      await retryNow(page);
      await expect.poll(() => page.locator('#status-text').textContent(), { timeout: 30_000 }).toBe('Connected as olga');
      await msg(page, 'missed 3').waitFor();
      for (const t of ['before the restart', 'missed 1', 'missed 2', 'missed 3']) expect(await msg(page, t).count()).toBe(1);
      const seqs = await page.locator('#log .msg').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      await page.locator('#rooms .conv-open', { hasText: '#general' }).locator('.badge', { hasText: '1' }).waitFor();
      // And the connection works for sending again.
      await say(page, 'back online');
      await pat.next((e) => e.type === 'message' && e.text === 'back online');
      await keepScreenshot(page, 'reconnected.png');
    } finally {
      await s.stop();
    }
  }, 90_000);
});

describe.skipIf(skip)('docs screenshot', () => {
  it('two people chatting in a couple of rooms, light theme, 1280x800', async () => {
    const s = await startServer();
    try {
      const sam = await newPage({ width: 1280, height: 800, colorScheme: 'light' });
      const tess = await newPage({ width: 1280, height: 800, colorScheme: 'light' });
      (await accountTcp(s.tcpPort, 'sam')).close();
      (await accountTcp(s.tcpPort, 'tess')).close();
      await signInAccount(sam, 'sam', undefined, s);
      await signInAccount(tess, 'tess', undefined, s);
      for (const p of [sam, tess]) {
        await say(p, '/join design');
        await expect.poll(() => p.locator('#conv-title').textContent()).toBe('#design');
      }
      await say(sam, '/join releases');
      await expect.poll(() => sam.locator('#conv-title').textContent()).toBe('#releases');
      for (const p of [sam, tess]) await p.locator('#rooms .conv-open', { hasText: '#general' }).click();
      const lines: [Page, string][] = [
        [tess, 'Morning! Did the new build go out?'],
        [sam, 'Yes, 0.1.0 is live. Web and terminal clients share the same rooms now.'],
        [tess, 'Nice. Carol says the terminal client reconnects without missing a line.'],
        [sam, '/me pours coffee'],
        [tess, 'Multi-line works too:\n- Shift+Enter for a new line\n- /help for commands'],
        [sam, 'Perfect. Lunch at 12?'],
      ];
      for (const [p, text] of lines) {
        await say(p, text);
        await msg(sam, text.startsWith('/me ') ? text.slice(4) : text.split('\n')[0]!).waitFor();
      }
      await tess.locator('#rooms .conv-open', { hasText: '#design' }).click();
      await say(tess, 'New colour tokens are in the design room.');
      await sam.locator('#rooms .badge').first().waitFor();
      await say(tess, '/msg sam Also: can you review my PR after lunch?');
      await sam.locator('#dms .badge').first().waitFor();
      await sam.locator('#input').fill('Sounds good, see you there');

      // What the picture is meant to show is on screen, inside the captured viewport.
      const inView = async (locator: ReturnType<Page['locator']>): Promise<boolean> => {
        const box = await locator.boundingBox();
        return box !== null && box.x >= 0 && box.y >= 0 && box.x + box.width <= 1280 && box.y + box.height <= 800;
      };
      expect(await sam.locator('#conv-title').textContent()).toBe('#general');
      for (const [, text] of lines) {
        const shown = msg(sam, text.startsWith('/me ') ? text.slice(4) : text.split('\n')[0]!);
        expect(await shown.count()).toBe(1);
        expect(await inView(shown)).toBe(true);
      }
      expect(await sam.locator('#rooms .conv-open').allTextContents()).toEqual(['#general', '#design1', '#releases']);
      expect(await inView(sam.locator('#rooms .conv-open', { hasText: '#design' }).locator('.badge', { hasText: '1' }))).toBe(true);
      expect(await inView(sam.locator('#dms .conv-open', { hasText: '@tess' }).locator('.badge', { hasText: '1' }))).toBe(true);
      expect(await sam.locator('#members .member-open').allTextContents()).toEqual(['sam (you)', 'tess']);
      expect(await sam.locator('#input').inputValue()).toBe('Sounds good, see you there');
      expect(await sam.locator('#status-text').textContent()).toBe('Connected as sam');
      expect(await sam.locator('#name-screen').isHidden()).toBe(true);

      const out = artifactPath('screenshot.png');
      await sam.screenshot({ path: out });
      // A PNG of the viewport's size, with more in it than an empty page would compress to.
      const png = readFileSync(out);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 800]);
      // Tess's page is done with, and of the same size: an empty page in place of hers.
      await tess.setContent('<body style="background:#fff"></body>');
      const empty = await tess.screenshot();
      expect(png.length).toBeGreaterThan(empty.length * 4);
      if (process.env.PARLEY_WRITE_DOCS_SCREENSHOT === '1') copyFileSync(out, join(ROOT, 'docs', 'screenshot.png'));
    } finally {
      await s.stop();
    }
  }, TIMEOUT);
});
