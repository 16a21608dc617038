// The hub's ordering rules with a store whose writes complete only when the test says so: this is
// where "no gap, no duplicate" between history and live messages is decided, so it is tested with
// every interleaving a slow disk can produce.
import { describe, expect, it } from 'vitest';
import type { ChatMessage, ServerEvent } from '../../protocol/messages.js';
import { Hub } from '../../server/hub.js';
import { silentLogger } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import type { Outgoing } from '../../server/outgoing.js';
import type { Peer, Session } from '../../server/peer.js';
import { MemoryStore } from '../../server/store/memory-store.js';
import type { ConvKey, Done } from '../../server/store/store.js';

/** A MemoryStore whose durability callbacks wait in a queue until release() or fail(). */
class SlowStore extends MemoryStore {
  private queue: Done[] = [];
  constructor() {
    super({ historyPerRoom: 1000 });
  }
  override appendMessage(conv: ConvKey, msg: ChatMessage, offline: string | undefined, done: Done): void {
    super.appendMessage(conv, msg, offline, () => {});
    this.queue.push(done);
  }
  release(n = this.queue.length): void {
    for (const done of this.queue.splice(0, n)) done(null);
  }
  fail(): void {
    for (const done of this.queue.splice(0)) done(new Error('disk full'));
  }
  get waiting(): number {
    return this.queue.length;
  }
}

class FakePeer implements Peer {
  readonly transport = 'tcp' as const;
  readonly events: ServerEvent[] = [];
  closed = false;
  constructor(readonly remote: string) {}
  send(event: Outgoing): void {
    if (!this.closed) this.events.push(JSON.parse(event.json) as ServerEvent);
  }
  close(): void {
    this.closed = true;
  }
  messages(): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (const e of this.events) {
      if (e.type === 'message') out.push(e);
      if (e.type === 'history') out.push(...e.messages);
    }
    return out;
  }
}

function setup(): { hub: Hub; store: SlowStore; user(name: string): { peer: FakePeer; session: Session; send(req: object): void } } {
  const store = new SlowStore();
  const hub = new Hub({ store, metrics: new Metrics(), log: silentLogger, serverName: 'test', helloTimeoutMs: 60_000 });
  return {
    hub,
    store,
    user(name) {
      const peer = new FakePeer(name);
      const session = hub.connect(peer);
      const send = (req: object): void => session.receive(JSON.stringify(req));
      send({ type: 'hello', name });
      return { peer, session, send };
    },
  };
}

const seqs = (msgs: ChatMessage[]): number[] => msgs.map((m) => m.seq);

describe('hub ordering with a slow store', () => {
  it('sends nothing and acks nothing before the store says durable', () => {
    const { store, user } = setup();
    const ann = user('ann');
    ann.send({ type: 'join', room: 'r' });
    ann.send({ type: 'say', room: 'r', text: 'one', id: 1 });
    expect(ann.peer.events.some((e) => e.type === 'message' || e.type === 'ack')).toBe(false);
    store.release();
    const tail = ann.peer.events.slice(-2);
    expect(tail.map((e) => e.type)).toEqual(['message', 'ack']);
  });

  it('a join while messages are in flight gets history then live with no gap and no duplicate', () => {
    const { store, user } = setup();
    const ann = user('ann');
    ann.send({ type: 'join', room: 'r' });
    for (let i = 1; i <= 5; i++) ann.send({ type: 'say', room: 'r', text: `m${i}` });
    store.release(2); // m1, m2 durable; m3..m5 still in flight
    const bob = user('bob');
    bob.send({ type: 'join', room: 'r' });
    expect(seqs(bob.peer.messages())).toEqual([1, 2]);
    ann.send({ type: 'say', room: 'r', text: 'm6' });
    store.release();
    expect(seqs(bob.peer.messages())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seqs(ann.peer.messages())).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('resume with since in every interleaving delivers each message exactly once', () => {
    for (let durable = 0; durable <= 6; durable++) {
      for (let since = 0; since <= 6; since++) {
        const { store, user } = setup();
        const ann = user('ann');
        ann.send({ type: 'join', room: 'r' });
        for (let i = 1; i <= 6; i++) ann.send({ type: 'say', room: 'r', text: `m${i}` });
        store.release(durable);
        const bob = user('bob');
        bob.send({ type: 'join', room: 'r', since });
        store.release();
        // History covers (since, durable]; live covers the rest: together, everything after since.
        const expected = [1, 2, 3, 4, 5, 6].filter((s) => s > Math.min(since, durable));
        expect(seqs(bob.peer.messages()), `durable=${durable} since=${since}`).toEqual(expected);
      }
    }
  });

  it('a failed write is reported as unavailable and reaches nobody', () => {
    const { store, user } = setup();
    const ann = user('ann');
    const bob = user('bob');
    for (const u of [ann, bob]) u.send({ type: 'join', room: 'r' });
    ann.send({ type: 'say', room: 'r', text: 'lost', id: 'x' });
    store.fail();
    expect(bob.peer.messages()).toEqual([]);
    expect(ann.peer.events.at(-1)).toMatchObject({ type: 'error', code: 'unavailable', re: 'x' });
    expect(ann.peer.events.some((e) => e.type === 'ack')).toBe(false);
  });

  it('a DM whose recipient connects while it is in flight arrives exactly once', () => {
    const { store, user } = setup();
    const bob1 = user('bob');
    bob1.session.disconnected();
    const ann = user('ann');
    ann.send({ type: 'dm', to: 'bob', text: 'first' });
    store.release();
    ann.send({ type: 'dm', to: 'bob', text: 'second' });
    const bob = user('bob');
    expect(bob.peer.messages().map((m) => m.text)).toEqual(['first']);
    store.release();
    expect(bob.peer.messages().map((m) => m.text)).toEqual(['first', 'second']);
    // Nothing is left queued: a reconnect brings no repeats.
    store.release();
    bob.session.disconnected();
    const bobAgain = user('bob');
    store.release();
    expect(bobAgain.peer.messages()).toEqual([]);
  });

  it('history with a user lists only stored DMs; one still in flight arrives live after it', () => {
    const { store, user } = setup();
    const ann = user('ann');
    const bob = user('bob');
    for (const text of ['d1', 'd2', 'd3']) ann.send({ type: 'dm', to: 'bob', text });
    store.release(2);
    bob.send({ type: 'history', with: 'ANN', id: 'h' });
    const at = bob.peer.events.findIndex((e) => e.type === 'history');
    const page = bob.peer.events[at];
    expect(page).toMatchObject({ type: 'history', with: 'ann', re: 'h', more: false });
    expect(page?.type === 'history' ? seqs(page.messages) : []).toEqual([1, 2]);
    store.release();
    const live = bob.peer.events.findIndex((e) => e.type === 'message' && e.seq === 3);
    expect(live).toBeGreaterThan(at);
  });

  it('queued DMs arrive right after welcome, before anything else', () => {
    const { store, user } = setup();
    user('carl').session.disconnected();
    const ann = user('ann');
    ann.send({ type: 'dm', to: 'carl', text: 'while you were out' });
    store.release();
    const carl = user('carl');
    expect(carl.peer.events.map((e) => e.type)).toEqual(['welcome', 'message']);
  });

  it('a room with messages in flight outlives its last member', () => {
    const { store, user } = setup();
    const ann = user('ann');
    ann.send({ type: 'join', room: 'r' });
    ann.send({ type: 'say', room: 'r', text: 'bye all' });
    ann.session.disconnected();
    store.release();
    const bob = user('bob');
    bob.send({ type: 'join', room: 'r' });
    store.release();
    expect(bob.peer.messages().map((m) => m.text)).toEqual(['bye all']);
    expect(store.waiting).toBe(0);
  });
});

describe('hub room membership', () => {
  it('leaving one of several rooms keeps the others, in any order, and a disconnect leaves them all', () => {
    const { store, user } = setup();
    const a = user('alice');
    const b = user('bob');
    for (const r of ['r1', 'r2', 'r3', 'r4']) {
      a.send({ type: 'join', room: r });
      b.send({ type: 'join', room: r });
    }
    a.send({ type: 'leave', room: 'R2' });
    a.send({ type: 'leave', room: 'r4' });
    a.send({ type: 'leave', room: 'r2', id: 'again' });
    const errors = a.peer.events.filter((e) => e.type === 'error');
    expect(errors).toEqual([expect.objectContaining({ code: 'not_member', re: 'again' })]);
    for (const r of ['r1', 'r2', 'r3', 'r4']) a.send({ type: 'say', room: r, text: `to ${r}`, id: r });
    store.release();
    expect(a.peer.events.filter((e) => e.type === 'ack').map((e) => (e as { re: string }).re)).toEqual(['r1', 'r3']);
    expect(a.peer.events.filter((e) => e.type === 'error').map((e) => (e as { re: string }).re)).toEqual(['again', 'r2', 'r4']);
    // Rejoining a room one is in is not a second membership: one `joined` for bob, not two.
    const before = b.peer.events.filter((e) => e.type === 'joined').length;
    a.send({ type: 'join', room: 'r1' });
    a.send({ type: 'join', room: 'r2' });
    expect(b.peer.events.filter((e) => e.type === 'joined').length).toBe(before + 1);
    a.session.disconnected();
    const left = b.peer.events.filter((e) => e.type === 'left' && (e as { reason?: string }).reason === 'disconnect');
    expect(left.map((e) => (e as { room: string }).room).sort()).toEqual(['r1', 'r2', 'r3']);
  });
});
