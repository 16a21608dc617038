// The client half of protocol v1 that both clients share, whatever draws the screen: request ids and
// replies, the rooms to rejoin after a reconnect, the last seq seen per room (resume with `since`,
// duplicates dropped), and requests typed while offline. Browser-safe: no Node imports.
import type { ChatMessage, Request, RequestId, ServerEvent } from './messages.js';
import { nameKey } from './validate.js';

/** A request without its id: the core numbers every request so each reply can be matched. */
export type Outbound = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export interface ClientCoreOptions {
  /** Writes one request on the current connection. */
  send(req: Request): void;
  /** Messages asked for on a first join (resumes ask for everything since the last seq seen). */
  historyOnJoin?: number;
}

export interface Pending {
  id: RequestId;
  req: Outbound;
}

export class ClientCore {
  name: string | undefined;
  /** Joined rooms by key -> display name, in join order: rejoined after every reconnect. */
  readonly rooms = new Map<string, string>();
  private readonly lastSeq = new Map<string, number>();
  private readonly pending = new Map<RequestId, Pending>();
  private queued: Pending[] = [];
  private nextId = 1;
  private ready = false;

  constructor(private readonly opts: ClientCoreOptions) {}

  get isReady(): boolean {
    return this.ready;
  }

  /** Requests sent and not yet answered, plus those waiting for a connection. */
  get outstanding(): number {
    return this.pending.size + this.queued.length;
  }

  /** A connection is open: introduce ourselves. Returns the hello's id. */
  connected(name: string): RequestId {
    this.name = name;
    this.ready = false;
    const id = `h${this.nextId++}`;
    this.opts.send({ type: 'hello', name, protocol: 1, client: 'parley', id } as Request);
    return id;
  }

  /**
   * The connection is gone. Returns the requests that were sent but never answered: they may or may
   * not have taken effect, so they are reported rather than silently sent again.
   */
  disconnected(): Pending[] {
    this.ready = false;
    const lost = [...this.pending.values()];
    this.pending.clear();
    return lost;
  }

  /** Sends now when welcomed, otherwise once the next welcome (and rejoin) has happened. */
  request(req: Outbound): RequestId {
    const p: Pending = { id: this.nextId++, req };
    if (this.ready) this.write(p);
    else this.queued.push(p);
    return p.id;
  }

  /** The request a reply answers, if any (and it stops being pending). */
  settle(re: RequestId | undefined): Pending | undefined {
    if (re === undefined) return undefined;
    const p = this.pending.get(re);
    this.pending.delete(re);
    return p;
  }

  /**
   * Feeds an event through the core. Returns false for a message already seen (a resume overlap),
   * which the caller must not show.
   */
  accept(ev: ServerEvent): boolean {
    switch (ev.type) {
      case 'welcome':
        this.name = ev.name;
        this.ready = true;
        for (const [key, room] of this.rooms) this.write(this.joinRequest(key, room));
        for (const p of this.queued.splice(0)) this.write(p);
        return true;
      case 'members':
        this.rooms.set(nameKey(ev.room), ev.room);
        return true;
      case 'message':
        return this.fresh(ev);
      case 'left':
        if (ev.name === this.name && ev.reason === undefined) this.rooms.delete(nameKey(ev.room));
        return true;
      default:
        return true;
    }
  }

  /** Keeps the messages of a history event that are new; updates the last seq seen. */
  freshHistory(messages: ChatMessage[]): ChatMessage[] {
    return messages.filter((m) => this.fresh(m));
  }

  /** The oldest seq shown for a room is up to the UI; this is the newest. */
  lastSeen(room: string): number | undefined {
    return this.lastSeq.get(`r:${nameKey(room)}`);
  }

  private fresh(m: ChatMessage): boolean {
    if (m.room === undefined) return true; // DMs leave the inbox exactly once; no resume needed
    const key = `r:${nameKey(m.room)}`;
    const last = this.lastSeq.get(key) ?? 0;
    if (m.seq <= last) return false;
    this.lastSeq.set(key, m.seq);
    return true;
  }

  private joinRequest(key: string, room: string): Pending {
    const since = this.lastSeq.get(`r:${key}`);
    const req: Outbound = since === undefined ? { type: 'join', room, history: this.opts.historyOnJoin ?? 50 } : { type: 'join', room, since };
    return { id: this.nextId++, req };
  }

  private write(p: Pending): void {
    this.pending.set(p.id, p);
    this.opts.send({ ...p.req, id: p.id } as Request);
  }
}
