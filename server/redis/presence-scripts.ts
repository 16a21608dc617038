// Presence across nodes, as scripts: each step (claim a name, release it, leave a room, purge a dead
// node) reads and writes several keys and must not half-happen. A node is alive while its score in
// `parley:nodes` (the time its heartbeat promises to renew by) is in the future; every read of a
// holder or a member checks that, so a node killed without a word stops counting at once when its
// score passes, and the next heartbeat of any node purges what it left behind.
//
// These keys are global (not one slot): presence spans users and rooms by nature; a Parley cluster is
// served by one Redis primary (README).
import { Script } from './client.js';

const ALIVE = `
local function alive(node, now)
  local s = redis.call('ZSCORE', KEYS[3], node)
  return s and tonumber(s) >= now
end
local function live_holders(lease, now)
  local n = 0
  local f = redis.call('HGETALL', lease)
  for i = 1, #f, 2 do
    if string.sub(f[i], 1, 2) == 's:' then
      if alive(f[i + 1], now) then n = n + 1 else redis.call('HDEL', lease, f[i]) end
    end
  end
  return n
end
`;

/**
 * KEYS: 1 lease, 2 skeletons, 3 nodes, 4 node sessions.
 * ARGV: 1 key, 2 name, 3 kind (a|g), 4 session id, 5 node, 6 now, 7 skeleton, 8 lease key prefix.
 * Returns {1} granted, or {0, 'taken'|'lookalike', name}.
 */
export const CLAIM = new Script(
  'presence-claim',
  `${ALIVE}
local now = tonumber(ARGV[6])
local other = redis.call('HGET', KEYS[2], ARGV[7])
if other and other ~= ARGV[1] then
  local lease = ARGV[8] .. other
  if live_holders(lease, now) > 0 then return {0, 'lookalike', redis.call('HGET', lease, 'name') or other} end
end
local live = live_holders(KEYS[1], now)
local kind = redis.call('HGET', KEYS[1], 'kind')
if live == 1 and redis.call('HGET', KEYS[1], 's:' .. ARGV[4]) then
  -- The only holder claims again (a guest that registered): its kind follows.
  redis.call('HSET', KEYS[1], 'kind', ARGV[3])
  return {1}
end
if live > 0 and (kind == 'g' or ARGV[3] == 'g') and redis.call('HGET', KEYS[1], 's:' .. ARGV[4]) == false then
  return {0, 'taken', redis.call('HGET', KEYS[1], 'name') or ARGV[2]}
end
if live == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'name', ARGV[2], 'kind', ARGV[3], 'skel', ARGV[7])
end
redis.call('HSET', KEYS[1], 's:' .. ARGV[4], ARGV[5])
redis.call('HSET', KEYS[2], ARGV[7], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[1])
return {1}
`,
);

/** KEYS: 1 lease, 2 skeletons, 3 node sessions. ARGV: 1 session id, 2 key. Returns sessions left. */
export const RELEASE = new Script(
  'presence-release',
  `
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], 's:' .. ARGV[1])
local f = redis.call('HGETALL', KEYS[1])
local left = 0
local skel = nil
for i = 1, #f, 2 do
  if string.sub(f[i], 1, 2) == 's:' then left = left + 1 elseif f[i] == 'skel' then skel = f[i + 1] end
end
if left == 0 then
  redis.call('DEL', KEYS[1])
  if skel and redis.call('HGET', KEYS[2], skel) == ARGV[2] then redis.call('HDEL', KEYS[2], skel) end
end
return left
`,
);

/** KEYS: 1 room members, 2 node rooms, 3 active rooms. ARGV: 1 session id, 2 room key. */
export const LEAVE_ROOM = new Script(
  'presence-leave-room',
  `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[2] .. '|' .. ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('HDEL', KEYS[3], ARGV[2]) end
return 1
`,
);

/**
 * KEYS: 1 nodes, 2 skeletons, 3 active rooms. ARGV: 1 now, 2 key prefix ('parley:').
 * Purges up to 5 nodes whose heartbeat has lapsed: their sessions leave their leases and rooms.
 * Returns a flat list of (room key, room name, user name) for every user whose last session in a
 * room was on a purged node: the caller tells the room they left.
 */
export const PURGE = new Script(
  'presence-purge',
  `
local now = tonumber(ARGV[1])
local p = ARGV[2]
local out = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 5)) do
  local sessions = p .. 'node:' .. node .. ':sessions'
  local s = redis.call('HGETALL', sessions)
  for i = 1, #s, 2 do
    local lease = p .. 'lease:' .. s[i + 1]
    redis.call('HDEL', lease, 's:' .. s[i])
    local f = redis.call('HGETALL', lease)
    local left, skel = 0, nil
    for j = 1, #f, 2 do
      if string.sub(f[j], 1, 2) == 's:' then left = left + 1 elseif f[j] == 'skel' then skel = f[j + 1] end
    end
    if left == 0 then
      redis.call('DEL', lease)
      if skel and redis.call('HGET', KEYS[2], skel) == s[i + 1] then redis.call('HDEL', KEYS[2], skel) end
    end
  end
  local rooms = p .. 'node:' .. node .. ':rooms'
  local r = redis.call('HGETALL', rooms)
  for i = 1, #r, 2 do
    local bar = string.find(r[i], '|', 1, true)
    local room = string.sub(r[i], 1, bar - 1)
    local sid = string.sub(r[i], bar + 1)
    local rname = redis.call('HGET', KEYS[3], room) or room
    local members = p .. '{r:' .. room .. '}:members'
    local gone = redis.call('HGET', members, sid)
    redis.call('HDEL', members, sid)
    if gone then
      local name = string.match(gone, '^[^|]*|([^|]*)|')
      local still = false
      for _, v in ipairs(redis.call('HVALS', members)) do
        if string.lower(string.match(v, '^[^|]*|([^|]*)|') or '') == string.lower(name or '') then still = true end
      end
      if not still and name then
        table.insert(out, room)
        table.insert(out, rname)
        table.insert(out, name)
      end
    end
    if redis.call('HLEN', members) == 0 then redis.call('HDEL', KEYS[3], room) end
  end
  redis.call('DEL', sessions, rooms)
  redis.call('ZREM', KEYS[1], node)
end
return out
`,
);

export const PRESENCE_SCRIPTS = [CLAIM, RELEASE, LEAVE_ROOM, PURGE];
