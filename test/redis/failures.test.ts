// Failures with real processes and a real redis-server, each under load:
// - a node SIGKILLed: its clients reconnect to another node and resume from their last seq, nothing
//   lost or doubled; its senders resend what was not acknowledged with the same mid, stored once;
// - Redis SIGKILLed and restarted (appendonly, appendfsync always): while it is gone a say is
//   answered `unavailable` within a few seconds and /healthz says degraded (503); then the nodes
//   reconnect, resubscribe and refill, and every member has seen the stored conversation exactly;
// - the subscriber connections killed (CLIENT KILL TYPE pubsub): the gaps are refilled.
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../helpers/server.js';
import { accountTcp, helloTcp, type Event, type TcpClient } from '../helpers/tcp-client.js';
import { silentLogger } from '../../server/log.js';
import { RedisClient } from '../../server/redis/client.js';
import { parseRedisUrl } from '../../server/redis/url.js';
import { ask, node, until } from './cluster-helpers.js';
import { skipWithoutRedis, startRedis, type TestRedis } from './redis-server.js';

const skip = skipWithoutRedis('cluster failure tests');

/** A member that remembers the last seq it saw and can resume on another node. */
class Member {
  client!: TcpClient;
  seen: { seq: number; text: string }[] = [];
  private taken = 0;
  constructor(
    readonly name: string,
    readonly room: string,
  ) {}

  async connect(port: number): Promise<void> {
    // Whatever the previous connection received counts: fold it in before replacing it.
    if (this.client) this.collect();
    this.client = await accountTcp(port, this.name);
    this.taken = 0;
    const since = this.seen.length === 0 ? undefined : this.seen[this.seen.length - 1]!.seq;
    const reply = await ask(this.client, since === undefined ? { type: 'join', room: this.room, history: 0 } : { type: 'join', room: this.room, since });
    expect(reply.type).toBe('members');
  }

  /** Folds in every message (history pages and live) received since the last call. */
  collect(): void {
    const evs = this.client.events;
    for (; this.taken < evs.length; this.taken++) {
      const e = evs[this.taken]!;
      const msgs: Event[] = e.type === 'history' && e.room === this.room ? (e.messages as Event[]) : e.type === 'message' && e.room === this.room ? [e] : [];
      for (const m of msgs) this.seen.push({ seq: m.seq as number, text: m.text as string });
    }
  }

  get last(): number {
    this.collect();
    return this.seen[this.seen.length - 1]?.seq ?? 0;
  }
}

/** Sends `count` messages with mids, at most `window` unacknowledged at a time; records the outcome of each. */
async function sendLoad(c: TcpClient, room: string, prefix: string, count: number, window = 20, deadlineMs = 30_000): Promise<Map<string, Event>> {
  const outcome = new Map<string, Event>();
  let next = 0;
  const deadline = Date.now() + deadlineMs;
  // Replies counted incrementally: rescanning every event on each step would cost the test O(n²).
  let scanned = 0;
  let replies = 0;
  const countReplies = (): number => {
    for (; scanned < c.events.length; scanned++) {
      const re = c.events[scanned]!.re;
      if (typeof re === 'string' && re.startsWith(`${prefix}-`)) replies++;
    }
    return replies;
  };
  while (next < count && Date.now() < deadline && !c.socket.destroyed) {
    const inFlight = next - countReplies();
    if (inFlight >= window) {
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    const mid = `${prefix}-${next++}`;
    c.send({ type: 'say', room, text: mid, mid, id: mid });
  }
  await until(`${prefix}: replies`, () => c.socket.destroyed || countReplies() >= next, 20_000).catch(() => undefined);
  for (const e of c.events) if (typeof e.re === 'string' && e.re.startsWith(`${prefix}-`)) outcome.set(e.re, e);
  return outcome;
}

function expectExact(seen: { seq: number; text: string }[], stored: { seq: number; text: string }[], who: string): void {
  expect(seen.map((m) => m.seq), `${who}: seqs`).toEqual(stored.map((m) => m.seq));
  expect(seen, who).toEqual(stored);
}

/** The whole retained conversation, paged back with `history {before}`. */
async function storedHistory(port: number, room: string): Promise<{ seq: number; text: string }[]> {
  const reader = await helloTcp(port, `reader${Math.floor(Math.random() * 1e6)}`);
  await ask(reader, { type: 'join', room, history: 0 });
  const out: { seq: number; text: string }[] = [];
  for (let before: number | undefined; ; ) {
    const page = await ask(reader, before === undefined ? { type: 'history', room, limit: 1000 } : { type: 'history', room, limit: 1000, before });
    const msgs = page.messages as { seq: number; text: string }[];
    out.unshift(...msgs.map((m) => ({ seq: m.seq, text: m.text })));
    if (page.more !== true || msgs.length === 0) break;
    before = msgs[0]!.seq;
  }
  reader.close();
  return out;
}

describe.skipIf(skip)('cluster failures', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('a node SIGKILLed under load: its members resume on another node with nothing lost or doubled; its sender resends by mid, stored once', async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.kill());
    const nodes = await Promise.all([node(redis.url), node(redis.url), node(redis.url)]);
    cleanup.push(() => Promise.all(nodes.map((n) => n.stop('SIGKILL'))));
    const [a, b, doomed] = nodes as [RunningServer, RunningServer, RunningServer];
    const room = 'load';
    const watchers = [new Member('w1', room), new Member('w2', room), new Member('w3', room)];
    await watchers[0]!.connect(doomed.tcpPort);
    await watchers[1]!.connect(doomed.tcpPort);
    await watchers[2]!.connect(a.tcpPort);
    const sA = await accountTcp(a.tcpPort, 'sendera');
    const sB = await accountTcp(b.tcpPort, 'senderb');
    const sC = await accountTcp(doomed.tcpPort, 'senderc');
    for (const s of [sA, sB, sC]) await ask(s, { type: 'join', room, history: 0 });
    cleanup.push(() => [sA, sB, sC, ...watchers.map((w) => w.client)].forEach((c) => c.close()));

    const loads = [sendLoad(sA, room, 'a', 600), sendLoad(sB, room, 'b', 600), sendLoad(sC, room, 'c', 600, 10)] as const;
    await until('load under way', () => watchers[2]!.last >= 300, 20_000);
    await doomed.stop('SIGKILL');
    // Clients of the dead node reconnect elsewhere and resume from the last seq they saw.
    await watchers[0]!.connect(a.tcpPort);
    await watchers[1]!.connect(b.tcpPort);
    const [ra, rb, rc] = await Promise.all(loads);
    expect([...ra.values()].every((e) => e.type === 'ack')).toBe(true);
    expect([...rb.values()].every((e) => e.type === 'ack')).toBe(true);
    // The dead node's sender: what was not acknowledged is sent again, same mid, on another node.
    const again = await accountTcp(b.tcpPort, 'senderc');
    cleanup.push(() => again.close());
    await ask(again, { type: 'join', room, history: 0 });
    const unacked = Array.from({ length: 600 }, (_, i) => `c-${i}`).filter((mid) => rc.get(mid)?.type !== 'ack');
    expect(unacked.length).toBeGreaterThan(0);
    for (const mid of unacked) expect((await ask(again, { type: 'say', room, text: mid, mid })).type).toBe('ack');

    const stored = await storedHistory(a.tcpPort, room);
    const texts = stored.map((m) => m.text);
    for (const p of ['a', 'b', 'c']) for (let i = 0; i < 600; i++) expect(texts.filter((t) => t === `${p}-${i}`), `${p}-${i}`).toHaveLength(1);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
    for (const w of watchers) await until(`${w.name} caught up`, () => w.last >= stored.length, 20_000);
    // Each watcher saw the stored conversation exactly: from its first message on, each seq once, in order.
    for (const w of watchers) expectExact(w.seen, stored.slice(stored.length - w.seen.length), w.name);
    expect(watchers[0]!.seen[0]!.seq).toBe(1);
  }, 90_000);

  it('Redis SIGKILLed and restarted under load: unavailable within seconds, /healthz degraded, then every member has the stored conversation exactly', async () => {
    const redis = await startRedis({ appendonly: true });
    cleanup.push(() => redis.kill());
    const nodes = await Promise.all([node(redis.url), node(redis.url)]);
    cleanup.push(() => Promise.all(nodes.map((n) => n.stop('SIGKILL'))));
    const [a, b] = nodes as [RunningServer, RunningServer];
    const room = 'outage';
    const watchers = [new Member('x1', room), new Member('x2', room)];
    await watchers[0]!.connect(a.tcpPort);
    await watchers[1]!.connect(b.tcpPort);
    const sA = await accountTcp(a.tcpPort, 'senda');
    const sB = await accountTcp(b.tcpPort, 'sendb');
    for (const s of [sA, sB]) await ask(s, { type: 'join', room, history: 0 });
    cleanup.push(() => [sA, sB, ...watchers.map((w) => w.client)].forEach((c) => c.close()));

    const first = [sendLoad(sA, room, 'a', 1000, 20, 6000), sendLoad(sB, room, 'b', 1000, 20, 6000)] as const;
    await until('load under way', () => watchers[0]!.last >= 100, 20_000);
    await redis.kill();
    const [r1a, r1b] = await Promise.all(first);
    // The crash came in the middle of the load: some says were refused (unavailable), none hung.
    const firstReplies = [...r1a.values(), ...r1b.values()];
    expect(firstReplies.some((e) => e.type === 'error' && e.code === 'unavailable')).toBe(true);
    expect(firstReplies.every((e) => e.type === 'ack' || (e.type === 'error' && e.code === 'unavailable'))).toBe(true);
    // While Redis is gone: a say is refused quickly, never delivered, and health says degraded.
    const t0 = Date.now();
    const refused = await ask(sA, { type: 'say', room, text: 'during the outage', mid: 'outage-1' });
    expect(refused).toMatchObject({ type: 'error', code: 'unavailable' });
    expect(Date.now() - t0).toBeLessThan(4000);
    const health = await fetch(`http://127.0.0.1:${a.httpPort}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'degraded', redis: { connected: false } });
    await redis.restart();
    await until('healthy again', async () => (await fetch(`http://127.0.0.1:${b.httpPort}/healthz`)).status === 200 && (await fetch(`http://127.0.0.1:${a.httpPort}/healthz`)).status === 200, 10_000);
    const second = await Promise.all([sendLoad(sA, room, 'a2', 200), sendLoad(sB, room, 'b2', 200)]);
    for (const r of second) expect([...r.values()].every((e) => e.type === 'ack')).toBe(true);

    const stored = await storedHistory(a.tcpPort, room);
    const texts = new Set(stored.map((m) => m.text));
    // appendfsync always: every acknowledged message survived the crash.
    for (const r of [r1a, r1b, ...second]) for (const [mid, e] of r) if (e.type === 'ack') expect(texts.has(mid), mid).toBe(true);
    expect(texts.has('during the outage')).toBe(false);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
    for (const w of watchers) await until(`${w.name} caught up`, () => w.last >= stored.length, 20_000);
    for (const w of watchers) expectExact(w.seen, stored, w.name);
  }, 90_000);

  it('subscriber connections killed under load (CLIENT KILL TYPE pubsub): the gaps are refilled, nothing lost or doubled', async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.kill());
    const nodes = await Promise.all([node(redis.url), node(redis.url)]);
    cleanup.push(() => Promise.all(nodes.map((n) => n.stop('SIGKILL'))));
    const [a, b] = nodes as [RunningServer, RunningServer];
    const room = 'gaps';
    const watchers = [new Member('y1', room), new Member('y2', room)];
    await watchers[0]!.connect(a.tcpPort);
    await watchers[1]!.connect(b.tcpPort);
    const s = await helloTcp(a.tcpPort, 'gapper');
    await ask(s, { type: 'join', room, history: 0 });
    cleanup.push(() => [s, ...watchers.map((w) => w.client)].forEach((c) => c.close()));
    const load = sendLoad(s, room, 'g', 1500);
    for (let k = 0; k < 3; k++) {
      await until('progress', () => watchers[1]!.last >= 300 * (k + 1), 20_000);
      redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    }
    const r = await load;
    expect([...r.values()].every((e) => e.type === 'ack')).toBe(true);
    for (const w of watchers) await until(`${w.name} caught up`, () => w.last >= 1500, 20_000);
    // The kills did cut the subscriptions (each node says so), and the nodes refilled around them.
    for (const n of nodes) expect(n.stderr()).toContain('subscription lost');
    const expected = Array.from({ length: 1500 }, (_, i) => ({ seq: i + 1, text: `g-${i}` }));
    for (const w of watchers) expectExact(w.seen, expected, w.name);
  }, 60_000);

  it('Redis restarted empty (no persistence): numbering continues above what the nodes saw, presence is claimed again, and the loss is logged', async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.kill());
    const nodes = await Promise.all([node(redis.url), node(redis.url)]);
    cleanup.push(() => Promise.all(nodes.map((n) => n.stop('SIGKILL'))));
    const [a, b] = nodes as [RunningServer, RunningServer];
    const talker = await helloTcp(a.tcpPort, 'talker');
    const watcher = await helloTcp(b.tcpPort, 'watcher');
    cleanup.push(() => [talker, watcher].forEach((c) => c.close()));
    for (const c of [talker, watcher]) await ask(c, { type: 'join', room: 'fragile', history: 0 });
    for (let i = 1; i <= 10; i++) expect((await ask(talker, { type: 'say', room: 'fragile', text: `m${i}` })).seq).toBe(i);
    await redis.kill();
    await redis.restart();
    await until('healthy again', async () => (await fetch(`http://127.0.0.1:${a.httpPort}/healthz`)).status === 200 && (await fetch(`http://127.0.0.1:${b.httpPort}/healthz`)).status === 200, 10_000);
    // The names online before are held again: a newcomer cannot take "watcher".
    await until('presence re-claimed', () => redis.cli('EXISTS', 'parley:lease:watcher').trim() === '1', 5000);
    const { connectTcp } = await import('../helpers/tcp-client.js');
    const twin = await connectTcp(a.tcpPort);
    cleanup.push(() => twin.close());
    expect((await ask(twin, { type: 'hello', name: 'watcher' })).code).toBe('name_taken');
    // A number a client has seen is never reused for another message.
    const ack = await ask(talker, { type: 'say', room: 'fragile', text: 'after the loss' });
    expect(ack.seq).toBe(11);
    const live = await watcher.next((e) => e.type === 'message' && e.text === 'after the loss');
    expect(live.seq).toBe(11);
    // Resuming across the loss: what was lost is not there; what follows is.
    const late = await helloTcp(b.tcpPort, 'late');
    cleanup.push(() => late.close());
    late.send({ type: 'join', room: 'fragile', since: 5, id: 'j' });
    const h = await late.next((e) => e.type === 'history' && e.room === 'fragile');
    expect((h.messages as { seq: number }[]).map((m) => m.seq)).toEqual([11]);
    await until('loss logged', () => b.stderr().includes('history of r:fragile was lost'), 5000);
  }, 60_000);

  it('DMs published while a subscription is down reach the online recipient when it is back (inbox read again)', async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.kill());
    const nodes = await Promise.all([node(redis.url), node(redis.url)]);
    cleanup.push(() => Promise.all(nodes.map((n) => n.stop('SIGKILL'))));
    const [a, b] = nodes as [RunningServer, RunningServer];
    const erin = await accountTcp(a.tcpPort, 'erin');
    const fred = await accountTcp(b.tcpPort, 'fred');
    cleanup.push(() => [erin, fred].forEach((c) => c.close()));
    // Subscriptions cut again and again while the DMs are sent: their notices are mostly published to
    // nobody (a subscriber needs 25-50 ms to come back), so they can only arrive through the inbox.
    const killer = new RedisClient({ target: parseRedisUrl(redis.url), name: 'killer', log: silentLogger });
    cleanup.push(() => killer.close());
    await killer.ready(5000);
    let killing = true;
    const kills = (async () => {
      while (killing) {
        await killer.command(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for (let i = 0; i < 200; i++) {
      erin.send({ type: 'dm', to: 'fred', text: `d${i}`, id: `d${i}` });
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
    }
    await until('acks', () => erin.events.filter((e) => e.type === 'ack' && String(e.re).startsWith('d')).length === 200, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(erin.events.filter((e) => e.type !== 'message').slice(-5))} ${erin.events.length}`);
    });
    killing = false;
    await kills;
    const got = (): Set<number> => new Set(fred.events.filter((e) => e.type === 'message' && e.from === 'erin').map((e) => e.seq as number));
    await until('every DM', () => got().size === 200, 20_000);
    expect([...got()].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(b.stderr()).toContain('subscription lost');
  }, 60_000);

  it('a guest who leaves while Redis is down does not keep the name: the release is done once Redis is back', async () => {
    const redis = await startRedis({ appendonly: true });
    cleanup.push(() => redis.kill());
    const nodes = await Promise.all([node(redis.url), node(redis.url)]);
    cleanup.push(() => Promise.all(nodes.map((n) => n.stop('SIGKILL'))));
    const [a, b] = nodes as [RunningServer, RunningServer];
    const ghost = await helloTcp(a.tcpPort, 'ghost');
    await redis.kill();
    ghost.close();
    await until('the node saw it go', async () => ((await (await fetch(`http://127.0.0.1:${a.httpPort}/healthz`)).json()) as { connections: { tcp: number } }).connections.tcp === 0);
    await redis.restart();
    const { connectTcp } = await import('../helpers/tcp-client.js');
    const heir = await connectTcp(b.tcpPort);
    cleanup.push(() => heir.close());
    let answer: Event | undefined;
    await until('the name is free', async () => {
      answer = await ask(heir, { type: 'hello', name: 'ghost' });
      return answer.type === 'welcome';
    }, 10_000);
    expect(answer?.type).toBe('welcome');
  }, 60_000);
});

