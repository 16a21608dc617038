// Accounts against the real server process, over TCP and WebSocket: an impostor gets nothing of an
// account's, tokens live and die as documented, several sessions behave as one user, accounts and
// tokens survive restarts (also kill -9), failed logins are limited, and the operator commands work
// on a data dir no server holds.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_JS, startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, connectTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { connectWs } from '../helpers/ws-client.js';

const servers: RunningServer[] = [];
const clients: { close(): void }[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop('SIGKILL');
});
async function server(args: string[]): Promise<RunningServer> {
  const s = await startServer(args);
  servers.push(s);
  return s;
}
const track = <T extends { close(): void }>(c: T): T => {
  clients.push(c);
  return c;
};

describe('accounts end to end', () => {
  it('an impostor cannot take a registered name, its queued DMs or its DM history, over TCP or WebSocket', async () => {
    const s = await server([]);
    const bob = track(await accountTcp(s.tcpPort, 'bob'));
    const ann = track(await accountTcp(s.tcpPort, 'ann'));
    ann.send({ type: 'dm', to: 'bob', text: 'while you are here', id: 1 });
    await ann.next((e) => e.re === 1);
    bob.send({ type: 'bye' });
    await bob.closed();
    ann.send({ type: 'dm', to: 'bob', text: 'secret for bob', id: 2 });
    expect(await ann.next((e) => e.re === 2)).toMatchObject({ type: 'ack' });

    const tcp = track(await connectTcp(s.tcpPort));
    tcp.send({ type: 'hello', name: 'bob', id: 'h' });
    expect(await tcp.next((e) => e.re === 'h')).toMatchObject({ type: 'error', code: 'auth_required' });
    tcp.send({ type: 'hello', name: 'Bob', password: 'guessing-1', id: 'g' });
    expect(await tcp.next((e) => e.re === 'g', 10_000)).toMatchObject({ type: 'error', code: 'bad_credentials' });
    tcp.send({ type: 'history', with: 'ann', id: 'hist' });
    expect(await tcp.next((e) => e.re === 'hist')).toMatchObject({ type: 'error', code: 'not_ready' });

    const ws = await connectWs(s.httpPort);
    clients.push({ close: () => ws.destroy() });
    ws.sendJson({ type: 'hello', name: 'BOB', id: 'w' });
    expect(await ws.next((e) => e.re === 'w')).toMatchObject({ type: 'error', code: 'auth_required' });
    ws.sendJson({ type: 'hello', name: 'b0b', id: 'look' });
    expect(await ws.next((e) => e.re === 'look')).toMatchObject({ type: 'error', code: 'name_taken' });
    // Neither ever saw a message.
    expect([...tcp.events, ...ws.messages.map((m) => JSON.parse(m.data.toString()) as { type: string })].some((e) => e.type === 'message')).toBe(false);

    // The real bob gets both, in order, and his history with ann.
    const real = track(await accountTcp(s.tcpPort, 'bob'));
    await real.next((e) => e.type === 'message' && e.text === 'secret for bob');
    real.send({ type: 'history', with: 'ann', id: 'rh' });
    const page = await real.next((e) => e.re === 'rh');
    expect((page.messages as { text: string }[]).map((m) => m.text)).toEqual(['while you are here', 'secret for bob']);
  });

  it('a token logs in until logout; after logout it is bad_credentials', async () => {
    const s = await server([]);
    const first = track(await connectTcp(s.tcpPort));
    first.send({ type: 'hello', name: 'tia', id: 1 });
    await first.next((e) => e.re === 1);
    first.send({ type: 'register', password: 'tia-password', id: 2 });
    const token = (await first.next((e) => e.re === 2)).token as string;
    expect(token).toMatch(/^[\w-]{43}$/);
    const second = track(await connectTcp(s.tcpPort));
    second.send({ type: 'hello', name: 'tia', token, id: 3 });
    expect(await second.next((e) => e.re === 3)).toMatchObject({ type: 'welcome', account: true, token });
    first.send({ type: 'logout', id: 4 });
    expect(await first.next((e) => e.re === 4)).toMatchObject({ type: 'ack' });
    const third = track(await connectTcp(s.tcpPort));
    third.send({ type: 'hello', name: 'tia', token, id: 5 });
    expect(await third.next((e) => e.re === 5)).toMatchObject({ type: 'error', code: 'bad_credentials' });
  });

  it('two sessions of one account both receive; the others see one joined and one left', async () => {
    const s = await server([]);
    const watcher = track(await helloTcp(s.tcpPort, 'watcher'));
    watcher.send({ type: 'join', room: 'r' });
    await watcher.next((e) => e.type === 'joined');
    const laptop = track(await accountTcp(s.tcpPort, 'sam'));
    const ws = await connectWs(s.httpPort);
    clients.push({ close: () => ws.destroy() });
    ws.sendJson({ type: 'hello', name: 'sam', password: 'pw-of-sam', id: 'p' });
    await ws.next((e) => e.re === 'p', 10_000);
    laptop.send({ type: 'join', room: 'r' });
    ws.sendJson({ type: 'join', room: 'r' });
    await laptop.next((e) => e.type === 'history');
    await ws.next((e) => e.type === 'history');
    watcher.send({ type: 'say', room: 'r', text: 'hi sam', id: 's' });
    await laptop.next((e) => e.type === 'message' && e.text === 'hi sam');
    await ws.next((e) => e.type === 'message' && e.text === 'hi sam');
    expect(watcher.events.filter((e) => e.type === 'joined' && e.name === 'sam')).toHaveLength(1);
    laptop.close();
    watcher.send({ type: 'ping', id: 'after-one' });
    await watcher.next((e) => e.re === 'after-one');
    ws.sendJson({ type: 'say', room: 'r', text: 'still here', id: 'still' });
    await watcher.next((e) => e.type === 'message' && e.text === 'still here');
    expect(watcher.events.filter((e) => e.type === 'left' && e.name === 'sam')).toHaveLength(0);
    ws.destroy();
    await watcher.next((e) => e.type === 'left' && e.name === 'sam');
  });

  it('accounts and tokens survive a restart and a kill -9', async () => {
    const dir = tempDir();
    let s = await server(['--data-dir', dir]);
    const c = track(await connectTcp(s.tcpPort));
    c.send({ type: 'hello', name: 'Rae', id: 1 });
    await c.next((e) => e.re === 1);
    c.send({ type: 'register', password: 'rae-password', id: 2 });
    const token = (await c.next((e) => e.re === 2)).token as string;
    await s.stop('SIGKILL');
    s = await server(['--data-dir', dir]);
    const byToken = track(await connectTcp(s.tcpPort));
    byToken.send({ type: 'hello', name: 'rae', token, id: 3 });
    expect(await byToken.next((e) => e.re === 3)).toMatchObject({ type: 'welcome', name: 'Rae', account: true });
    await s.stop();
    s = await server(['--data-dir', dir]);
    const byPassword = track(await connectTcp(s.tcpPort));
    byPassword.send({ type: 'hello', name: 'rae', password: 'rae-password', id: 4 });
    expect(await byPassword.next((e) => e.re === 4, 10_000)).toMatchObject({ type: 'welcome', account: true });
  });

  it('failed logins are limited per name: the 11th in a minute is rate_limited with retryAfterMs', async () => {
    const s = await server([]);
    track(await accountTcp(s.tcpPort, 'vic')).close();
    const c = track(await connectTcp(s.tcpPort));
    for (let i = 0; i < 10; i++) {
      c.send({ type: 'hello', name: 'vic', password: `wrong-${i}`, id: i });
      expect(await c.next((e) => e.re === i, 10_000)).toMatchObject({ code: 'bad_credentials' });
    }
    c.send({ type: 'hello', name: 'vic', password: 'pw-of-vic', id: 'x' });
    const limited = await c.next((e) => e.re === 'x');
    expect(limited).toMatchObject({ type: 'error', code: 'rate_limited' });
    expect(limited.retryAfterMs as number).toBeGreaterThan(0);
  });
});

describe('parley-server accounts', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [SERVER_JS, 'accounts', ...args], { encoding: 'utf8' });

  it('list, reset-password, claim and delete on a data dir no server holds; refused while one does', async () => {
    const dir = tempDir();
    const s = await server(['--data-dir', dir]);
    const c: TcpClient = await accountTcp(s.tcpPort, 'Olga');
    c.close();
    const busy = run('list', '--data-dir', dir);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(/in use by process \d+/);
    await s.stop();
    expect(run('list', '--data-dir', dir).stdout).toMatch(/^Olga\tregistered .*\n1 account\(s\)/);
    const reset = run('reset-password', 'olga', '--data-dir', dir);
    expect(reset.status).toBe(0);
    const password = /new password for olga: (\S+)/.exec(reset.stdout)?.[1];
    expect(password).toBeDefined();
    expect(run('claim', 'olga', '--data-dir', dir).status).toBe(0);
    expect(run('list', '--data-dir', dir).stdout).toMatch(/Olga\tregistered .*\tclaimed/);
    const s2 = await server(['--data-dir', dir]);
    const again = track(await connectTcp(s2.tcpPort));
    again.send({ type: 'hello', name: 'olga', password: 'pw-of-olga', id: 'old' });
    expect(await again.next((e) => e.re === 'old', 10_000)).toMatchObject({ code: 'bad_credentials' });
    again.send({ type: 'hello', name: 'olga', password, id: 'new' });
    expect(await again.next((e) => e.re === 'new', 10_000)).toMatchObject({ type: 'welcome' });
    await s2.stop();
    expect(run('delete', 'olga', '--data-dir', dir).stdout).toMatch(/deleted olga/);
    expect(run('delete', 'olga', '--data-dir', dir).status).toBe(1);
    expect(run('frobnicate', '--data-dir', dir).status).toBe(2);
  });
});
