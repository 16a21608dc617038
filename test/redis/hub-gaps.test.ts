// The hub's side of a bus that loses, repeats and reorders events (what Redis pub/sub across nodes can
// do to a node), without Redis: a lossy bus in front of the real hub and a memory store. Whatever the
// bus does to chat messages, every member ends with each seq once, in order, because a room drops
// what it has delivered, refills a gap from the store before delivering anything newer, and refills
// everything on a resync (the last message lost with nothing after it to reveal the gap).
import { describe, expect, it } from 'vitest';
import { Hub } from '../../server/hub/hub.js';
import { silentLogger } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import type { Bus, BusEvent, Deliver } from '../../server/bus.js';
import { MemoryStore } from '../../server/store/memory-store.js';
import { FakePeer, settle, waitFor } from '../helpers/hub-harness.js';
import { TestStore } from '../helpers/test-store.js';
import { prng } from '../helpers/prng.js';

/** Chat messages: dropped, repeated or held back and delivered later, at random (seeded). */
class LossyBus implements Bus {
  private deliver: Deliver = () => {};
  private held: BusEvent[] = [];
  dropped = 0;
  constructor(private readonly rnd: () => number) {}
  attach(d: Deliver): void {
    this.deliver = d;
  }
  publish(event: BusEvent): void {
    const isMessage = event.kind === 'room' && event.seq !== undefined;
    if (!isMessage) return this.deliver(event);
    const r = this.rnd();
    if (r < 0.2) {
      this.dropped++;
      return;
    }
    if (r < 0.3) {
      this.deliver(event);
      return this.deliver(event);
    }
    if (r < 0.45) {
      this.held.push(event);
      return;
    }
    this.deliver(event);
    // Now and then, what was held back arrives late (after newer ones).
    if (this.rnd() < 0.3) this.flush();
  }
  flush(): void {
    const held = this.held;
    this.held = [];
    for (const e of held) this.deliver(e);
  }
  resync(): void {
    this.deliver({ kind: 'resync' });
  }
  async close(): Promise<void> {}
}

function member(hub: Hub, name: string): FakePeer {
  const peer = new FakePeer(`127.0.0.1:${name.length}`);
  peer.session = hub.connect(peer);
  peer.request({ type: 'hello', name });
  peer.request({ type: 'join', room: 'lossy', history: 0, id: 'j' });
  return peer;
}

describe('rooms over a bus that loses, repeats and reorders messages', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: every member sees 1..N once, in order`, async () => {
      const bus = new LossyBus(prng(seed));
      const hub = new Hub({ store: new MemoryStore({ historyPerRoom: 10_000 }), bus, metrics: new Metrics(), log: silentLogger, serverName: 't', helloTimeoutMs: 60_000, rateLimits: null });
      const peers = ['ann', 'bob', 'cy'].map((n) => member(hub, n));
      await waitFor(() => peers.every((p) => p.events.some((e) => e.type === 'members')));
      await settle();
      const N = 400;
      for (let i = 1; i <= N; i++) {
        peers[i % 3]!.request({ type: 'say', room: 'lossy', text: `m${i}`, id: i });
        if (i % 50 === 0) await settle();
      }
      await waitFor(() => peers.every((p, k) => p.events.filter((e) => e.type === 'ack').length === [...Array(N).keys()].filter((i) => (i + 1) % 3 === k).length));
      await settle();
      // The last messages may have been lost with nothing after them to reveal the gap: a resync finds them.
      bus.flush();
      bus.resync();
      for (let i = 0; i < 50 && !peers.every((p) => p.messages().length >= N); i++) await settle();
      expect(bus.dropped).toBeGreaterThan(0);
      for (const p of peers) expect(p.messages().map((m) => m.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    });
  }
});

/** Room messages wait until flush(n): a node whose notices lag behind what the shared store holds. */
class LaggingBus implements Bus {
  private deliver: Deliver = () => {};
  private held: BusEvent[] = [];
  attach(d: Deliver): void {
    this.deliver = d;
  }
  publish(event: BusEvent): void {
    if (event.kind === 'room' && event.seq !== undefined) this.held.push(event);
    else this.deliver(event);
  }
  flush(n = this.held.length): void {
    for (const e of this.held.splice(0, n)) this.deliver(e);
  }
  async close(): Promise<void> {}
}

describe('a join while the bus lags behind the store', () => {
  it('the catch-up sends only what this node has delivered; the rest arrives live, once', async () => {
    const bus = new LaggingBus();
    const store = new TestStore();
    const hub = new Hub({ store, bus, metrics: new Metrics(), log: silentLogger, serverName: 't', helloTimeoutMs: 60_000, rateLimits: null });
    const ann = member(hub, 'ann');
    await waitFor(() => ann.events.some((e) => e.type === 'members'));
    for (let i = 1; i <= 6; i++) ann.request({ type: 'say', room: 'lossy', text: `m${i}`, id: i });
    await waitFor(() => store.waiting === 6);
    store.release();
    await waitFor(() => ann.events.filter((e) => e.type === 'ack').length === 6);
    bus.flush(3);
    await waitFor(() => ann.messages().length === 3);
    // 4-6 are stored, but their notices have not reached this node yet. Bob resumes; while his
    // history is being read, the notice of 4 arrives.
    store.holdReads();
    const bob = new FakePeer('127.0.0.1:9');
    bob.session = hub.connect(bob);
    bob.request({ type: 'hello', name: 'bob' });
    bob.request({ type: 'join', room: 'lossy', since: 0, id: 'j' });
    await waitFor(() => store.heldReadCount > 0);
    bus.flush(1);
    store.releaseReads();
    await waitFor(() => bob.messages().length >= 4);
    await settle();
    bus.flush();
    await waitFor(() => bob.messages().length >= 6);
    await settle();
    expect(bob.messages().map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
