// search in cluster mode: the word index lives in Redis, so a message said on one node is found from
// another; edits move it to its new words, deletions hide it, pages follow `next`, and the scope
// rules are the embedded stores' (a room one is not in is refused; another pair's DMs are not found).
import { describe, expect, it } from 'vitest';
import { accountTcp, type Event, type TcpClient } from '../helpers/tcp-client.js';
import { ask, twoNodesOnOneRedis } from './cluster-helpers.js';
import { skipWithoutRedis } from './redis-server.js';

const skip = skipWithoutRedis('cluster search tests');

describe.skipIf(skip)('cluster: search across two nodes', () => {
  const nodes = twoNodesOnOneRedis();
  const track = nodes.track;

  const texts = (r: Event): string[] => (r.messages as { text: string }[]).map((m) => m.text);
  /** Asks until the answer holds: indexing follows the ack by a round trip to Redis. */
  async function searchUntil(c: TcpClient, req: Record<string, unknown>, check: (r: Event) => boolean): Promise<Event> {
    let last: Event | undefined;
    await expect
      .poll(async () => {
        last = await ask(c, { type: 'search', ...req });
        return check(last);
      }, { timeout: 10_000 })
      .toBe(true);
    return last!;
  }

  it('finds on node B what was said on node A, newest first, paged; edits and deletions are followed', async () => {
    const ann = await accountTcp(nodes.a.tcpPort, 'ann');
    const ben = await accountTcp(nodes.b.tcpPort, 'ben');
    for (const c of [ann, ben]) track(c);
    for (const c of [ann, ben]) expect((await ask(c, { type: 'join', room: 'launch', history: 0 })).type).toBe('members');
    const seqs: number[] = [];
    for (const text of ['the rocket is ready', 'Rocket fuel loaded', 'lunch first', 'ROCKET launch at noon']) {
      seqs.push((await ask(ann, { type: 'say', room: 'launch', text })).seq as number);
    }
    const all = await searchUntil(ben, { query: 'rocket', room: 'launch' }, (r) => (r.messages as unknown[]).length === 3);
    expect(texts(all)).toEqual(['ROCKET launch at noon', 'Rocket fuel loaded', 'the rocket is ready']);
    expect(all).toMatchObject({ type: 'results', terms: ['rocket'], more: false });

    const first = await ask(ben, { type: 'search', query: 'rocket', room: 'launch', limit: 2 });
    expect(texts(first)).toEqual(['ROCKET launch at noon', 'Rocket fuel loaded']);
    expect(first.more).toBe(true);
    const second = await ask(ben, { type: 'search', query: 'rocket', room: 'launch', limit: 2, before: first.next });
    expect(texts(second)).toEqual(['the rocket is ready']);
    expect(second.more).toBe(false);

    expect((await ask(ann, { type: 'search', query: 'rocket launch' })).messages).toMatchObject([{ text: 'ROCKET launch at noon', room: 'launch' }]);

    expect((await ask(ann, { type: 'edit', room: 'launch', seq: seqs[0], text: 'the shuttle is ready' })).type).toBe('ack');
    await searchUntil(ben, { query: 'shuttle' }, (r) => texts(r).join() === 'the shuttle is ready');
    expect(texts(await ask(ben, { type: 'search', query: 'rocket' }))).toEqual(['ROCKET launch at noon', 'Rocket fuel loaded']);
    expect((await ask(ann, { type: 'delete', room: 'launch', seq: seqs[1] })).type).toBe('ack');
    expect(texts(await ask(ben, { type: 'search', query: 'rocket' }))).toEqual(['ROCKET launch at noon']);
  });

  it('keeps to what the user may read: a room not joined is refused, another pair\'s DMs are not found', async () => {
    const cy = await accountTcp(nodes.a.tcpPort, 'cy');
    const di = await accountTcp(nodes.b.tcpPort, 'di');
    const ed = await accountTcp(nodes.b.tcpPort, 'ed');
    for (const c of [cy, di, ed]) track(c);
    expect((await ask(cy, { type: 'dm', to: 'di', text: 'secret password hint' })).type).toBe('ack');
    await searchUntil(di, { query: 'secret hint' }, (r) => texts(r).join() === 'secret password hint');
    expect((await ask(di, { type: 'search', query: 'secret', with: 'cy' })).messages).toMatchObject([{ from: 'cy', with: 'cy' }]);
    expect((await ask(ed, { type: 'search', query: 'secret' })).messages).toEqual([]);
    expect((await ask(ed, { type: 'search', query: 'rocket', room: 'launch' })).code).toBe('not_member');
  });
});
