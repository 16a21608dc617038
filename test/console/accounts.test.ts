// The console client and accounts, piped (as scripts run it): logging in with --password-file and
// PARLEY_PASSWORD, the saved token (0600 in a 0700 directory, used next time without a password,
// deleted when refused), /register, /logout, rate limits, and an impostor who knows the name but not
// the password. The real server and real client processes; what the server thinks is checked over
// raw TCP.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenPath } from '../../console-client/token-store.js';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, connectTcp, helloTcp, type Event, type TcpClient } from '../helpers/tcp-client.js';

let server: RunningServer;
const running: ConsoleProc[] = [];
const tcps: TcpClient[] = [];

/** A fresh config dir per client run, unless a test wants two runs to share one. */
function client(name: string, opts: { env?: NodeJS.ProcessEnv; args?: string[]; port?: number } = {}): ConsoleProc {
  const c = runConsole(['--host', '127.0.0.1', '--port', String(opts.port ?? server.tcpPort), '--name', name, ...(opts.args ?? [])], {
    env: { PARLEY_PASSWORD: '', ...opts.env },
  });
  running.push(c);
  return c;
}

/** What the server answers a hello with these credentials (a fresh connection each time). */
async function tryHello(name: string, cred: { token?: string; password?: string }, port = server.tcpPort): Promise<Event> {
  const c = await connectTcp(port);
  c.send({ type: 'hello', name, ...cred, id: 'h' });
  const reply = await c.next((e) => e.re === 'h', 10_000);
  c.close();
  return reply;
}

/** Resolves once the server lists `name` as offline (asked over `asker`, a welcomed connection). */
async function offline(asker: TcpClient, name: string): Promise<void> {
  for (let i = 0; ; i++) {
    asker.send({ type: 'who', id: `who${i}` });
    const users = await asker.next((e) => e.re === `who${i}`);
    const u = (users.users as { name: string; online: boolean }[]).find((x) => x.name === name);
    if (u && !u.online) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** Every file under dir, recursively, with its content. */
function filesUnder(dir: string): [string, string][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => [f, readFileSync(f, 'utf8')]);
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const c of running) c.proc.kill('SIGKILL');
  for (const t of tcps) t.close();
  await server.stop();
});

describe('console client: logging into an account', () => {
  it('--password-file logs in and saves a 0600 token, never the password; the next run logs in with the token alone', async () => {
    (await accountTcp(server.tcpPort, 'carol', 'carol-password-1')).close();
    const cfg = tempDir('parley-cfg-');
    const pwFile = join(tempDir('parley-pw-'), 'pw');
    writeFileSync(pwFile, 'carol-password-1\nsecond line is not the password\n');
    const guest = await helloTcp(server.tcpPort, 'gus');
    tcps.push(guest);
    guest.send({ type: 'join', room: 'general', id: 'j' });
    await guest.next((e) => e.type === 'members');

    const first = client('carol', { args: ['--password-file', pwFile], env: { XDG_CONFIG_HOME: cfg } });
    await first.waitFor(/-- connected to 127\.0\.0\.1:\d+ as carol \(account, /);
    // The account is unmarked, the guest beside it marked.
    await first.waitFor(/-- #general: (gus~, carol|carol, gus~)$/m);
    guest.send({ type: 'say', room: 'general', text: 'hi from a guest', id: 's' });
    await first.waitFor(/<gus~> hi from a guest$/m);
    first.type('carol here');
    expect(await first.end()).toBe(0);

    const dir = join(cfg, 'parley');
    const path = tokenPath('127.0.0.1', server.tcpPort, 'carol', { XDG_CONFIG_HOME: cfg });
    expect(readdirSync(dir)).toEqual([path.slice(dir.length + 1)]);
    expect(path).toContain(`-${server.tcpPort}-carol`);
    expect(mode(dir)).toBe(0o700);
    expect(mode(path)).toBe(0o600);
    const token = readFileSync(path, 'utf8').trim();
    expect(token.length).toBeGreaterThan(20);
    // It is a real token of carol's, and nothing on disk holds the password.
    expect(await tryHello('carol', { token })).toMatchObject({ type: 'welcome', account: true });
    for (const [f, text] of filesUnder(cfg)) expect(text, f).not.toContain('carol-password-1');

    // No password anywhere this time: only the token can log in.
    const second = client('carol', { env: { XDG_CONFIG_HOME: cfg } });
    await second.waitFor(/-- connected to 127\.0\.0\.1:\d+ as carol \(account, /);
    second.type('logged in by token');
    expect(await second.end()).toBe(0);
    expect(second.err()).toBe('');
    expect(readFileSync(path, 'utf8').trim()).toBe(token);
  }, 60_000);

  it('PARLEY_PASSWORD logs in; a refused saved token is deleted and the password used instead', async () => {
    (await accountTcp(server.tcpPort, 'dave', 'dave-password-1')).close();
    const cfg = tempDir('parley-cfg-');
    const path = tokenPath('127.0.0.1', server.tcpPort, 'dave', { XDG_CONFIG_HOME: cfg });

    const first = client('dave', { env: { XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: 'dave-password-1' } });
    await first.waitFor(/-- connected to .* as dave \(account, /);
    expect(await first.end()).toBe(0);
    const token = readFileSync(path, 'utf8').trim();
    expect(mode(path)).toBe(0o600);

    // Every token of dave's is revoked elsewhere (another device says /logout all).
    const other = await accountTcp(server.tcpPort, 'dave', 'dave-password-1');
    other.send({ type: 'logout', all: true, id: 'out' });
    await other.next((e) => e.re === 'out' && e.type === 'ack');
    other.close();
    expect(await tryHello('dave', { token })).toMatchObject({ type: 'error', code: 'bad_credentials' });

    const second = client('dave', { env: { XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: 'dave-password-1' } });
    await second.waitFor(/saved login for dave .* refused .* deleted/);
    await second.waitFor(/-- connected to .* as dave \(account, /);
    expect(await second.end()).toBe(0);
    const fresh = readFileSync(path, 'utf8').trim();
    expect(fresh).not.toBe(token);
    expect(await tryHello('dave', { token: fresh })).toMatchObject({ type: 'welcome', account: true });

    // Refused with no password to fall back on: the stale file is gone and the client says why it stops.
    writeFileSync(path, 'x'.repeat(43) + '\n', { mode: 0o600 });
    const third = client('dave', { env: { XDG_CONFIG_HOME: cfg } });
    expect(await third.exited).toBe(1);
    expect(third.err()).toMatch(/dave is a registered account .*--password-file FILE or PARLEY_PASSWORD/);
    expect(existsSync(path)).toBe(false);
  }, 60_000);

  it('an impostor who has the name but not the password gets nothing of the account, not even its queued DMs', async () => {
    (await accountTcp(server.tcpPort, 'alice', 'alice-password-1')).close();
    const bob = await accountTcp(server.tcpPort, 'bob', 'bob-password-1');
    tcps.push(bob);
    await offline(bob, 'alice');
    // alice is offline: this waits in her inbox for her next login.
    bob.send({ type: 'dm', to: 'alice', text: 'for alice only', id: 'dm' });
    await bob.next((e) => e.re === 'dm' && e.type === 'ack');

    const cfg = tempDir('parley-cfg-');
    const noPassword = client('alice', { env: { XDG_CONFIG_HOME: cfg } });
    expect(await noPassword.exited).toBe(1);
    expect(noPassword.err()).toMatch(/alice is a registered account/);
    const wrong = client('alice', { env: { XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: 'guess-guess' } });
    expect(await wrong.exited).toBe(1);
    expect(wrong.err()).toMatch(/password from PARLEY_PASSWORD was refused for alice/);
    const lookalike = client('aIice', { env: { XDG_CONFIG_HOME: cfg } });
    expect(await lookalike.exited).toBe(1);
    expect(lookalike.err()).toMatch(/name_taken: aIice looks too much like alice/);
    for (const c of [noPassword, wrong, lookalike]) {
      expect(c.out()).not.toContain('for alice only');
      expect(c.out()).not.toMatch(/connected to/);
    }
    expect(filesUnder(cfg)).toEqual([]);
    // The real alice still gets it.
    const real = client('alice', { env: { XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: 'alice-password-1' } });
    await real.waitFor(/\*bob\* for alice only$/m);
    expect(await real.end()).toBe(0);
  }, 60_000);
});

describe('console client: /register and /logout', () => {
  it('/register makes a guest an account with the password from PARLEY_PASSWORD and keeps its token', async () => {
    const cfg = tempDir('parley-cfg-');
    const c = client('erin', { env: { XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: 'erin-password-1' } });
    await c.waitFor(/as erin~ \(guest, /);
    c.type('/register');
    c.type('said as an account');
    expect(await c.end()).toBe(0);
    expect(c.out()).toMatch(/erin is now a registered account/);
    const path = tokenPath('127.0.0.1', server.tcpPort, 'erin', { XDG_CONFIG_HOME: cfg });
    expect(mode(path)).toBe(0o600);
    expect(await tryHello('erin', {})).toMatchObject({ type: 'error', code: 'auth_required' });
    expect(await tryHello('erin', { password: 'erin-password-1' })).toMatchObject({ type: 'welcome', account: true });
    expect(await tryHello('erin', { token: readFileSync(path, 'utf8').trim() })).toMatchObject({ type: 'welcome', account: true });
    for (const [f, text] of filesUnder(cfg)) expect(text, f).not.toContain('erin-password-1');
  }, 60_000);

  it('/register with a password outside the rules shows the rule and registers nothing', async () => {
    const cfg = tempDir('parley-cfg-');
    const c = client('fay', { env: { XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: 'short' } });
    await c.waitFor(/as fay~ \(guest, /);
    c.type('/register');
    expect(await c.end()).toBe(1);
    expect(c.out()).toMatch(/!! bad_password: .*8/);
    expect(await tryHello('fay', {})).toMatchObject({ type: 'welcome', account: false });
    expect(filesUnder(cfg)).toEqual([]);
  }, 60_000);

  it('/logout revokes and deletes the token: it is refused afterwards; /logout all ends every device', async () => {
    (await accountTcp(server.tcpPort, 'gail', 'gail-password-1')).close();
    const cfg = tempDir('parley-cfg-');
    const path = tokenPath('127.0.0.1', server.tcpPort, 'gail', { XDG_CONFIG_HOME: cfg });
    const c = client('gail', { env: { XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: 'gail-password-1' } });
    await c.waitFor(/as gail \(account, /);
    const token = readFileSync(path, 'utf8').trim();
    c.type('/logout');
    expect(await c.exited).toBe(0);
    expect(c.out()).toMatch(/logged out: this device's login has been revoked and deleted/);
    expect(existsSync(path)).toBe(false);
    expect(await tryHello('gail', { token })).toMatchObject({ type: 'error', code: 'bad_credentials' });

    // Another device's token, then /logout all from the console.
    const phone = await tryHello('gail', { password: 'gail-password-1' });
    const phoneToken = String(phone.token);
    const d = client('gail', { env: { XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: 'gail-password-1' } });
    await d.waitFor(/as gail \(account, /);
    const consoleToken = readFileSync(path, 'utf8').trim();
    d.type('/logout all');
    expect(await d.exited).toBe(0);
    expect(d.out()).toMatch(/logged out everywhere/);
    expect(existsSync(path)).toBe(false);
    expect(await tryHello('gail', { token: consoleToken })).toMatchObject({ type: 'error', code: 'bad_credentials' });
    expect(await tryHello('gail', { token: phoneToken })).toMatchObject({ type: 'error', code: 'bad_credentials' });
  }, 60_000);
});

describe('console client: rate limits', () => {
  it('shows rate_limited with the wait the server gave', async () => {
    // A server of its own: the failures below count against the whole address.
    const s = await startServer();
    try {
      (await accountTcp(s.tcpPort, 'hana', 'hana-password-1')).close();
      for (let i = 0; i < 10; i++) expect(await tryHello('hana', { password: `wrong-${i}` }, s.tcpPort)).toMatchObject({ code: 'bad_credentials' });
      const c = client('hana', { port: s.tcpPort, env: { XDG_CONFIG_HOME: tempDir('parley-cfg-'), PARLEY_PASSWORD: 'hana-password-1' } });
      expect(await c.exited).toBe(1);
      expect(c.err()).toMatch(/rate_limited: .*\(try again in (\d+(\.\d)? s|1 min( \d+ s)?)\)/);
    } finally {
      await s.stop();
    }
  }, 60_000);
});
