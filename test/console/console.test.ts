// The console client as people and scripts use it: real server process, real client processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConsole, type ConsoleProc } from '../helpers/console.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { helloTcp } from '../helpers/tcp-client.js';

let server: RunningServer;
const running: ConsoleProc[] = [];
function client(name: string, ...args: string[]): ConsoleProc {
  const c = runConsole(['--host', '127.0.0.1', '--port', String(server.tcpPort), '--name', name, ...args]);
  running.push(c);
  return c;
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const c of running) c.proc.kill('SIGKILL');
  await server.stop();
});

describe('console client', () => {
  it('two clients chat both ways, names shown', async () => {
    const ann = client('ann');
    await ann.waitFor(/#general: ann/);
    const bob = client('bob');
    await ann.waitFor(/-- bob~ joined #general/);
    ann.type('hi bob');
    await bob.waitFor(/^\[\d\d:\d\d\] <ann~> hi bob$/m);
    bob.type('hello ann');
    await ann.waitFor(/^\[\d\d:\d\d\] <bob~> hello ann$/m);
    expect(await ann.end()).toBe(0);
    await bob.waitFor(/ann left #general/);
    expect(await bob.end()).toBe(0);
  });

  it('five clients in one room all see a message; another room does not', async () => {
    // One after another, so each one's join is seen by those already in the room.
    const five: ConsoleProc[] = [];
    for (const n of ['c1', 'c2', 'c3', 'c4', 'c5']) {
      const c = client(n, '--room', 'five');
      await c.waitFor(/#five: /);
      five.push(c);
    }
    const other = client('loner', '--room', 'quiet');
    await other.waitFor(/#quiet: loner/);
    for (const c of five.slice(0, 4)) await c.waitFor(/c5~ joined #five/);
    five[4]!.type('for the five');
    for (const c of five) await c.waitFor(/<c5~> for the five/);
    other.type('/time');
    await other.waitFor(/server time: /);
    expect(other.out()).not.toContain('for the five');
    for (const c of [...five, other]) expect(await c.end()).toBe(0);
  });

  it('direct messages, /me, /join and /leave, /users and /rooms', async () => {
    // One after the other: started together, lou may join first and kay would see no "joined".
    const kay = client('kay');
    await kay.waitFor(/#general: .*kay/);
    const lou = client('lou');
    await kay.waitFor(/lou~ joined #general/);
    kay.type('/msg lou secret plans');
    await lou.waitFor(/^\[\d\d:\d\d\] \*kay~\* secret plans$/m);
    await kay.waitFor(/-> \*lou\* secret plans/);
    lou.type('/me waves');
    await kay.waitFor(/\* lou~ waves/);
    kay.type('/join side');
    await kay.waitFor(/#side: kay/);
    kay.type('only in side');
    await kay.waitFor(/<kay~> only in side/);
    kay.type('/users general');
    await kay.waitFor(/in #general: kay~, lou~/);
    kay.type('/rooms');
    await kay.waitFor(/rooms: .*#general \(2\).*#side \(1\)/);
    kay.type('/leave side');
    await kay.waitFor(/you left #side/);
    lou.type('/history 10');
    await lou.waitFor(/older messages in #general/);
    expect(lou.out()).not.toContain('only in side');
    expect(await kay.end()).toBe(0);
    expect(await lou.end()).toBe(0);
  });

  it('neutralises escape sequences and control characters in other people\'s text', async () => {
    const viewer = client('viewer', '--room', 'esc');
    await viewer.waitFor(/#esc: viewer/);
    const evil = await helloTcp(server.tcpPort, 'evil');
    evil.send({ type: 'join', room: 'esc' });
    evil.send({ type: 'say', room: 'esc', text: 'clear\u001b[2J title\u001b]0;pwned\u0007 bell\u0007 c1\u009b31m bidi\u202eevil', id: 1 });
    await evil.next((e) => e.type === 'ack');
    await viewer.waitFor(/<evil~> clear/);
    const line = viewer.out().split('\n').find((l) => l.includes('<evil~>'))!;
    expect(line).toBe(line.replace(/[\u0000-\u001f\u007f-\u009f\u202e]/g, ''));
    expect(line).toContain('clear^[[2J title^[]0;pwned^G bell^G c1<U+009B>31m bidi<U+202E>evil');
    expect(viewer.out()).not.toContain('\u001b');
    evil.close();
    expect(await viewer.end()).toBe(0);
  });

  it('piped stdin: sends every line and exits 0 once all are acknowledged', async () => {
    const listener = await helloTcp(server.tcpPort, 'listener');
    listener.send({ type: 'join', room: 'pipe' });
    const script = client('script', '--room', 'pipe');
    for (let i = 1; i <= 20; i++) script.type(`line ${i}`);
    expect(await script.end()).toBe(0);
    for (let i = 1; i <= 20; i++) await listener.next((e) => e.type === 'message' && e.text === `line ${i}`);
    listener.close();
  });

  it('exits non-zero with a clear message when the name is taken or the server is unreachable', async () => {
    const holder = await helloTcp(server.tcpPort, 'taken');
    const dup = client('TAKEN');
    expect(await dup.end()).toBe(1);
    expect(dup.err()).toMatch(/name_taken/);
    holder.close();
    const nowhere = runConsole(['--host', '127.0.0.1', '--port', '1', '--name', 'x']);
    expect(await nowhere.end()).toBe(1);
    expect(nowhere.err()).toMatch(/cannot connect/);
    const bad = runConsole(['--port', 'x']);
    expect(await bad.exited).toBe(2);
  });
});

describe('console client across a server restart', () => {
  it('piped: gives up with exit 1 after --retry-for when the server does not come back', async () => {
    const srv = await startServer();
    const gus = runConsole(['--host', '127.0.0.1', '--port', String(srv.tcpPort), '--name', 'gus', '--room', 'lobby', '--retry-for', '1']);
    running.push(gus);
    await gus.waitFor(/#lobby: gus/);
    await srv.stop();
    const t0 = Date.now();
    // stdin stays open: the exit must come from giving up, not from the end of input.
    expect(await gus.exited).toBe(1);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(gus.err()).toMatch(/gave up on 127\.0\.0\.1:\d+ after 1 s without a connection/);
    expect(await runConsole(['--retry-for', '-1']).exited).toBe(2);
  });

  it('says the server went away, reconnects, rejoins and keeps chatting', async () => {
    let srv = await startServer();
    const port = String(srv.tcpPort);
    const ann = runConsole(['--host', '127.0.0.1', '--port', port, '--name', 'ann', '--room', 'lobby']);
    running.push(ann);
    await ann.waitFor(/#lobby: ann/);
    await srv.stop();
    await ann.waitFor(/connection to 127\.0\.0\.1:\d+ lost .*reconnecting in/);
    // Typed while the server is away: queued, then sent once after the hello and the rejoin.
    ann.type('typed while away');
    srv = await startServer(['--tcp-port', port]);
    try {
      await ann.waitFor(/connected to .*\n(.|\n)*connected to /, 15_000);
      const bob = await helloTcp(srv.tcpPort, 'bob');
      bob.send({ type: 'join', room: 'lobby' });
      const members = await bob.next((e) => e.type === 'members');
      expect(members.users).toContain('ann');
      bob.send({ type: 'say', room: 'lobby', text: 'welcome back' });
      await ann.waitFor(/<bob~> welcome back/);
      expect(ann.out().split('\n').filter((l) => /<ann~> typed while away$/.test(l))).toHaveLength(1);
      ann.type('thanks');
      await bob.next((e) => e.type === 'message' && e.text === 'thanks');
      bob.close();
      expect(await ann.end()).toBe(0);
    } finally {
      await srv.stop();
    }
  });
});
