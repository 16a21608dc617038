// Passwords on a real terminal: tmux gives the console client a pty, types the keys, and shows the
// screen, scrollback included, so "the password never appears" is checked as a person would see it.
// What the server made of it is checked over raw TCP.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenPath } from '../../console-client/token-store.js';
import { skipUnless } from '../helpers/require.js';
import { CONSOLE_JS, startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, connectTcp, type Event, type TcpClient } from '../helpers/tcp-client.js';

function tmuxMissing(): string | undefined {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'tmux is not installed (apt-get install tmux)';
  }
}
const skip = skipUnless(tmuxMissing(), 'the terminal (pty) account tests of the console client');
const socket = `parley-tty-acct-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
/** The whole pane, scrollback included, wrapped lines joined. */
const screen = (session: string): string => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session);
const keys = (session: string, text: string): void => {
  tmux('send-keys', '-t', session, '-l', text);
  tmux('send-keys', '-t', session, 'Enter');
};

async function waitScreen(session: string, re: RegExp, timeoutMs = 10_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = screen(session);
    if (re.test(s)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${re} not on screen within ${timeoutMs} ms:\n${s}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let server: RunningServer;
const tcps: TcpClient[] = [];

/** Runs the client in a new tmux session; the shell reports its exit code on screen. */
function start(session: string, name: string, cfg: string, env: Record<string, string> = {}): void {
  const cmd = `${process.execPath} ${CONSOLE_JS} --host 127.0.0.1 --port ${server.tcpPort} --name ${name}; echo "EXIT=$?"; sleep 120`;
  const envArgs = Object.entries({ NO_COLOR: '1', XDG_CONFIG_HOME: cfg, PARLEY_PASSWORD: '', ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', ...envArgs, 'sh', '-c', cmd);
}

async function tryHello(name: string, cred: { token?: string; password?: string }): Promise<Event> {
  const c = await connectTcp(server.tcpPort);
  c.send({ type: 'hello', name, ...cred, id: 'h' });
  const reply = await c.next((e) => e.re === 'h', 10_000);
  c.close();
  return reply;
}

beforeAll(async () => {
  if (skip) return;
  server = await startServer();
});
afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  for (const t of tcps) t.close();
  await server?.stop();
});

describe.skipIf(skip)('console client: passwords on a terminal', () => {
  it('a refused saved token is deleted and the password asked for; nothing typed at the prompt is echoed', async () => {
    (await accountTcp(server.tcpPort, 'ivan', 'ivan-secret-pw')).close();
    const cfg = tempDir('parley-cfg-');
    const path = tokenPath('127.0.0.1', server.tcpPort, 'ivan', { XDG_CONFIG_HOME: cfg });
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, 'y'.repeat(43) + '\n', { mode: 0o600 });

    start('ivan', 'ivan', cfg);
    await waitScreen('ivan', /saved login for ivan .* refused .* deleted/);
    await waitScreen('ivan', /^Password for ivan:\s*$/m);
    expect(existsSync(path)).toBe(false);
    keys('ivan', 'wrong-guess-1');
    await waitScreen('ivan', /wrong password for ivan\n.*Password for ivan:\s*$/);
    keys('ivan', 'ivan-secret-pw');
    const s = await waitScreen('ivan', /-- connected to 127\.0\.0\.1:\d+ as ivan \(account, /);
    // Not the password, not part of it, not a mask: the prompt lines end where the prompt does.
    expect(s).not.toMatch(/ivan-s|secret|wrong-guess|\*\*\*/);
    for (const line of s.split('\n').filter((l) => l.includes('Password for ivan'))) expect(line.trimEnd()).toBe('Password for ivan:');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await tryHello('ivan', { token: readFileSync(path, 'utf8').trim() })).toMatchObject({ type: 'welcome', account: true });
    // The chat works after the prompt: the line editor is back.
    const watcher = await accountTcp(server.tcpPort, 'watch1');
    tcps.push(watcher);
    watcher.send({ type: 'join', room: 'general', id: 'j' });
    await watcher.next((e) => e.type === 'members');
    keys('ivan', 'typed after logging in');
    await watcher.next((e) => e.type === 'message' && e.text === 'typed after logging in' && e.from === 'ivan');
    keys('ivan', '/quit');
    await waitScreen('ivan', /EXIT=0/);
  }, 60_000);

  it('Ctrl-C at the password prompt aborts the client', async () => {
    (await accountTcp(server.tcpPort, 'jack', 'jack-secret-pw')).close();
    start('jack', 'jack', tempDir('parley-cfg-'));
    await waitScreen('jack', /^Password for jack:\s*$/m);
    tmux('send-keys', '-t', 'jack', '-l', 'half');
    tmux('send-keys', '-t', 'jack', 'C-c');
    const s = await waitScreen('jack', /EXIT=130/);
    expect(s).not.toMatch(/connected to|half/);
  }, 60_000);

  it('/register asks twice without echo, refuses two different passwords, then makes the name an account', async () => {
    const cfg = tempDir('parley-cfg-');
    start('jill', 'jill', cfg);
    await waitScreen('jill', /as jill~ \(guest, /);
    keys('jill', '/register');
    await waitScreen('jill', /^New password for jill:\s*$/m);
    keys('jill', 'jill-secret-one');
    await waitScreen('jill', /^The same again:\s*$/m);
    keys('jill', 'jill-secret-two');
    await waitScreen('jill', /the two passwords differ; nothing was changed/);
    keys('jill', '/register');
    await waitScreen('jill', /New password for jill:(.|\n)*New password for jill:\s*$/);
    keys('jill', 'jill-secret-one');
    await waitScreen('jill', /The same again:(.|\n)*The same again:\s*$/);
    keys('jill', 'jill-secret-one');
    const s = await waitScreen('jill', /jill is now a registered account/);
    expect(s).not.toMatch(/jill-s|secret/);
    expect(await tryHello('jill', { password: 'jill-secret-one' })).toMatchObject({ type: 'welcome', account: true });
    const path = tokenPath('127.0.0.1', server.tcpPort, 'jill', { XDG_CONFIG_HOME: cfg });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).not.toContain('jill-secret');
    keys('jill', '/quit');
    await waitScreen('jill', /EXIT=0/);
    // Only its password or token opens the name now.
    expect(await tryHello('jill', {})).toMatchObject({ type: 'error', code: 'auth_required' });
  }, 60_000);

  it('/password changes it: other devices\' tokens and the old password are refused, this device stays logged in', async () => {
    (await accountTcp(server.tcpPort, 'kate', 'kate-old-pw-1')).close();
    const phone = await tryHello('kate', { password: 'kate-old-pw-1' });
    expect(phone).toMatchObject({ type: 'welcome', account: true });
    const cfg = tempDir('parley-cfg-');
    start('kate', 'kate', cfg, { PARLEY_PASSWORD: 'kate-old-pw-1' });
    await waitScreen('kate', /as kate \(account, /);
    keys('kate', '/password');
    await waitScreen('kate', /^Current password:\s*$/m);
    keys('kate', 'kate-old-pw-1');
    await waitScreen('kate', /^New password:\s*$/m);
    keys('kate', 'kate-new-pw-2');
    await waitScreen('kate', /^The new one again:\s*$/m);
    keys('kate', 'kate-new-pw-2');
    const s = await waitScreen('kate', /password changed; every other device's login to this account has ended/);
    expect(s).not.toMatch(/kate-old|kate-new|-pw-/);
    expect(await tryHello('kate', { token: String(phone.token) })).toMatchObject({ type: 'error', code: 'bad_credentials' });
    expect(await tryHello('kate', { password: 'kate-old-pw-1' })).toMatchObject({ type: 'error', code: 'bad_credentials' });
    expect(await tryHello('kate', { password: 'kate-new-pw-2' })).toMatchObject({ type: 'welcome', account: true });
    const path = tokenPath('127.0.0.1', server.tcpPort, 'kate', { XDG_CONFIG_HOME: cfg });
    expect(await tryHello('kate', { token: readFileSync(path, 'utf8').trim() })).toMatchObject({ type: 'welcome', account: true });
    keys('kate', '/quit');
    await waitScreen('kate', /EXIT=0/);
  }, 60_000);
});
