// A hub with fake transports and a TestStore: each fake peer queues requests while the hub has paused
// it, as the real transports do, and records the events it was sent.
import type { ChatMessage, Request, ServerEvent } from '../../protocol/messages.js';
import { validateRequest } from '../../protocol/validate.js';
import { MemoryAccounts } from '../../server/accounts/account-store.js';
import { Hub } from '../../server/hub/hub.js';
import type { RateLimitSettings } from '../../server/hub/rate-limits.js';
import { silentLogger } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import type { Outgoing } from '../../server/outgoing.js';
import type { Peer, Session } from '../../server/peer.js';
import { TestStore } from './test-store.js';

/** A transport stand-in: it queues requests while the hub has paused it, as the real ones do. */
export class FakePeer implements Peer {
  readonly transport = 'tcp' as const;
  readonly events: ServerEvent[] = [];
  closed = false;
  paused = false;
  bufferedBytes = 0;
  session!: Session;
  private inbox: Request[] = [];
  constructor(readonly remote: string) {}
  send(event: Outgoing): boolean {
    if (this.closed) return false;
    this.events.push(structuredClone(event.event));
    return true;
  }
  close(): void {
    this.closed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    queueMicrotask(() => this.pump());
  }
  request(raw: object): void {
    const parsed = validateRequest(raw);
    if (!parsed.ok) throw new Error(`test sent an invalid request: ${parsed.message}`);
    this.inbox.push(parsed.request);
    this.pump();
  }
  private pump(): void {
    while (!this.paused && this.inbox.length > 0) this.session.receive(this.inbox.shift()!);
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

/** The reply to the request with this id, once it has come. */
export async function reply(peer: FakePeer, re: string | number): Promise<ServerEvent> {
  await waitFor(() => peer.events.some((e) => 're' in e && e.re === re));
  return peer.events.find((e) => 're' in e && e.re === re)!;
}

export async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
}

/** Lets every pending promise and microtask of the hub run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

export function setup(opts: { remote?: string; rateLimits?: RateLimitSettings | null; maxRooms?: number } = {}) {
  const store = new TestStore();
  const accounts = new MemoryAccounts();
  const hub = new Hub({ store, accounts, metrics: new Metrics(), log: silentLogger, serverName: 'test', helloTimeoutMs: 60_000, scrypt: FAST_SCRYPT, rateLimits: opts.rateLimits ?? null, maxRooms: opts.maxRooms ?? 0 });
  const registered = new Set<string>();
  /** A guest, or with `account` an account (registered on first use, logged into after). */
  const user = async (name: string, how: { account?: boolean } = {}) => {
    const peer = new FakePeer(opts.remote ?? `127.0.0.1:${1000 + registered.size}`);
    const session = hub.connect(peer);
    peer.session = session;
    const send = (req: object): void => peer.request(req);
    if (how.account && registered.has(name)) send({ type: 'hello', name, password: `pw-of-${name}` });
    else send({ type: 'hello', name });
    if (how.account && !registered.has(name)) {
      registered.add(name);
      send({ type: 'register', password: `pw-of-${name}`, id: 'register' });
      await waitFor(() => peer.events.some((e) => e.type === 'ack' && e.re === 'register'));
    } else {
      await waitFor(() => peer.events.some((e) => e.type === 'welcome' || e.type === 'error'));
    }
    return { peer, session, send };
  };
  /** A connection that has not said hello. */
  const raw = () => {
    const peer = new FakePeer(opts.remote ?? '127.0.0.1:999');
    const session = hub.connect(peer);
    peer.session = session;
    return { peer, session, send: (req: object): void => peer.request(req) };
  };
  return { hub, store, user, raw, accounts };
}

