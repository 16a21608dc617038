// `mid` on one server with --memory: a say or dm sent again with the same mid is acknowledged with
// the first one's seq and reaches nobody a second time (docs/protocol.md, say).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { ask, until } from './cluster-helpers.js';

describe('mid on a single --memory server', () => {
  let server: RunningServer;
  const open: TcpClient[] = [];
  beforeAll(async () => {
    server = await startServer(['--memory']);
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await server?.stop();
  });

  it('a repeated say is stored and delivered once; another sender may use the same mid', async () => {
    const ann = await helloTcp(server.tcpPort, 'ann');
    const bob = await helloTcp(server.tcpPort, 'bob');
    open.push(ann, bob);
    for (const c of [ann, bob]) await ask(c, { type: 'join', room: 'm', history: 0 });
    const first = await ask(ann, { type: 'say', room: 'm', text: 'once', mid: 'x' });
    const again = await ask(ann, { type: 'say', room: 'm', text: 'once', mid: 'x' });
    expect(again).toMatchObject({ type: 'ack', seq: first.seq });
    const bobs = await ask(bob, { type: 'say', room: 'm', text: 'mine', mid: 'x' });
    expect(bobs.seq).toBe((first.seq as number) + 1);
    await until('both messages', () => bob.events.filter((e) => e.type === 'message').length >= 2);
    await ask(bob, { type: 'ping' });
    expect(bob.events.filter((e) => e.type === 'message').map((e) => e.text)).toEqual(['once', 'mine']);
  });

  it('a repeated DM between accounts is stored and delivered once', async () => {
    const cy = await accountTcp(server.tcpPort, 'cy');
    const di = await accountTcp(server.tcpPort, 'di');
    open.push(cy, di);
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
