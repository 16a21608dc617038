// search() in cluster mode: a word index kept in Redis, so every node answers from the same one and
// nothing scans a stream. Each word is a sorted set of `conv\nseq` members scored by a cluster-wide
// counter (the order messages were indexed in, which is what `next` pages by). A query walks the
// smallest of its words' sets from the newest down, keeps the members in scope, and reads each
// candidate in its latest state: deleted, aged-out and edited-away matches drop out there. An edit
// indexes the new words under a new number, which also moves the message's member in the sets of
// words it kept (a member is in a set once), so one walk never meets a message twice.
//
// Bounds: each word's set keeps its newest POSTINGS_PER_WORD members (older ones go at indexing
// time), and one query reads at most MAX_CANDIDATES candidates; past that it answers with what it
// found and a `next`, so a common word in a huge cluster costs a page, never a scan.
import type { ChatMessage } from '../../protocol/messages.js';
import { searchTerms } from '../../protocol/search-terms.js';
import type { Logger } from '../log.js';
import { hasAll, isSideOf } from '../store/search-query.js';
import type { ConvKey, SearchHit, SearchPage, SearchQuery } from '../store/store.js';
import { asArray, asInt, asString, type RedisClient } from './client.js';

const P = 'parley:search';
const COUNTER = `${P}:n`;
const wordKey = (term: string): string => `${P}:w:${term}`;
export const POSTINGS_PER_WORD = 50_000;
const MAX_CANDIDATES = 2_000;
const BATCH = 100;

export class RedisSearch {
  constructor(
    private readonly redis: RedisClient,
    private readonly log: Logger,
  ) {}

  /** Indexes a stored message's words (or an edit's new ones); best effort, failures logged. */
  index(conv: ConvKey, seq: number, text: string): void {
    const terms = searchTerms(text);
    if (terms.length === 0) return;
    const member = `${conv}\n${seq}`;
    this.redis
      .command(['INCR', COUNTER])
      .then((n) =>
        Promise.all(
          terms.flatMap((t) => [
            this.redis.command(['ZADD', wordKey(t), asInt(n), member]),
            this.redis.command(['ZREMRANGEBYRANK', wordKey(t), 0, -(POSTINGS_PER_WORD + 1)]),
          ]),
        ),
      )
      .catch((err: Error) => this.log.warn(`search: could not index ${conv} seq ${seq}: ${err.message}`));
  }

  async search(q: SearchQuery, read: (conv: ConvKey, seq: number) => Promise<ChatMessage | undefined>): Promise<SearchPage> {
    const cards = await Promise.all(q.terms.map((t) => this.redis.command(['ZCARD', wordKey(t)]).then(asInt)));
    if (cards.some((c) => c === 0)) return { hits: [], more: false };
    const rarest = wordKey(q.terms[cards.indexOf(Math.min(...cards))]!);
    const convs = new Set(q.convs);
    const inScope = (conv: ConvKey): boolean => convs.has(conv) || (q.dmsOf !== undefined && isSideOf(conv, q.dmsOf));
    const want = q.limit + 1;
    const hits: { hit: SearchHit; key: number }[] = [];
    let max = q.before === undefined ? '+inf' : `(${q.before}`;
    let seen = 0;
    let lastKey: number | undefined;
    let exhausted = false;
    while (hits.length < want && seen < MAX_CANDIDATES) {
      const reply = asArray(await this.redis.command(['ZREVRANGEBYSCORE', rarest, max, '-inf', 'WITHSCORES', 'LIMIT', 0, BATCH]));
      if (reply.length === 0) {
        exhausted = true;
        break;
      }
      const batch: { conv: ConvKey; seq: number; key: number }[] = [];
      for (let i = 0; i + 1 < reply.length; i += 2) {
        const member = asString(reply[i]!) ?? '';
        const key = Number(asString(reply[i + 1]!));
        const nl = member.lastIndexOf('\n');
        batch.push({ conv: member.slice(0, nl), seq: Number(member.slice(nl + 1)), key });
      }
      seen += batch.length;
      lastKey = batch[batch.length - 1]!.key;
      max = `(${lastKey}`;
      const scoped = batch.filter((b) => inScope(b.conv));
      const msgs = await Promise.all(scoped.map((b) => read(b.conv, b.seq)));
      for (let i = 0; i < scoped.length && hits.length < want; i++) {
        const m = msgs[i];
        if (m === undefined || m.deleted || !hasAll(m.text, q.terms)) continue;
        hits.push({ hit: { conv: scoped[i]!.conv, msg: m }, key: scoped[i]!.key });
      }
      if (batch.length < BATCH) {
        exhausted = true;
        break;
      }
    }
    if (hits.length > q.limit) {
      const page = hits.slice(0, q.limit);
      return { hits: page.map((h) => h.hit), more: true, next: page[page.length - 1]!.key };
    }
    // Stopped by the candidate bound with fewer hits than asked: the rest is older than lastKey.
    if (!exhausted && lastKey !== undefined) return { hits: hits.map((h) => h.hit), more: true, next: lastKey };
    return { hits: hits.map((h) => h.hit), more: false };
  }
}
