// `mid` on one server, with either embedded store: a say or dm sent again with the same mid is
// acknowledged with the first one's seq and reaches nobody a second time (docs/protocol.md, say). The
// file store also keeps its table across a clean restart (mid-table.ts). Cluster mode's mid is tested
// in test/redis/.
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { ask, until } from '../redis/cluster-helpers.js';

const STORES: [string, () => string[]][] = [
  ['--memory', () => ['--memory']],
  ['the file store', () => ['--data-dir', tempDir('parley-mid-')]],
];

/** Every client a test opens, closed once the file's tests are done. */
const open: TcpClient[] = [];
async function client(make: Promise<TcpClient>): Promise<TcpClient> {
  const c = await make;
  open.push(c);
  return c;
}
afterAll(() => {
  for (const c of open) c.close();
});

describe.each(STORES)('mid with %s', (_label, flags) => {
  const args = flags();
  let server: RunningServer | undefined;
  const start = async (): Promise<RunningServer> => (server = await startServer(args));
  afterAll(async () => {
    await server?.stop();
  });

  it('a repeated say is stored and delivered once, even sent before the first is acked; another sender may use the same mid', async () => {
    const s = await start();
    const ann = await client(helloTcp(s.tcpPort, 'ann'));
    const bob = await client(helloTcp(s.tcpPort, 'bob'));
    for (const c of [ann, bob]) await ask(c, { type: 'join', room: 'm', history: 0 });
    // Back to back: the second arrives while the first may still be being written.
    ann.send({ type: 'say', room: 'm', text: 'once', mid: 'x', id: 'one' });
    ann.send({ type: 'say', room: 'm', text: 'once', mid: 'x', id: 'two' });
    const first = await ann.next((e) => e.re === 'one');
    expect(await ann.next((e) => e.re === 'two')).toMatchObject({ type: 'ack', seq: first.seq });
    const again = await ask(ann, { type: 'say', room: 'm', text: 'once', mid: 'x' });
    expect(again).toMatchObject({ type: 'ack', seq: first.seq });
    const bobs = await ask(bob, { type: 'say', room: 'm', text: 'mine', mid: 'x' });
    expect(bobs.seq).toBe((first.seq as number) + 1);
    await until('both messages', () => bob.events.filter((e) => e.type === 'message').length >= 2);
    await ask(bob, { type: 'ping' });
    expect(bob.events.filter((e) => e.type === 'message').map((e) => e.text)).toEqual(['once', 'mine']);
  });

  it('a repeated DM between accounts is stored and delivered once', async () => {
    const cy = await client(accountTcp(server!.tcpPort, 'cy'));
    const di = await client(accountTcp(server!.tcpPort, 'di'));
    const first = await ask(cy, { type: 'dm', to: 'di', text: 'hi', mid: 'd1' });
    const again = await ask(cy, { type: 'dm', to: 'di', text: 'hi', mid: 'd1' });
    expect(again).toMatchObject({ type: 'ack', seq: first.seq });
    await di.next((e) => e.type === 'message' && e.text === 'hi');
    await ask(di, { type: 'ping' });
    await ask(cy, { type: 'ping' });
    expect(di.events.filter((e) => e.type === 'message')).toHaveLength(1);
    expect(cy.events.filter((e) => e.type === 'message')).toHaveLength(1);
  });
});

describe('mid with the file store across a restart', () => {
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('a resend after the server restarted (cleanly) is answered with the first seq, not stored again', async () => {
    const dir = tempDir('parley-mid-restart-');
    server = await startServer(['--data-dir', dir]);
    const before = await client(helloTcp(server.tcpPort, 'ed'));
    await ask(before, { type: 'join', room: 'r', history: 0 });
    const first = await ask(before, { type: 'say', room: 'r', text: 'lost ack', mid: 'r1' });
    before.close();
    expect(await server.stop()).toBe(0);
    server = await startServer(['--data-dir', dir]);
    const after = await client(helloTcp(server.tcpPort, 'ed'));
    await ask(after, { type: 'join', room: 'r', history: 0 });
    expect(await ask(after, { type: 'say', room: 'r', text: 'lost ack', mid: 'r1' })).toMatchObject({ type: 'ack', seq: first.seq });
    const next = await ask(after, { type: 'say', room: 'r', text: 'new', mid: 'r2' });
    expect(next.seq).toBe((first.seq as number) + 1);
    const history = await ask(after, { type: 'history', room: 'r', limit: 10 });
    expect((history.messages as Record<string, unknown>[]).map((m) => m.text)).toEqual(['lost ack', 'new']);
  });
});
