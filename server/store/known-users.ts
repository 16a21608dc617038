// Everyone who has ever said hello, by name key: first spelling wins, lastSeen moves. Both stores keep
// them in memory (bounding that is a later issue); paging walks the keys in order, sorted lazily so a
// hello storm of new names costs one sort at the next page, not one insertion shift per name.
import { nameKey } from '../../protocol/validate.js';
import type { KnownUser, UserPage } from './store.js';

export class KnownUsers {
  private readonly byKey = new Map<string, KnownUser>();
  private sorted: string[] = [];
  private unsorted = false;

  /** Returns the user as stored. */
  remember(name: string, lastSeen: string): KnownUser {
    const key = nameKey(name);
    const prev = this.byKey.get(key);
    const user = { name: prev?.name ?? name, lastSeen };
    this.byKey.set(key, user);
    if (!prev) {
      this.sorted.push(key);
      this.unsorted = true;
    }
    return user;
  }

  clear(): void {
    this.byKey.clear();
    this.sorted = [];
    this.unsorted = false;
  }

  get(userKey: string): KnownUser | undefined {
    return this.byKey.get(userKey);
  }

  get size(): number {
    return this.byKey.size;
  }

  page(after: string | undefined, limit: number): UserPage {
    if (this.unsorted) {
      this.sorted.sort();
      this.unsorted = false;
    }
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
}
