// Everyone who has said hello, by name key: first spelling wins, lastSeen moves. Paging walks the keys
// in order, sorted lazily so a hello storm of new names costs one sort at the next page, not one
// insertion shift per name.
//
// Guests are not kept for ever (issue 13, quotas): a guest that is offline and has not come back
// within `forgetAfterMs` is forgotten, and at most `maxGuests` offline guests are kept, the longest
// gone going first, so a churn of new names faster than the timer still cannot grow the table.
// Accounts, and guests online now, are never forgotten. A user recorded without saying which it is
// (data written before guests were told apart) counts as an account: keeping one too many is safe,
// forgetting an account is not.
import { nameKey } from '../../protocol/validate.js';
import type { KnownUser, Seen, UserPage } from './store.js';

export interface ForgetPolicy {
  /** Offline guests not seen for this long are forgotten; 0 = never by time. */
  forgetAfterMs: number;
  /** Offline guests kept at most, the longest gone forgotten first; 0 = no cap. */
  maxGuests: number;
}

export const KEEP_EVERYONE: ForgetPolicy = { forgetAfterMs: 0, maxGuests: 0 };

/** Stale keys tolerated in the sorted list before it is compacted, besides one per live key. */
const STALE_SLACK = 1024;

export class KnownUsers {
  private readonly byKey = new Map<string, KnownUser>();
  /** Guests, online or not. */
  private readonly guests = new Set<string>();
  /** Offline guests, longest gone first (Map order), with lastSeen in epoch ms. */
  private readonly offlineGuests = new Map<string, number>();
  private sorted: string[] = [];
  /** The sorted list needs a sort (new keys pushed) or holds keys since forgotten. */
  private unsorted = false;
  private stale = 0;
  /** While a log is replayed: records come in log order, not lastSeen order, so forgetting waits. */
  private loading = false;

  constructor(
    private readonly policy: ForgetPolicy = KEEP_EVERYONE,
    /** Told of each forgotten key, so the owner can drop what it keeps for it. */
    private readonly forgotten: (key: string) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the user as stored. */
  remember(name: string, lastSeen: string, seen: Seen = {}): KnownUser {
    const key = nameKey(name);
    const prev = this.byKey.get(key);
    const user = { name: prev?.name ?? name, lastSeen };
    this.byKey.set(key, user);
    if (!prev) {
      this.sorted.push(key);
      this.unsorted = true;
    }
    this.offlineGuests.delete(key);
    if (seen.guest === true) this.guests.add(key);
    else this.guests.delete(key);
    if (seen.guest === true && seen.online !== true) {
      const ms = Date.parse(lastSeen);
      this.offlineGuests.set(key, Number.isNaN(ms) ? 0 : ms);
    }
    this.sweep();
    return user;
  }

  /** Replaying a log: nothing is forgotten until endLoad(). */
  beginLoad(): void {
    this.loading = true;
  }

  /** The log is replayed: puts offline guests in lastSeen order and applies the policy once. */
  endLoad(): void {
    this.loading = false;
    const byAge = [...this.offlineGuests].sort((a, b) => a[1] - b[1]);
    this.offlineGuests.clear();
    for (const [k, ms] of byAge) this.offlineGuests.set(k, ms);
    this.sweep();
  }

  clear(): void {
    this.byKey.clear();
    this.guests.clear();
    this.offlineGuests.clear();
    this.sorted = [];
    this.unsorted = false;
    this.stale = 0;
  }

  get(userKey: string): KnownUser | undefined {
    this.sweep();
    return this.byKey.get(userKey);
  }

  isGuest(userKey: string): boolean {
    return this.guests.has(userKey);
  }

  get size(): number {
    this.sweep();
    return this.byKey.size;
  }

  page(after: string | undefined, limit: number): UserPage {
    this.sweep();
    if (this.unsorted) this.compact();
    let lo = 0;
    if (after !== undefined) {
      let hi = this.sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.sorted[mid]! <= after) lo = mid + 1;
        else hi = mid;
      }
    }
    const end = Math.min(this.sorted.length, lo + Math.max(0, Math.floor(limit)));
    const users = this.sorted.slice(lo, end).map((k) => this.byKey.get(k)!);
    return { users, more: end < this.sorted.length };
  }

  *entries(): Iterable<[string, KnownUser]> {
    yield* this.byKey;
  }

  /** Forgets offline guests gone too long, then the longest gone beyond the cap. O(1) when none are due. */
  private sweep(): void {
    if (this.loading) return;
    const { forgetAfterMs, maxGuests } = this.policy;
    const cutoff = forgetAfterMs > 0 ? this.now() - forgetAfterMs : -Infinity;
    for (const [key, ms] of this.offlineGuests) {
      if (ms >= cutoff && (maxGuests === 0 || this.offlineGuests.size <= maxGuests)) break;
      this.offlineGuests.delete(key);
      this.guests.delete(key);
      this.byKey.delete(key);
      this.stale++;
      this.unsorted = true;
      this.forgotten(key);
    }
    // Without this, names forgotten but never paged past would pile up in the sorted list.
    if (this.stale > this.byKey.size + STALE_SLACK) this.compact();
  }

  /** Drops forgotten keys from the sorted list and sorts it; a key forgotten and re-remembered is listed once. */
  private compact(): void {
    const live = this.sorted.filter((k) => this.byKey.has(k)).sort();
    let n = 0;
    for (let i = 0; i < live.length; i++) if (i === 0 || live[i] !== live[i - 1]) live[n++] = live[i]!;
    live.length = n;
    this.sorted = live;
    this.unsorted = false;
    this.stale = 0;
  }
}
