// Issue 16's web features in headless Chromium against the real server: two browser pages of one
// account (alice, as on a laptop and a phone), a second person's page (bob), the console client
// (carol's topic) and a raw TCP client (dave) standing in for the console where its screen is not the
// point. One server and one browser for the file; each test builds on the room the previous ones
// left, so they run in order and share the pages.
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserAndServer, chromiumMissing, type TestBrowser } from '../helpers/browser.js';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { skipUnless } from '../helpers/require.js';
import type { RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';

const skip = skipUnless(chromiumMissing(), 'web client feature tests (test/web/features)');
const TIMEOUT = 60_000;

let tb: TestBrowser;
let server: RunningServer;
const contexts: BrowserContext[] = [];
let a1: Page;
let a2: Page;
let bob: Page;
let dave: TcpClient;
let carol: ConsoleProc | undefined;

async function newPage(width = 1280, height = 800): Promise<Page> {
  const ctx = await tb.context({ width, height });
  // A step that never happens fails at its own line, well inside the test's time.
  ctx.setDefaultTimeout(15_000);
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  return page;
}

async function signIn(page: Page, name: string, password?: string): Promise<void> {
  await page.goto(`http://127.0.0.1:${server.httpPort}/`);
  if (password !== undefined) await page.locator('#mode-signin').click();
  await page.locator('#name-input').fill(name);
  if (password !== undefined) await page.locator('#password-input').fill(password);
  await page.locator(password !== undefined ? '#password-input' : '#name-input').press('Enter');
  // Not expect.poll: this runs in beforeAll too.
  await page.locator('#status-text', { hasText: `Connected as ${name}` }).waitFor({ timeout: 15_000 });
  await page.locator('#rooms .conv-open', { hasText: '#general' }).waitFor({ state: 'attached' });
}

async function say(page: Page, text: string): Promise<void> {
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
}

const msg = (page: Page, text: string) => page.locator('#log .msg', { hasText: text });
const badge = (page: Page, room: string) => page.locator('#rooms .conv-open', { hasText: `#${room}` }).locator('.badge');
const title = (page: Page) => page.locator('#conv-title').textContent();


beforeAll(async () => {
  if (skip) return;
  // The page is built from the current sources; `make test` has just built them, so only a stale
  // build (a run straight after an edit) pays for the compile.
  [tb, server] = await browserAndServer();
  for (const name of ['alice', 'bob']) (await accountTcp(server.tcpPort, name)).close();
  [a1, a2, bob] = await Promise.all([newPage(), newPage(), newPage()]);
  await Promise.all([signIn(a1, 'alice', 'pw-of-alice'), signIn(a2, 'alice', 'pw-of-alice'), signIn(bob, 'bob', 'pw-of-bob')]);
  dave = await helloTcp(server.tcpPort, 'dave');
  dave.send({ type: 'join', room: 'general', id: 'j' });
  await dave.next((e) => e.type === 'members');
}, TIMEOUT);

afterAll(async () => {
  carol?.proc.kill();
  dave?.close();
  for (const c of contexts) await c.close().catch(() => undefined);
  await tb?.close();
  await server?.stop();
});

describe.skipIf(skip)('issue 16 in the browser', () => {
  it('edit, delete and react, by keyboard and mouse, seen by the other page and the TCP client', async () => {
    await say(a1, 'first draft');
    await msg(bob, 'first draft').waitFor();
    // Keyboard: Up in the empty message box edits one's last message; Enter saves.
    await a1.locator('#input').press('ArrowUp');
    await expect.poll(() => a1.locator('#input').inputValue()).toBe('first draft');
    expect(await a1.locator('#edit-banner').isVisible()).toBe(true);
    await a1.locator('#input').fill('final text');
    await a1.locator('#input').press('Enter');
    await msg(bob, 'final text').locator('.edited', { hasText: '(edited)' }).waitFor();
    expect(await msg(bob, 'first draft').count()).toBe(0);
    expect(await a1.locator('#input').inputValue()).toBe('');
    await dave.next((e) => e.type === 'edited' && e.text === 'final text');

    // Mouse: bob deletes his own message (the first click only arms the button).
    await say(bob, 'oops, wrong room');
    await msg(a1, 'oops, wrong room').waitFor();
    const mine = msg(bob, 'oops, wrong room');
    await mine.hover();
    await mine.locator('[data-action="delete"]').click();
    await mine.locator('[data-action="delete"]', { hasText: 'Delete?' }).click();
    await a1.locator('#log .msg.deleted', { hasText: 'This message was deleted.' }).waitFor();
    expect(await msg(a1, 'oops, wrong room').count()).toBe(0);
    await dave.next((e) => e.type === 'deleted');

    // Keyboard: from the message list, Up picks the newest message, R opens the picker, Enter reacts.
    await say(bob, 'react to me');
    await msg(a1, 'react to me').waitFor();
    await a1.locator('#scroller').focus();
    await a1.keyboard.press('ArrowUp');
    await expect.poll(() => a1.evaluate<string | undefined>('document.activeElement && document.activeElement.textContent')).toContain('react to me');
    await a1.keyboard.press('r');
    await a1.locator('#log .picker .pick').first().waitFor();
    await a1.keyboard.press('ArrowRight');
    await a1.keyboard.press('Enter');
    const chip = (p: Page) => msg(p, 'react to me').locator('.reaction');
    await expect.poll(() => chip(bob).textContent()).toBe('❤️ 1');
    expect(await chip(bob).getAttribute('aria-pressed')).toBe('false');
    expect(await chip(a1).getAttribute('aria-pressed')).toBe('true');
    // Mouse: bob adds his by clicking the chip; each page works out its own from the names.
    await chip(bob).click();
    await expect.poll(() => chip(a1).textContent()).toBe('❤️ 2');
    expect(await chip(bob).getAttribute('aria-pressed')).toBe('true');
    const counts = await dave.next((e) => e.type === 'reactions' && JSON.stringify(e.counts).includes('bob'));
    expect(counts.counts).toEqual({ '❤️': ['alice', 'bob'] });
  }, TIMEOUT);

  it('a topic set in the console shows in the room header of both pages', async () => {
    carol = runConsole(['--port', String(server.tcpPort), '--name', 'carol', '--host', '127.0.0.1']);
    await a1.locator('#members .member-open', { hasText: 'carol' }).waitFor({ timeout: 15_000 });
    carol.type('/topic Release on Friday');
    for (const p of [a1, bob]) await expect.poll(() => p.locator('#conv-topic').textContent(), { timeout: 10_000 }).toBe('Release on Friday');
    await a1.locator('#log .notice', { hasText: 'carol set the topic: Release on Friday' }).waitFor();
  }, TIMEOUT);

  it('unread counts and mentions agree between two sessions of one account after a read', async () => {
    for (const p of [a1, a2]) {
      await say(p, '/join side');
      await expect.poll(() => title(p)).toBe('#side');
    }
    dave.send({ type: 'say', room: 'general', text: 'ping one', id: 'u1' });
    dave.send({ type: 'say', room: 'general', text: '@alice ping two', id: 'u2' });
    for (const p of [a1, a2]) {
      await expect.poll(() => badge(p, 'general').textContent()).toBe('2');
      expect(await badge(p, 'general').getAttribute('class')).toContain('mention');
      // The mention is counted in the tab title (no Notification permission in a test browser).
      await expect.poll(() => p.title()).toBe('(2 · @1) Parley');
    }
    // Reading on the laptop clears it on the phone: the read marker travels through the server.
    await a1.locator('#rooms .conv-open', { hasText: '#general' }).click();
    await msg(a1, 'ping two').waitFor();
    expect(await msg(a1, 'ping two').getAttribute('class')).toContain('mention');
    await expect.poll(() => badge(a2, 'general').count()).toBe(0);
    await expect.poll(() => a2.title()).toBe('Parley');
    // And after a reload the server's marker says the same: only what came after it is unread. (The
    // laptop looks elsewhere meanwhile, or it would read the new message for both.)
    await a1.locator('#rooms .conv-open', { hasText: '#side' }).click();
    await a2.reload();
    await expect.poll(() => a2.locator('#status-text').textContent(), { timeout: 15_000 }).toBe('Connected as alice');
    await a2.locator('#rooms .conv-open', { hasText: '#side' }).click();
    await expect.poll(() => title(a2)).toBe('#side');
    dave.send({ type: 'say', room: 'general', text: 'ping three', id: 'u3' });
    for (const p of [a1, a2]) await expect.poll(() => badge(p, 'general').textContent()).toBe('1');
    await a1.locator('#rooms .conv-open', { hasText: '#general' }).click();
    await expect.poll(() => badge(a2, 'general').count()).toBe(0);
  }, TIMEOUT);

  it('shows who is typing, and away beside names in the member list', async () => {
    await bob.locator('#input').fill('I am typing somet');
    await expect.poll(() => a1.locator('#typing').textContent()).toBe('bob is typing…');
    dave.send({ type: 'typing', room: 'general', id: 't' });
    await expect.poll(() => a1.locator('#typing').textContent()).toBe('bob and dave are typing…');
    await bob.locator('#input').press('Enter');
    await expect.poll(() => a1.locator('#typing').textContent()).toBe('dave is typing…');
    dave.send({ type: 'away', text: 'at lunch', id: 'aw' });
    const row = a1.locator('#members .member-open', { hasText: 'dave' });
    await row.locator('.away-text', { hasText: 'away: at lunch' }).waitFor();
    expect(await row.getAttribute('aria-label')).toContain('away: at lunch');
  }, TIMEOUT);

  it('renders links safely and markup as text, and spells out invisible characters at a line start', async () => {
    dave.send({ type: 'say', room: 'general', text: 'docs at https://example.com/a?b=1. not javascript:alert(1) <b>bold</b>', id: 'l1' });
    dave.send({ type: 'say', room: 'general', text: '\u200Bhidden start', id: 'l2' });
    const m = msg(a1, 'docs at');
    await m.waitFor();
    const links = m.locator('a');
    expect(await links.count()).toBe(1);
    expect(await links.getAttribute('href')).toBe('https://example.com/a?b=1');
    expect(await links.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await links.getAttribute('target')).toBe('_blank');
    expect(await m.locator('.body').textContent()).toBe('docs at https://example.com/a?b=1. not javascript:alert(1) <b>bold</b>');
    expect(await a1.locator('#log b').count()).toBe(0);
    expect(await msg(a1, 'hidden start').locator('.body').textContent()).toBe('<U+200B>hidden start');
  }, TIMEOUT);

  it('searches from the box and with /search, the matched words highlighted', async () => {
    dave.send({ type: 'say', room: 'general', text: 'We deploy on Friday, promise', id: 's1' });
    await msg(a1, 'We deploy on Friday').waitFor();
    await a1.locator('#search-input').fill('friday deploy');
    await a1.locator('#search-input').press('Enter');
    const result = a1.locator('#search-results .result', { hasText: 'We deploy on Friday' });
    await result.waitFor();
    expect(await result.locator('mark').allTextContents()).toEqual(['deploy', 'Friday']);
    expect(await result.locator('.result-where').textContent()).toBe('#general');
    await a1.locator('#search-close').click();
    expect(await a1.locator('#search-panel').isHidden()).toBe(true);
    await say(bob, '/search PROMISE');
    await bob.locator('#search-results .result mark', { hasText: 'promise' }).waitFor();
  }, TIMEOUT);

  it('one time format: the locale by default, 24-hour HH:MM on /clock 24', async () => {
    const time = msg(bob, 'We deploy on Friday').locator('time');
    const iso = await time.getAttribute('datetime');
    const locale = await bob.evaluate<string>(`new Date(${JSON.stringify(iso)}).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })`);
    expect(await time.textContent()).toBe(locale);
    await say(bob, '/clock 24');
    const hhmm = await bob.evaluate<string>(`(() => { const d = new Date(${JSON.stringify(iso)}); return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0'); })()`);
    await expect.poll(() => time.textContent()).toBe(hhmm);
    // /history and the console's aliases are commands here too.
    await say(bob, '/history 5');
    await say(bob, '/wi carol');
    await bob.locator('#log .notice', { hasText: 'carol: guest, online' }).waitFor();
    expect(await bob.locator('#log .notice.error', { hasText: 'Unknown command' }).count()).toBe(0);
  }, TIMEOUT);

  it('on a phone the message box placeholder is never cut, and /quit leaves', async () => {
    const phone = await newPage(340, 700);
    await signIn(phone, 'pat');
    const fits = async (): Promise<{ text: string; width: number; room: number }> =>
      phone.evaluate(`(() => {
        const i = document.getElementById('input');
        const s = getComputedStyle(i);
        const c = document.createElement('canvas').getContext('2d');
        c.font = s.fontStyle + ' ' + s.fontWeight + ' ' + s.fontSize + ' ' + s.fontFamily;
        return { text: i.placeholder, width: c.measureText(i.placeholder).width, room: i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight) };
      })()`);
    let f = await fits();
    expect(f.text).toContain('Message');
    expect(f.width).toBeLessThanOrEqual(f.room);
    await say(phone, '/join averyveryverylongroomname1234');
    await expect.poll(() => title(phone)).toBe('#averyveryverylongroomname1234');
    f = await fits();
    expect(f.width).toBeLessThanOrEqual(f.room);
    await say(phone, '/quit');
    await expect.poll(() => phone.locator('#status-text').textContent()).toContain('Disconnected: you quit');
    await dave.next((e) => e.type === 'left' && e.name === 'pat' && e.reason === undefined);
  }, TIMEOUT);
});
