package redis

import goredis "github.com/redis/go-redis/v9"

// The presence of one session lives in keys under base = "<prefix>pres:{<sid>}:":
//
//	users       HASH user → {"n": display name, "r": role}
//	conns       HASH user → connections over all nodes
//	node:<id>   HASH user → connections on that node
//	nodes       SET  nodes that have (had) connections in the session
//	meta        HASH viewers, vms (viewer-milliseconds), last (ms of the last change)
//	closed      STRING, for 2×TTL after the session closed: late writers are refused
//
// and the lease of each (session, node) pair is a member "<sid>\n<node>" of
// the ZSET "<prefix>pres:leases" scored by its expiry (Redis clock, ms).
// Every change is one script, so counts never drift under concurrency.
const presenceLuaPrelude = nowMillisLua + `
local base = ARGV[1]
local function acc(now)
  local m = base .. 'meta'
  local v = tonumber(redis.call('HGET', m, 'viewers') or '0')
  local last = tonumber(redis.call('HGET', m, 'last') or now)
  if now > last then
    redis.call('HINCRBY', m, 'vms', v * (now - last))
    redis.call('HSET', m, 'last', now)
  elseif redis.call('HEXISTS', m, 'last') == 0 then
    redis.call('HSET', m, 'last', now)
  end
end
local function isviewer(r) return r == 'viewer' or r == 'pending' end
local function viewers() return tonumber(redis.call('HGET', base .. 'meta', 'viewers') or '0') end
local function roleof(user)
  local info = redis.call('HGET', base .. 'users', user)
  if info then return cjson.decode(info).r end
  return ''
end
-- drop removes up to n connections of user on node; it returns the user's
-- role when that was the user's last connection anywhere, false otherwise.
local function drop(node, user, n, now)
  local nk = base .. 'node:' .. node
  local have = tonumber(redis.call('HGET', nk, user) or '0')
  if have <= 0 then return false end
  if n > have then n = have end
  if have - n <= 0 then redis.call('HDEL', nk, user) else redis.call('HSET', nk, user, have - n) end
  local total = redis.call('HINCRBY', base .. 'conns', user, -n)
  if total > 0 then return false end
  redis.call('HDEL', base .. 'conns', user)
  local role = roleof(user)
  redis.call('HDEL', base .. 'users', user)
  if isviewer(role) then
    acc(now)
    redis.call('HINCRBY', base .. 'meta', 'viewers', -1)
  end
  return role
end
-- add adds n connections of user on node; true when the user was not present.
local function add(node, user, info, role, n, now)
  redis.call('SADD', base .. 'nodes', node)
  redis.call('HINCRBY', base .. 'node:' .. node, user, n)
  local total = redis.call('HINCRBY', base .. 'conns', user, n)
  if total ~= n then return false end
  acc(now)
  redis.call('HSET', base .. 'users', user, info)
  if isviewer(role) then redis.call('HINCRBY', base .. 'meta', 'viewers', 1) end
  return true
end
local function lease(leases, member, ttl)
  redis.call('ZADD', leases, nowms() + ttl, member)
end
-- dropnode removes everything a node contributed to the session; when
-- nobody is left from any node, the session's keys go too. It returns the
-- users who are no longer present, each followed by the role they had.
local function dropnode(node, now, cleanup)
  local nk = base .. 'node:' .. node
  local flat = redis.call('HGETALL', nk)
  local left = {}
  for i = 1, #flat, 2 do
    local role = drop(node, flat[i], tonumber(flat[i + 1]), now)
    if role then
      left[#left + 1] = flat[i]
      left[#left + 1] = role
    end
  end
  redis.call('DEL', nk)
  redis.call('SREM', base .. 'nodes', node)
  if cleanup and redis.call('SCARD', base .. 'nodes') == 0 and redis.call('HLEN', base .. 'users') == 0 then
    redis.call('DEL', base .. 'meta', base .. 'conns', base .. 'users', base .. 'nodes')
  end
  return left
end
-- stale: the session closed, or this node's part was lost (Redis restarted
-- empty, or the lease lapsed and was reaped) while the node had users in it:
-- the caller rebuilds the whole part rather than add to a partial one.
local function stale(leases, member, expectlease)
  if redis.call('EXISTS', base .. 'closed') == 1 then return 'closed' end
  if expectlease == '1' and not redis.call('ZSCORE', leases, member) then return 'lost' end
  return nil
end
`

// ARGV: base, leases, member, ttl, node, user, info, role, now, expectlease.
// Returns {first, viewers}, or a status string (stale).
var enterScript = goredis.NewScript(presenceLuaPrelude + `
local st = stale(ARGV[2], ARGV[3], ARGV[10])
if st then return st end
lease(ARGV[2], ARGV[3], tonumber(ARGV[4]))
local first = add(ARGV[5], ARGV[6], ARGV[7], ARGV[8], 1, tonumber(ARGV[9]))
return {first and 1 or 0, viewers()}
`)

// ARGV: base, node, user, all, now, leases, member, expectlease.
// Returns {last, role, viewers}, or a status string (stale).
var leaveScript = goredis.NewScript(presenceLuaPrelude + `
local st = stale(ARGV[6], ARGV[7], ARGV[8])
if st then return st end
local user, now = ARGV[3], tonumber(ARGV[5])
local role = roleof(user)
local left = false
if ARGV[4] == '1' then
  for _, n in ipairs(redis.call('SMEMBERS', base .. 'nodes')) do
    if drop(n, user, 1e12, now) then left = true end
  end
else
  if drop(ARGV[2], user, 1, now) then left = true end
end
return {left and 1 or 0, role, viewers()}
`)

// ARGV: base, user, role, now. Returns viewers.
var setRoleScript = goredis.NewScript(presenceLuaPrelude + `
local user, role, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local info = redis.call('HGET', base .. 'users', user)
if info then
  local d = cjson.decode(info)
  local was, is = isviewer(d.r), isviewer(role)
  if was ~= is then
    acc(now)
    redis.call('HINCRBY', base .. 'meta', 'viewers', is and 1 or -1)
  end
  d.r = role
  redis.call('HSET', base .. 'users', user, cjson.encode(d))
end
return viewers()
`)

// ARGV: base, leases, sid, now, tombstone ms. Returns {viewer-seconds, users...}.
var closeScript = goredis.NewScript(presenceLuaPrelude + `
local sid, now = ARGV[3], tonumber(ARGV[4])
redis.call('SET', base .. 'closed', '1', 'PX', ARGV[5])
if redis.call('EXISTS', base .. 'meta') == 0 then return {0} end
acc(now)
local vms = tonumber(redis.call('HGET', base .. 'meta', 'vms') or '0')
local out = {math.floor(vms / 1000)}
for _, u in ipairs(redis.call('HKEYS', base .. 'users')) do out[#out + 1] = u end
for _, n in ipairs(redis.call('SMEMBERS', base .. 'nodes')) do
  redis.call('DEL', base .. 'node:' .. n)
  redis.call('ZREM', ARGV[2], sid .. '\n' .. n)
end
redis.call('DEL', base .. 'users', base .. 'conns', base .. 'meta', base .. 'nodes')
return out
`)

// syncScript replaces what a node contributes to a session by its own
// record (after Redis lost it, or the node's lease lapsed): its old
// entries are dropped, then each of its users is added back with its
// connection count. A role already in Redis (changed through another node)
// wins over the node's copy.
// ARGV: base, leases, member, ttl, node, now, then (user, info, role, n)...
// Returns viewers, or 'closed'.
var syncScript = goredis.NewScript(presenceLuaPrelude + `
if redis.call('EXISTS', base .. 'closed') == 1 then
  dropnode(ARGV[5], tonumber(ARGV[6]), true)
  redis.call('ZREM', ARGV[2], ARGV[3])
  return 'closed'
end
local node, now = ARGV[5], tonumber(ARGV[6])
local keep = {}
local i = 7
while i <= #ARGV do
  local cur = redis.call('HGET', base .. 'users', ARGV[i])
  if cur then keep[ARGV[i]] = cur end
  i = i + 4
end
dropnode(node, now, #ARGV < 7)
i = 7
while i <= #ARGV do
  local user, info, role, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  if keep[user] then
    info = keep[user]
    role = cjson.decode(info).r
  end
  add(node, user, info, role, n, now)
  i = i + 4
end
if #ARGV >= 7 then lease(ARGV[2], ARGV[3], tonumber(ARGV[4])) else redis.call('ZREM', ARGV[2], ARGV[3]) end
return viewers()
`)

// reapScript removes a node's contribution to a session when its lease has
// expired (the node died or lost Redis for longer than the lease). The
// lease is checked again inside the script: a node that came back in the
// meantime keeps its users. ARGV: base, leases, member, node, now.
// Returns {} when nothing was reaped, else {viewers, user, role, ...}: the
// users who are no longer present anywhere, with their roles.
var reapScript = goredis.NewScript(presenceLuaPrelude + `
local score = redis.call('ZSCORE', ARGV[2], ARGV[3])
if not score then return {} end
if tonumber(score) > nowms() then return {} end
redis.call('ZREM', ARGV[2], ARGV[3])
local left = dropnode(ARGV[4], tonumber(ARGV[5]), true)
local out = {viewers()}
for i = 1, #left do out[#out + 1] = left[i] end
return out
`)
