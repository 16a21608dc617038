// The Lua scripts, each one atomic step in Redis. APPEND is the heart of cluster mode (after
// Centrifugo's publish script): in one step it checks the client's message id, numbers the message,
// stamps it, appends it to the conversation's stream and publishes the notice every node delivers
// from. Because Redis runs scripts one at a time, the order of a conversation is the order in which
// its appends ran, whichever node sent them, and the notices leave in that order too.
import { Script } from './client.js';

/**
 * KEYS: meta, log, mid key, inbox key ('' args are not keys: an unused key is still declared).
 * ARGV: 1 draft JSON, 2 retention (MAXLEN ~), 3 '1' when the mid key is used, 4 floor (the highest
 * seq the calling node has seen here), 5 epoch for a new numbering, 6 notice channel, 7 conv,
 * 8 mid TTL (s), 9 '1' to queue in the inbox.
 * Returns {1 stored | 0 duplicate, 'seq|ts', epoch}.
 *
 * The floor keeps numbers from going backwards when Redis has lost data the nodes saw (a flush, a
 * restart without persistence): a number a client has seen is never reused for another message. A
 * conversation whose meta is gone starts a new epoch, so a node can tell "history was lost" from
 * "nothing new".
 */
export const APPEND = new Script(
  'append',
  `
local stored = ARGV[3] == '1' and redis.call('GET', KEYS[3])
if stored then
  return {0, stored, redis.call('HGET', KEYS[1], 'e') or ''}
end
local floor = tonumber(ARGV[4])
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[5]
  redis.call('HSET', KEYS[1], 'e', epoch)
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
  if top then
    local s = tonumber(string.match(top[1], '^(%d+)'))
    if s > floor then floor = s end
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
if seq <= floor then
  seq = floor + 1
  redis.call('HSET', KEYS[1], 's', seq)
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local last = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
if now < last then now = last end
redis.call('HSET', KEYS[1], 't', now)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'd', ARGV[1], 't', now)
local stamp = seq .. '|' .. now
if ARGV[3] == '1' then redis.call('SET', KEYS[3], stamp, 'EX', ARGV[8]) end
if ARGV[9] == '1' then redis.call('ZADD', KEYS[4], now, ARGV[7] .. '#' .. seq) end
redis.call('PUBLISH', ARGV[6], ARGV[7] .. '\\n' .. seq .. '\\n' .. epoch .. '\\n' .. now .. '\\n' .. ARGV[1])
return {1, stamp, epoch}
`,
);

/**
 * KEYS: log, amendments (hash seq -> the message's change records, one JSON line each).
 * ARGV: 1 seq, 2 the change record (JSON), 3 retention (messages a conversation keeps).
 * Returns false when the seq is not a retained message, else every record of the message so far,
 * this one last, newline-separated: the node replays them (store/amendments.ts) into the state.
 *
 * Lua only appends text, so the rules of what an edit, delete or reaction does live in one place, in
 * TypeScript, for the file, memory and Redis stores alike; the script's atomicity gives every node
 * the same order of changes. The hash is swept of messages that aged out of the stream when it holds
 * more fields than the stream retains.
 */
export const AMEND = new Script(
  'amend',
  `
local id = ARGV[1] .. '-0'
if #redis.call('XRANGE', KEYS[1], id, id) == 0 then return false end
local old = redis.call('HGET', KEYS[2], ARGV[1])
local all = old and (old .. '\\n' .. ARGV[2]) or ARGV[2]
redis.call('HSET', KEYS[2], ARGV[1], all)
if redis.call('HLEN', KEYS[2]) > tonumber(ARGV[3]) then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  local floor = first and tonumber(string.match(first[1], '^(%d+)')) or math.huge
  for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do
    if tonumber(f) < floor then redis.call('HDEL', KEYS[2], f) end
  end
end
return all
`,
);

/**
 * KEYS: amendments. ARGV: 1 seq, 2 the records the node read, 3 the same state in fewer records.
 * Replaces the field only if nobody amended the message meanwhile. Returns 1 when replaced.
 */
export const COMPACT_AMENDS = new Script(
  'compact-amends',
  `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`,
);
