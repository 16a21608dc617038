// The Store contract on Redis: a conversation is a hash (seq, epoch, last ts) and a stream of its
// retained messages; the append script numbers, stores and publishes in one step. Reads go to the
// streams. Edits, deletions and reactions are change records in a hash beside the stream (amend-log.ts),
// applied to every message read. Known users, rooms and inboxes are small structures beside them (keys.ts).
//
// "Durable" here means "in Redis": an append's done is called when Redis has run the script, which
// with appendonly yes + appendfsync always means fsynced before Redis replied (README: what an ack
// promises in cluster mode).
import { randomUUID } from 'node:crypto';
import type { ChatMessage } from '../../protocol/messages.js';
import { nameKey } from '../../protocol/names.js';
import type { Logger } from '../log.js';
import { NoSuchMessage, type Amended, type Appended, type Change, type ConvKey, type Done, type Draft, type HistoryPage, type HistoryQuery, type InboxItem, type KnownUser, type MessageRef, type SearchPage, type SearchQuery, type Store, type StoreUsage, type UserPage } from '../store/store.js';
import { asArray, asInt, asString, type RedisClient } from './client.js';
import type { ConvMemory } from './conv-memory.js';
import { channels, keys } from './keys.js';
import { RedisSearch } from './redis-search.js';
import { applyAmends, compacted, COMPACT_OVER, encodeChange, replay } from './amend-log.js';
import { encodeDraft, entryMessage } from './message-codec.js';
import { AMEND, APPEND, COMPACT_AMENDS } from './scripts.js';

export interface RedisStoreOptions {
  redis: RedisClient;
  memory: ConvMemory;
  historyPerRoom: number;
  log: Logger;
  /** How long a client's message id is remembered (s). */
  midTtlSeconds?: number;
}

export class RedisStore implements Store {
  private readonly redis: RedisClient;
  /** Rooms this node has already listed in `parley:rooms`. */
  private readonly listed = new Set<string>();
  /** Appends sent and appends answered (Redis answers in order), for whenDurable's waiters. */
  private appended = 0;
  private settled = 0;
  private readonly waiters: { mark: number; done: Done }[] = [];
  private readonly words: RedisSearch;
  /** Known users as last counted (usage() is synchronous; the count is refreshed as users come). */
  private knownUsers = 0;

  constructor(private readonly opts: RedisStoreOptions) {
    this.redis = opts.redis;
    this.words = new RedisSearch(opts.redis, opts.log);
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  append(conv: ConvKey, draft: Draft, inboxFor: string | undefined, done: Appended): void {
    if (draft.room === undefined && draft.to === undefined) return queueMicrotask(() => done(new Error('a message needs a room or a recipient'), undefined));
    const fromKey = nameKey(draft.from);
    const mid = draft.mid;
    const encoded = encodeDraft(draft);
    this.appended++;
    this.redis
      .eval(
        APPEND,
        [keys.meta(conv), keys.log(conv), keys.mid(conv, fromKey, mid ?? ''), keys.inbox(inboxFor ?? '')],
        [
          encoded,
          this.opts.historyPerRoom,
          mid === undefined ? '0' : '1',
          this.opts.memory.floor(conv),
          randomUUID(),
          channels.notices,
          conv,
          this.opts.midTtlSeconds ?? 86_400,
          inboxFor === undefined ? '0' : '1',
        ],
      )
      .then(
        (reply) => {
          this.settle();
          const [stored, stamp, epoch] = asArray(reply);
          const [seqText, tsText] = (asString(stamp ?? null) ?? '').split('|');
          const seq = Number(seqText);
          this.opts.memory.saw(conv, seq, asString(epoch ?? null) ?? '');
          const msg: ChatMessage =
            draft.room !== undefined
              ? { type: 'message', room: draft.room, from: draft.from, text: draft.text, seq, ts: new Date(Number(tsText)).toISOString() }
              : { type: 'message', to: draft.to, from: draft.from, text: draft.text, seq, ts: new Date(Number(tsText)).toISOString() };
          if (draft.action === true) msg.action = true;
          if (draft.guest === true) msg.guest = true;
          if (draft.mentions !== undefined && draft.mentions.length > 0) msg.mentions = draft.mentions;
          if (draft.room !== undefined && conv.startsWith('r:') && !this.listed.has(conv)) {
            this.listed.add(conv);
            this.redis.command(['HSETNX', keys.rooms, conv.slice(2), draft.room]).catch(() => this.listed.delete(conv));
          }
          if (stored !== 0) this.words.index(conv, seq, draft.text);
          done(null, msg, stored === 0);
        },
        (err: Error) => {
          this.settle();
          done(err, undefined);
        },
      );
  }

  /**
   * An answered append is as durable as Redis makes it (README: what an ack promises in cluster mode),
   * so this only waits for the appends sent before it to be answered.
   */
  whenDurable(done: Done): void {
    if (this.settled >= this.appended) return queueMicrotask(() => done(null));
    this.waiters.push({ mark: this.appended, done });
  }

  private settle(): void {
    this.settled++;
    while (this.waiters.length > 0 && this.waiters[0]!.mark <= this.settled) this.waiters.shift()!.done(null);
  }

  async history(conv: ConvKey, q: HistoryQuery): Promise<HistoryPage> {
    const lo = q.after === undefined ? 1 : q.after + 1;
    const hi = q.before === undefined ? Number.MAX_SAFE_INTEGER : q.before - 1;
    const limit = Math.max(0, Math.floor(q.limit));
    if (hi < lo || limit === 0) return { messages: [], more: false };
    const oldest = q.from === 'oldest';
    const reply = oldest
      ? await this.redis.command(['XRANGE', keys.log(conv), `${lo}-0`, hi === Number.MAX_SAFE_INTEGER ? '+' : `${hi}`, 'COUNT', limit + 1])
      : await this.redis.command(['XREVRANGE', keys.log(conv), hi === Number.MAX_SAFE_INTEGER ? '+' : `${hi}`, `${lo}-0`, 'COUNT', limit + 1]);
    const entries = asArray(reply);
    const more = entries.length > limit;
    const messages: ChatMessage[] = [];
    for (const e of entries.slice(0, limit)) {
      const m = entryMessage(e);
      if (m) messages.push(m);
      else this.opts.log.warn(`redis: skipped a malformed entry of ${conv}`);
    }
    if (!oldest) messages.reverse();
    if (messages.length === 0) return { messages, more };
    const fields = asArray(await this.redis.command(['HMGET', keys.amends(conv), ...messages.map((m) => String(m.seq))]));
    return { messages: applyAmends(conv, messages, fields.map((f) => asString(f ?? null))), more };
  }

  async message(conv: ConvKey, seq: number): Promise<ChatMessage | undefined> {
    const [entries, field] = await Promise.all([
      this.redis.command(['XRANGE', keys.log(conv), `${seq}-0`, `${seq}-0`]),
      this.redis.command(['HGET', keys.amends(conv), String(seq)]),
    ]);
    const first = asArray(entries)[0];
    const msg = first === undefined ? undefined : entryMessage(first);
    return msg && applyAmends(conv, [msg], [asString(field)])[0];
  }

  /**
   * The AMEND script appends the change to the message's records only if the message is in the
   * stream, atomically, and answers with all of them: the state is their replay. A field that has
   * grown long (reactions toggled many times) is rewritten shorter, unless it changed meanwhile.
   */
  amend(conv: ConvKey, seq: number, change: Change, done: (err: Error | null, state: Amended | undefined) => void): void {
    this.redis.eval(AMEND, [keys.log(conv), keys.amends(conv)], [seq, encodeChange(conv, seq, change), this.opts.historyPerRoom]).then(
      (reply) => {
        const all = asString(reply);
        if (all === null) return done(new NoSuchMessage(`no message ${seq} in ${conv}`), undefined);
        const { amendments, lines } = replay([all]);
        const state = amendments.get(conv, seq);
        if (!state) return done(new Error(`the changes of ${conv} ${seq} could not be read back`), undefined);
        if (change.kind === 'edit') this.words.index(conv, seq, change.text);
        if (lines > COMPACT_OVER) {
          this.redis.eval(COMPACT_AMENDS, [keys.amends(conv)], [seq, all, compacted(amendments)]).catch((err: Error) => this.opts.log.debug(`redis: compacting ${conv} ${seq}: ${err.message}`));
        }
        done(null, state);
      },
      (err: Error) => done(err, undefined),
    );
  }

  async lastSeq(conv: ConvKey): Promise<number> {
    const [seq, epoch] = asArray(await this.redis.command(['HMGET', keys.meta(conv), 's', 'e']));
    const n = asInt(seq ?? null);
    this.opts.memory.saw(conv, n, asString(epoch ?? null) ?? '');
    // After a loss the numbering continues above what this node saw, so that is the last seq here.
    return Math.max(n, this.opts.memory.floor(conv));
  }

  search(query: SearchQuery): Promise<SearchPage> {
    return this.words.search(query, (conv, seq) => this.message(conv, seq));
  }

  /**
   * History lives in Redis, bounded per conversation by the stream's MAXLEN (--history-per-room):
   * --max-store-bytes is the embedded stores' budget, so no bytes are counted here.
   */
  usage(): StoreUsage {
    return { knownUsers: this.knownUsers, bytes: 0 };
  }

  async rooms(): Promise<string[]> {
    return asArray(await this.redis.command(['HVALS', keys.rooms])).filter((v): v is string => typeof v === 'string');
  }

  rememberUser(name: string, lastSeen: string): void {
    const key = nameKey(name);
    const fail = (err: Error): void => this.opts.log.warn(`redis: remembering ${name}: ${err.message}`);
    this.redis.command(['HSETNX', keys.userName, key, name]).catch(fail);
    this.redis.command(['HSET', keys.userSeen, key, lastSeen]).catch(fail);
    this.redis.command(['ZADD', keys.userKeys, 0, key]).catch(fail);
    this.redis.command(['ZCARD', keys.userKeys]).then((n) => (this.knownUsers = asInt(n)), fail);
  }

  async knownUser(userKey: string): Promise<KnownUser | undefined> {
    const [name, seen] = await Promise.all([this.redis.command(['HGET', keys.userName, userKey]), this.redis.command(['HGET', keys.userSeen, userKey])]);
    const n = asString(name);
    return n === null ? undefined : { name: n, lastSeen: asString(seen) ?? new Date(0).toISOString() };
  }

  async users(after: string | undefined, limit: number): Promise<UserPage> {
    const found = asArray(await this.redis.command(['ZRANGEBYLEX', keys.userKeys, after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit + 1]));
    const page = found.slice(0, limit).filter((k): k is string => typeof k === 'string');
    if (page.length === 0) return { users: [], more: false };
    const [names, seen] = await Promise.all([this.redis.command(['HMGET', keys.userName, ...page]), this.redis.command(['HMGET', keys.userSeen, ...page])]);
    const n = asArray(names);
    const s = asArray(seen);
    const users: KnownUser[] = [];
    page.forEach((k, i) => {
      const name = n[i];
      const lastSeen = s[i];
      if (typeof name === 'string') users.push({ name, lastSeen: typeof lastSeen === 'string' ? lastSeen : new Date(0).toISOString() });
    });
    return { users, more: found.length > limit };
  }

  async inbox(userKey: string, limit: number): Promise<InboxItem[]> {
    const refs = asArray(await this.redis.command(['ZRANGE', keys.inbox(userKey), 0, limit - 1])).filter((r): r is string => typeof r === 'string');
    const found = await Promise.all(
      refs.map(async (ref) => {
        const hash = ref.lastIndexOf('#');
        const conv = ref.slice(0, hash);
        const seq = Number(ref.slice(hash + 1));
        const msg = await this.message(conv, seq);
        return { ref, conv, msg };
      }),
    );
    const gone = found.filter((f) => !f.msg).map((f) => f.ref);
    // Aged out of its conversation (retention) or lost: it leaves the inbox too.
    if (gone.length > 0) this.redis.command(['ZREM', keys.inbox(userKey), ...gone]).catch(() => undefined);
    return found.flatMap((f) => (f.msg ? [{ conv: f.conv, msg: f.msg }] : []));
  }

  markDelivered(userKey: string, refs: readonly MessageRef[], done: Done): void {
    if (refs.length === 0) return queueMicrotask(() => done(null));
    this.redis.command(['ZREM', keys.inbox(userKey), ...refs.map((r) => `${r.conv}#${r.seq}`)]).then(
      () => done(null),
      (err: Error) => done(err),
    );
  }
}
