// Accounts in the web client, in headless Chromium against the real server: registering, staying
// signed in across a reload by the token alone (and never keeping the password), signing out, a
// refused token, an impostor who knows the name but not the password, one account on a console and a
// browser at once, and guests marked apart. What the server thinks is checked over raw TCP.
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, browserAndServer, chromiumMissing, keepScreenshot, pagePool, type PageOptions, type PagePool, type TestBrowser } from '../helpers/browser.js';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { skipUnless } from '../helpers/require.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, connectTcp, helloTcp, type Event, type TcpClient } from '../helpers/tcp-client.js';
import { tapWebSocket } from './ws-tap.js';

const skip = skipUnless(chromiumMissing(), 'web client account tests (test/web)');
const TIMEOUT = 60_000;

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

function reportErrors(page: Page): void {
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('ERR_CONNECTION_REFUSED')) process.stderr.write(`[page console] ${m.text()}\n`);
  });
}

const status = (page: Page) => page.locator('#status-text').textContent();
const formError = (page: Page) => page.locator('#name-error').textContent();
const msg = (page: Page, text: string) => page.locator('#log .msg', { hasText: text });

async function connected(page: Page, name: string): Promise<void> {
  await expect.poll(() => status(page), { timeout: 15_000 }).toBe(`Connected as ${name}`);
}

/** The join card in `mode`, filled in and sent. */
async function enter(page: Page, mode: 'guest' | 'signin' | 'register', name: string, password = '', again = password): Promise<void> {
  await page.locator(`#mode-${mode}`).click();
  await page.locator('#name-input').fill(name);
  if (mode !== 'guest') await page.locator('#password-input').fill(password);
  if (mode === 'register') await page.locator('#password2-input').fill(again);
  await page.locator('#name-submit').click();
}

/** Everything the page keeps in local and session storage, as one string. */
function storage(page: Page): Promise<string> {
  return page.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })');
}

async function tryHello(name: string, cred: { token?: string; password?: string }, port = server.tcpPort): Promise<Event> {
  const c = await connectTcp(port);
  c.send({ type: 'hello', name, ...cred, id: 'h' });
  const reply = await c.next((e) => e.re === 'h', 10_000);
  c.close();
  return reply;
}

/** Resolves once the server lists `name` as offline. */
async function offline(asker: TcpClient, name: string): Promise<void> {
  for (let i = 0; ; i++) {
    asker.send({ type: 'who', id: `who${i}` });
    const users = await asker.next((e) => e.re === `who${i}`);
    const u = (users.users as { name: string; online: boolean }[]).find((x) => x.name === name);
    if (u && !u.online) return;
    await new Promise((r) => setTimeout(r, 20));
  }
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

describe.skipIf(skip)('web client: accounts', () => {
  it('registers, stays signed in across a reload by its token (never storing the password), and signs out', async () => {
    const page = await newPage({ own: true });
    const tap = await tapWebSocket(page);
    await page.goto(base());
    await enter(page, 'register', 'rita', 'rita-password-1');
    await connected(page, 'rita');
    await expect.poll(() => page.locator('#account-kind').textContent()).toBe('account');
    expect(await page.locator('#signout').isVisible()).toBe(true);
    // Registered before the chat started: the room saw an account join, never a guest.
    // `joined` follows the history, which may still be on its way when the status says connected.
    const joinedOf = () => tap.received.filter((e) => e.type === 'joined' && e.name === 'rita');
    await expect.poll(() => joinedOf().length).toBe(1);
    const joined = joinedOf();
    expect(joined[0]).not.toHaveProperty('guest');
    expect(await tryHello('rita', {})).toMatchObject({ type: 'error', code: 'auth_required' });

    const kept = await storage(page);
    expect(kept).not.toContain('rita-password-1');
    const token = JSON.parse((await page.evaluate<string | null>("localStorage.getItem('parley.account')")) ?? 'null') as { name: string; token: string };
    expect(token.name).toBe('rita');
    expect(await tryHello('rita', { token: token.token })).toMatchObject({ type: 'welcome', account: true });

    await page.reload();
    await connected(page, 'rita');
    expect(await page.locator('#name-screen').isHidden()).toBe(true);
    const hellos = tap.sent.filter((r) => r.type === 'hello');
    expect(hellos.at(-1)).toMatchObject({ name: 'rita', token: token.token });
    expect(hellos.at(-1)).not.toHaveProperty('password');
    // The register carried the password once; no hello ever did.
    expect(hellos.filter((h) => 'password' in h)).toEqual([]);
    expect(await storage(page)).not.toContain('rita-password-1');

    await page.locator('#signout').click();
    await page.locator('#name-screen').waitFor();
    await expect.poll(() => formError(page)).toBe('You have signed out.');
    expect(await page.locator('#mode-signin').getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('#name-input').inputValue()).toBe('rita');
    expect(tap.sent.some((r) => r.type === 'logout')).toBe(true);
    expect(await page.evaluate<string | null>("localStorage.getItem('parley.account')")).toBeNull();
    // The page may show the sign-in form before the server has stored the revocation.
    await expect.poll(async () => (await tryHello('rita', { token: token.token })).code, { timeout: 10_000 }).toBe('bad_credentials');
    // And signing in again works with the password.
    await enter(page, 'signin', 'rita', 'rita-password-1');
    await connected(page, 'rita');
  }, TIMEOUT);

  it('a guest registers the name they are chatting under without leaving the chat', async () => {
    const page = await newPage();
    await page.goto(base());
    await enter(page, 'guest', 'nina');
    await connected(page, 'nina');
    await page.locator('#input').fill('said as a guest');
    await page.locator('#input').press('Enter');
    await msg(page, 'said as a guest').locator('.guest-badge').waitFor();
    expect(await page.locator('#account-kind').textContent()).toBe('guest');
    await page.locator('#account-switch').click();
    expect(await page.locator('#mode-register').getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('#name-input').inputValue()).toBe('nina');
    await page.locator('#password-input').fill('nina-password-1');
    await page.locator('#password2-input').fill('nina-password-1');
    await page.locator('#password2-input').press('Enter');
    await page.locator('#name-screen').waitFor({ state: 'hidden' });
    await page.locator('#log .notice', { hasText: 'nina is now a registered account' }).waitFor();
    expect(await page.locator('#account-kind').textContent()).toBe('account');
    expect(await page.locator('#signout').isVisible()).toBe(true);
    expect(await tryHello('nina', {})).toMatchObject({ type: 'error', code: 'auth_required' });
    expect(await storage(page)).not.toContain('nina-password-1');
    // Still the same chat, and now as an account.
    await page.locator('#input').fill('said as an account');
    await page.locator('#input').press('Enter');
    await msg(page, 'said as an account').waitFor();
    expect(await msg(page, 'said as an account').locator('.guest-badge').count()).toBe(0);
    expect(await msg(page, 'said as a guest').count()).toBe(1);
  }, TIMEOUT);

  it('a guest signs in to another name from the chat: a clean start as the account, the guest\'s DMs gone from the list', async () => {
    (await accountTcp(server.tcpPort, 'otto', 'otto-password-1')).close();
    const pal = await helloTcp(server.tcpPort, 'pal');
    tcps.push(pal);
    const page = await newPage();
    await page.goto(base());
    await enter(page, 'guest', 'oscar');
    await connected(page, 'oscar');
    pal.send({ type: 'dm', to: 'oscar', text: 'hi guest oscar', id: 'd' });
    await page.locator('#dms .conv-open', { hasText: '@pal' }).waitFor();
    await page.locator('#account-switch').click();
    await enter(page, 'signin', 'otto', 'otto-password-1');
    await connected(page, 'otto');
    expect(await page.locator('#account-kind').textContent()).toBe('account');
    expect(await page.locator('#name-screen').isHidden()).toBe(true);
    expect(await page.locator('#dms .conv-open').count()).toBe(0);
    await page.locator('#rooms .conv-open', { hasText: '#general' }).click();
    await expect.poll(() => page.locator('#members .member-name').allTextContents()).toContain('otto (you)');
    expect(await page.locator('#members .member-name').allTextContents()).not.toContain('oscar (you)');
  }, TIMEOUT);

  it('a token the server refuses brings back the sign-in form, and the password signs in again', async () => {
    (await accountTcp(server.tcpPort, 'sue', 'sue-password-1')).close();
    const page = await newPage();
    await page.goto(base());
    await enter(page, 'signin', 'sue', 'sue-password-1');
    await connected(page, 'sue');
    // Another device ends every sign-in of sue's.
    const other = await accountTcp(server.tcpPort, 'sue', 'sue-password-1');
    other.send({ type: 'logout', all: true, id: 'out' });
    await other.next((e) => e.re === 'out' && e.type === 'ack');
    other.close();

    await page.reload();
    await page.locator('#name-screen').waitFor();
    await expect.poll(() => formError(page)).toMatch(/sign-in for sue has expired or was revoked/);
    expect(await page.locator('#mode-signin').getAttribute('aria-pressed')).toBe('true');
    expect(await page.evaluate<string | null>("localStorage.getItem('parley.account')")).toBeNull();
    await expect.poll(() => page.evaluate<string | undefined>('document.activeElement && document.activeElement.id')).toBe('password-input');
    await page.locator('#password-input').fill('sue-password-1');
    await page.locator('#password-input').press('Enter');
    await connected(page, 'sue');
  }, TIMEOUT);

  it('an impostor who types a registered name gets the sign-in demand, never the account or its DMs', async () => {
    (await accountTcp(server.tcpPort, 'alice', 'alice-password-1')).close();
    const bob = await accountTcp(server.tcpPort, 'bob', 'bob-password-1');
    tcps.push(bob);
    await offline(bob, 'alice');
    bob.send({ type: 'dm', to: 'alice', text: 'for alice only', id: 'dm1' });
    await bob.next((e) => e.re === 'dm1' && e.type === 'ack');

    const page = await newPage({ own: true });
    const tap = await tapWebSocket(page);
    await page.goto(base());
    await enter(page, 'guest', 'alice');
    await expect.poll(() => formError(page)).toBe('alice is a registered account. Enter its password to sign in.');
    expect(await page.locator('#mode-signin').getAttribute('aria-pressed')).toBe('true');
    await enter(page, 'signin', 'alice', 'a-good-guess');
    await expect.poll(() => formError(page)).toBe('Wrong name or password.');
    await enter(page, 'register', 'alice', 'mine-now-please');
    await expect.poll(() => formError(page)).toBe('alice is already registered. Sign in with its password, or choose another name.');
    bob.send({ type: 'dm', to: 'alice', text: 'also for alice', id: 'dm2' });
    await bob.next((e) => e.re === 'dm2' && e.type === 'ack');
    // A look-alike is no way in either.
    await enter(page, 'guest', 'aIice');
    await expect.poll(() => formError(page)).toMatch(/aIice looks too much like alice/);

    expect(await page.locator('#name-screen').isVisible()).toBe(true);
    expect(await page.evaluate<boolean>("document.getElementById('app').inert")).toBe(true);
    expect(tap.received.filter((e) => e.type === 'welcome' || e.type === 'message' || e.type === 'history')).toEqual([]);
    expect(await page.content()).not.toContain('for alice');
    expect(await storage(page)).not.toMatch(/token/);
    await keepScreenshot(page, 'impostor.png');

    // The owner gets both, which shows they were there to be had.
    const owner = await newPage();
    await owner.goto(base());
    await enter(owner, 'signin', 'alice', 'alice-password-1');
    await connected(owner, 'alice');
    await owner.locator('#dms .conv-open', { hasText: '@bob' }).click({ timeout: 15_000 });
    await msg(owner, 'for alice only').waitFor();
    await msg(owner, 'also for alice').waitFor();
  }, TIMEOUT);

  it('a registered user chats from a console and a browser at once: both get the account\'s DMs, and one\'s DMs show in the other', async () => {
    (await accountTcp(server.tcpPort, 'tom', 'tom-password-1')).close();
    const ursula = await accountTcp(server.tcpPort, 'ursula');
    tcps.push(ursula);
    const page = await newPage();
    await page.goto(base());
    await enter(page, 'signin', 'tom', 'tom-password-1');
    await connected(page, 'tom');
    const term = runConsole(['--host', '127.0.0.1', '--port', String(server.tcpPort), '--name', 'tom'], {
      env: { PARLEY_PASSWORD: 'tom-password-1', XDG_CONFIG_HOME: tempDir('parley-cfg-') },
    });
    consoles.push(term);
    await term.waitFor(/connected to .* as tom \(account, /);

    ursula.send({ type: 'dm', to: 'tom', text: 'to both of you', id: 1 });
    await term.waitFor(/\*ursula\* to both of you$/m);
    await page.locator('#dms .conv-open', { hasText: '@ursula' }).click({ timeout: 15_000 });
    await msg(page, 'to both of you').waitFor();

    term.type('/msg ursula sent from the terminal');
    await ursula.next((e) => e.type === 'message' && e.text === 'sent from the terminal');
    await msg(page, 'sent from the terminal').waitFor();
    expect(await msg(page, 'sent from the terminal').getAttribute('class')).toContain('own');

    await page.locator('#input').fill('sent from the browser');
    await page.locator('#input').press('Enter');
    await term.waitFor(/-> \*ursula\* sent from the browser$/m);
    expect(await page.locator('#log .msg .body').allTextContents()).toEqual(['to both of you', 'sent from the terminal', 'sent from the browser']);
    // One user in the room, however many sessions.
    await page.locator('#rooms .conv-open', { hasText: '#general' }).click();
    await expect.poll(() => page.locator('#members .member-name').allTextContents()).toContain('tom (you)');
    expect((await page.locator('#members .member-name').allTextContents()).filter((n) => /^tom\b/.test(n))).toEqual(['tom (you)']);
    expect(await term.end()).toBe(0);
  }, TIMEOUT);

  it('marks guests apart in the member list and in messages', async () => {
    (await accountTcp(server.tcpPort, 'vera', 'vera-password-1')).close();
    const page = await newPage();
    await page.goto(base());
    await enter(page, 'signin', 'vera', 'vera-password-1');
    await connected(page, 'vera');
    await page.locator('#join-input').fill('mixed');
    await page.locator('#join-input').press('Enter');
    await expect.poll(() => page.locator('#conv-title').textContent()).toBe('#mixed');
    const walt = await helloTcp(server.tcpPort, 'walt');
    const xena = await accountTcp(server.tcpPort, 'xena');
    tcps.push(walt, xena);
    for (const c of [walt, xena]) {
      c.send({ type: 'join', room: 'mixed', id: 'j' });
      await c.next((e) => e.re === 'j');
    }
    walt.send({ type: 'say', room: 'mixed', text: 'a guest speaks', id: 's' });
    xena.send({ type: 'say', room: 'mixed', text: 'an account speaks', id: 's' });
    await msg(page, 'a guest speaks').waitFor();
    await msg(page, 'an account speaks').waitFor();

    const row = (name: string) => page.locator('#members .member-open', { has: page.locator('.member-name', { hasText: new RegExp(`^${name}( \\(you\\))?$`) }) });
    await expect.poll(() => row('walt').locator('.guest-badge').count()).toBe(1);
    expect(await row('xena').locator('.guest-badge').count()).toBe(0);
    expect(await row('vera').locator('.guest-badge').count()).toBe(0);
    expect(await row('walt').getAttribute('aria-label')).toBe('Message walt, guest, online');
    expect(await row('xena').getAttribute('aria-label')).toBe('Message xena, online');
    expect(await msg(page, 'a guest speaks').locator('.from .guest-badge').textContent()).toBe('guest');
    expect(await msg(page, 'an account speaks').locator('.guest-badge').count()).toBe(0);
    // The badge is styled by the stylesheet (no inline style): it is drawn, with a border.
    const border = await page.evaluate<string>("getComputedStyle(document.querySelector('#log .msg.guest .guest-badge')).borderTopStyle");
    expect(border).toBe('dashed');
    await keepScreenshot(page, 'guests-marked.png');
  }, TIMEOUT);
});

describe.skipIf(skip)('web client: the join card', () => {
  it('labelled fields with the right autocomplete per mode, a register that shows the password rule, at phone width', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await page.goto(base());
    const label = (id: string) => page.locator(`label[for="${id}"]`).textContent();
    const auto = (id: string) => page.locator(`#${id}`).getAttribute('autocomplete');
    expect(await page.locator('#name-error').getAttribute('aria-live')).toBe('assertive');

    expect(await page.locator('#password-input').isVisible()).toBe(false);
    await page.locator('#mode-signin').click();
    expect([await auto('name-input'), await auto('password-input')]).toEqual(['username', 'current-password']);
    expect(await label('password-input')).toBe('Password');
    expect(await page.locator('#password-input').getAttribute('type')).toBe('password');
    expect(await page.locator('#password2-input').isVisible()).toBe(false);

    await page.locator('#mode-register').click();
    expect([await auto('name-input'), await auto('password-input'), await auto('password2-input')]).toEqual(['username', 'new-password', 'new-password']);
    expect(await label('password2-input')).toBeTruthy();
    expect(await label('name-input')).toBeTruthy();
    expect(await page.locator('#name-submit').textContent()).toBe('Create account');

    // Two different passwords: said at once, nothing sent.
    await enter(page, 'register', 'yan', 'one-password', 'another-one');
    await expect.poll(() => formError(page)).toBe('The two passwords are not the same.');
    // Too short: the server's rule is shown, and the name stays free.
    await enter(page, 'register', 'yan', 'short');
    await expect.poll(() => formError(page), { timeout: 15_000 }).toMatch(/8/);
    expect(await page.locator('#mode-register').getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('#name-screen').isVisible()).toBe(true);
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await keepScreenshot(page, 'register-phone.png');
    await enter(page, 'register', 'yan', 'long-enough-now');
    await connected(page, 'yan');
    expect(await tryHello('yan', {})).toMatchObject({ type: 'error', code: 'auth_required' });
    // Sign out lives in the drawer on a phone.
    await page.locator('#menu-toggle').click();
    expect(await page.locator('#signout').isVisible()).toBe(true);
    await keepScreenshot(page, 'account-phone.png');
  }, TIMEOUT);

  it('too many failed sign-ins: the wait is shown', async () => {
    const s = await startServer();
    try {
      (await accountTcp(s.tcpPort, 'zoe', 'zoe-password-1')).close();
      // At once: the server hashes two at a time, and counts a failure once its hash is done.
      const refusals = await Promise.all(Array.from({ length: 10 }, (_, i) => tryHello('zoe', { password: `nope-${i}` }, s.tcpPort)));
      for (const r of refusals) expect(r).toMatchObject({ code: 'bad_credentials' });
      const page = await newPage();
      await page.goto(base(s));
      await enter(page, 'signin', 'zoe', 'zoe-password-1');
      await expect.poll(() => formError(page), { timeout: 15_000 }).toMatch(/^Too many failed sign-ins\. Try again in \d+ s\.$/);
    } finally {
      await s.stop();
    }
  }, TIMEOUT);
});
