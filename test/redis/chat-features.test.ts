// The chat features of issue 16 across two real nodes on one real redis-server: edits, deletions and
// reactions stored in Redis and told to members on the other node (history there shows the latest
// state), topics and read markers kept in Redis, typing crossing nodes, a password change ending the
// account's sessions on other nodes, and an IRC client on one node talking with a TCP client on the
// other (the IRC listener sits on the same hub).
import { describe, expect, it } from 'vitest';
import { joinIrc, registerIrc, type IrcClient } from '../irc/helpers/irc-client.js';
import { accountTcp, helloTcp, type TcpClient } from '../helpers/tcp-client.js';
import { ask, twoNodesOnOneRedis } from './cluster-helpers.js';
import { skipWithoutRedis } from './redis-server.js';

const skip = skipWithoutRedis('cluster chat feature tests');

async function join(c: TcpClient, room: string): Promise<void> {
  const members = await ask(c, { type: 'join', room, history: 0 });
  expect(members.type).toBe('members');
}

describe.skipIf(skip)('cluster: chat features across two nodes', () => {
  const nodes = twoNodesOnOneRedis();
  const track = nodes.track;

  it('edit, react and delete on node A reach members on node B, and history on B shows the latest state', async () => {
    const alice = track(await accountTcp(nodes.a.tcpPort, 'alice'));
    const bob = track(await accountTcp(nodes.b.tcpPort, 'bob'));
    await join(alice, 'amends');
    await join(bob, 'amends');
    const said = await ask(alice, { type: 'say', room: 'amends', text: 'helo @bob' });
    const seq = said.seq;
    expect(seq).toBe(1);
    const two = await ask(alice, { type: 'say', room: 'amends', text: 'second' });
    expect((await bob.next((e) => e.type === 'message' && e.seq === 1)).mentions).toEqual(['bob']);

    expect((await ask(alice, { type: 'edit', room: 'amends', seq, text: 'hello @bob' })).type).toBe('ack');
    expect(await bob.next((e) => e.type === 'edited')).toMatchObject({ room: 'amends', seq, text: 'hello @bob' });
    expect((await ask(bob, { type: 'react', room: 'amends', seq, emoji: '👍' })).type).toBe('ack');
    expect(await alice.next((e) => e.type === 'reactions')).toMatchObject({ room: 'amends', seq, counts: { '👍': ['bob'] } });
    // Only the author edits, on whichever node the author's message is asked about.
    expect((await ask(bob, { type: 'edit', room: 'amends', seq, text: 'mine now' })).code).toBe('not_author');
    expect((await ask(alice, { type: 'delete', room: 'amends', seq: two.seq })).type).toBe('ack');
    expect(await bob.next((e) => e.type === 'deleted')).toMatchObject({ room: 'amends', seq: two.seq });
    expect((await ask(bob, { type: 'react', room: 'amends', seq: two.seq, emoji: '👍' })).code).toBe('no_such_message');

    const history = await ask(bob, { type: 'history', room: 'amends', limit: 10 });
    const [first, second] = history.messages as Record<string, unknown>[];
    expect(first).toMatchObject({ seq, text: 'hello @bob', mentions: ['bob'], reactions: { '👍': ['bob'] } });
    expect(first!.editedTs).toEqual(expect.any(String));
    expect(second).toMatchObject({ seq: two.seq, text: '', deleted: true });

    // Unreact on B; a third node's view (a fresh session on A) resumes with the reaction gone.
    expect((await ask(bob, { type: 'unreact', room: 'amends', seq, emoji: '👍' })).type).toBe('ack');
    expect(await alice.next((e) => e.type === 'reactions' && Object.keys(e.counts as object).length === 0)).toMatchObject({ seq });
    const carol = track(await helloTcp(nodes.a.tcpPort, 'carol'));
    carol.send({ type: 'join', room: 'amends', history: 10, id: 'j' });
    const replay = await carol.next((e) => e.type === 'history');
    expect((replay.messages as Record<string, unknown>[])[0]).not.toHaveProperty('reactions');
  });

  it('a DM between accounts on two nodes is edited on one and the change reaches both sides', async () => {
    const dana = track(await accountTcp(nodes.a.tcpPort, 'dana'));
    const erin = track(await accountTcp(nodes.b.tcpPort, 'erin'));
    const sent = await ask(dana, { type: 'dm', to: 'erin', text: 'typo' });
    await erin.next((e) => e.type === 'message' && e.text === 'typo');
    expect((await ask(dana, { type: 'edit', to: 'erin', seq: sent.seq, text: 'fixed' })).type).toBe('ack');
    expect(await erin.next((e) => e.type === 'edited')).toMatchObject({ seq: sent.seq, text: 'fixed', from: 'dana' });
    const history = await ask(erin, { type: 'history', with: 'dana', limit: 5 });
    expect((history.messages as Record<string, unknown>[]).map((m) => m.text)).toEqual(['fixed']);
  });

  it('a topic set on node A is given to a joiner on node B, and members on B hear the change', async () => {
    const setter = track(await helloTcp(nodes.a.tcpPort, 'setter'));
    const watcher = track(await helloTcp(nodes.b.tcpPort, 'watcher'));
    await join(setter, 'topical');
    await join(watcher, 'topical');
    expect((await ask(setter, { type: 'topic', room: 'topical', text: 'release on friday' })).type).toBe('ack');
    expect(await watcher.next((e) => e.type === 'topic')).toMatchObject({ room: 'topical', text: 'release on friday', by: 'setter' });
    const late = track(await helloTcp(nodes.b.tcpPort, 'late'));
    late.send({ type: 'join', room: 'topical', id: 'j' });
    await late.next((e) => e.type === 'members' && e.re === 'j');
    expect(await late.next((e) => e.type === 'topic')).toMatchObject({ room: 'topical', text: 'release on friday', by: 'setter' });
  });

  it("a read marker moved on node A reaches the same account's session on node B, and is kept in Redis", async () => {
    const onA = track(await accountTcp(nodes.a.tcpPort, 'frank'));
    const onB = track(await accountTcp(nodes.b.tcpPort, 'frank'));
    const talker = track(await helloTcp(nodes.a.tcpPort, 'talker'));
    for (const c of [onA, onB, talker]) await join(c, 'reading');
    await ask(talker, { type: 'say', room: 'reading', text: 'one' });
    const two = await ask(talker, { type: 'say', room: 'reading', text: 'two' });
    await onA.next((e) => e.type === 'message' && e.seq === two.seq);
    expect((await ask(onA, { type: 'read', room: 'reading', seq: two.seq })).type).toBe('ack');
    expect(await onB.next((e) => e.type === 'read')).toMatchObject({ room: 'reading', seq: two.seq });
    // Not told back to the session that moved it.
    expect(onA.events.some((e) => e.type === 'read')).toBe(false);
    expect((await ask(onB, { type: 'reads' })).markers).toEqual([{ room: 'reading', seq: two.seq }]);
    // A later session on node B gets the marker on join.
    const later = track(await accountTcp(nodes.b.tcpPort, 'frank'));
    later.send({ type: 'join', room: 'reading', id: 'j' });
    expect(await later.next((e) => e.type === 'read')).toMatchObject({ room: 'reading', seq: two.seq });
  });

  it('typing crosses nodes: in a room to the members on the other node, and to a user online only there', async () => {
    const typist = track(await helloTcp(nodes.a.tcpPort, 'typist'));
    const reader = track(await helloTcp(nodes.b.tcpPort, 'reader'));
    await join(typist, 'keys');
    await join(reader, 'keys');
    expect((await ask(typist, { type: 'typing', room: 'keys' })).type).toBe('ack');
    expect(await reader.next((e) => e.type === 'typing')).toMatchObject({ room: 'keys', name: 'typist' });
    expect((await ask(typist, { type: 'typing', to: 'reader' })).type).toBe('ack');
    expect(await reader.next((e) => e.type === 'typing' && e.to !== undefined)).toMatchObject({ to: 'reader', name: 'typist' });
  });

  it("a password change on node A ends the account's session on node B; logout everywhere does the same", async () => {
    const here = track(await accountTcp(nodes.a.tcpPort, 'gina'));
    const there = track(await accountTcp(nodes.b.tcpPort, 'gina'));
    expect((await ask(here, { type: 'password', old: 'pw-of-gina', new: 'another-secret' })).type).toBe('ack');
    expect(await there.next((e) => e.type === 'error')).toMatchObject({ code: 'bad_credentials' });
    await there.closed();
    expect(here.socket.destroyed).toBe(false);
    const again = track(await accountTcp(nodes.b.tcpPort, 'gina', 'another-secret'));
    expect((await ask(here, { type: 'logout', all: true })).type).toBe('ack');
    expect(await again.next((e) => e.type === 'error')).toMatchObject({ code: 'bad_credentials' });
  });

  it('an IRC client on node B and a TCP client on node A talk in one channel', async () => {
    const irc = track(await registerIrc(nodes.b.ircPort!, 'ircuser'));
    await joinIrc(irc, '#bridge');
    const tcp = track(await helloTcp(nodes.a.tcpPort, 'tcpuser'));
    await join(tcp, 'bridge');
    await irc.next((l) => l.command === 'JOIN' && l.source?.startsWith('tcpuser') === true);
    tcp.send({ type: 'say', room: 'bridge', text: 'hello irc' });
    expect((await irc.next((l) => l.command === 'PRIVMSG')).params).toEqual(['#bridge', 'hello irc']);
    irc.send('PRIVMSG #bridge :hello tcp');
    expect(await tcp.next((e) => e.type === 'message' && e.text === 'hello tcp')).toMatchObject({ from: 'ircuser', room: 'bridge' });
  });
});
