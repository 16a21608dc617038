// Read markers on Redis: one hash per account, conv -> `seq|display name`, shared by every node, so a
// marker moved on one node is what a session on another is given on join and by `reads`.
import type { ReadMarker, ReadStore } from '../kv/read-markers.js';
import { asArray, asInt, asString, Script, type RedisClient } from './client.js';
import { keys } from './keys.js';

/**
 * KEYS: the account's markers. ARGV: 1 conv, 2 seq, 3 `seq|name`. Moves the marker only forward, in
 * one step, so two sessions on two nodes cannot move it back. Returns 1 when it moved.
 */
export const ADVANCE_READ = new Script(
  'advance-read',
  `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and tonumber(string.match(old, '^(%d+)')) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`,
);

function decode(conv: string, value: string | null): ReadMarker | undefined {
  if (value === null) return undefined;
  const bar = value.indexOf('|');
  const seq = Number(value.slice(0, bar));
  return bar > 0 && Number.isSafeInteger(seq) && seq >= 1 ? { conv, name: value.slice(bar + 1), seq } : undefined;
}

export class RedisReads implements ReadStore {
  constructor(private readonly redis: RedisClient) {}

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async get(userKey: string, conv: string): Promise<ReadMarker | undefined> {
    return decode(conv, asString(await this.redis.command(['HGET', keys.reads(userKey), conv])));
  }

  async all(userKey: string): Promise<ReadMarker[]> {
    const flat = asArray(await this.redis.command(['HGETALL', keys.reads(userKey)]));
    const out: ReadMarker[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const conv = asString(flat[i] ?? null);
      const m = conv === null ? undefined : decode(conv, asString(flat[i + 1] ?? null));
      if (m) out.push(m);
    }
    // As MemoryReads orders them: by conv, so rooms (`r:`) come before people (`w:`).
    return out.sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : 0));
  }

  async advance(userKey: string, marker: ReadMarker): Promise<boolean> {
    const moved = await this.redis.eval(ADVANCE_READ, [keys.reads(userKey)], [marker.conv, marker.seq, `${marker.seq}|${marker.name}`]);
    return asInt(moved) === 1;
  }
}
