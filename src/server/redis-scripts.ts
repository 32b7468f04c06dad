/**
 * The Lua scripts of the Redis store. Each presence operation is one script: one round
 * trip, atomic (no other instance sees half of it), and the events it causes are published
 * from inside it, so the order of events on the channel is the order of the changes.
 *
 * Keys (every one starts with the prefix `P`, ARGV[1] of every script):
 * - `P seq`                 sequence number of the last event, all rooms (see `next_seq`)
 * - `P lastbeat`            Redis time of the last heartbeat of any instance
 * - `P nosweep`             no instance is swept before this Redis time (after a gap)
 * - `P events`              the pub/sub channel: one message per event
 * - `P rooms`               SET of rooms that have members
 * - `P r:<room>:m`          ZSET members, scored by the seq of their join (join order)
 * - `P r:<room>:s`          HASH member -> state JSON
 * - `P rm:<room>`           room metadata JSON
 * - `P c:<conn>`            HASH i -> instance id, m -> metadata JSON ('' = none)
 * - `P c:<conn>:r`          SET rooms of the connection
 * - `P i:<instance>:c`      SET connections of an instance
 * - `P instances`           ZSET instance -> last heartbeat (Redis time, ms); 0 = being swept
 * - `P deadlines`           ZSET `s|<room>|<conn>` (state expiry) and `t|<room>|<conn>`
 *                           (presence ttl) -> due time (Redis time, ms)
 *
 * Times come from Redis (`TIME`), so instances with skewed clocks agree on deadlines.
 * Keys are built inside the scripts, so this store needs one Redis (or Valkey), with or
 * without Sentinel, and not Redis Cluster.
 *
 * Numbers are written with `string.format('%d')`: Lua's default conversion prints 15+
 * digit numbers (sequence numbers) in exponent notation. Scripts that change a member
 * return the seq of their event, so that the instance can tell its own later changes from
 * events that arrive late on the channel. Leave events carry why they happened (`w`):
 * `left` (asked for, or the connection closed), `expired` (presence ttl) or `swept` (its
 * instance was judged dead).
 *
 * Needs Redis >= 5 (scripts replicate their effects, so they may read `TIME`) or Valkey.
 */

const PRELUDE = `
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Never below the current time in microseconds: after Redis restarts empty, or from a
-- snapshot older than the last events, the numbers still grow past every one handed out
-- before (as long as fewer than a million events per second are made).
local function next_seq()
  local k = P .. 'seq'
  local v = redis.call('INCR', k)
  local t = redis.call('TIME')
  local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if v < floor then
    redis.call('SET', k, string.format('%d', floor))
    v = floor
  end
  return v
end
-- Publishes an event and returns its seq.
local function publish(kind, room, conn, ts, extra, why)
  local seq = next_seq()
  local msg = '{"t":"' .. kind .. '","r":' .. cjson.encode(room) .. ',"c":' .. cjson.encode(conn)
    .. ',"s":' .. string.format('%d', seq) .. ',"ts":' .. string.format('%d', ts)
  if extra then msg = msg .. ',"x":' .. extra end
  if why then msg = msg .. ',"w":"' .. why .. '"' end
  redis.call('PUBLISH', P .. 'events', msg .. '}')
  return seq
end
local function deadline_key(kind, room, conn)
  return kind .. '|' .. room .. '|' .. conn
end
local function remove_member(room, conn, ts, why)
  local mk = P .. 'r:' .. room .. ':m'
  if redis.call('ZREM', mk, conn) == 0 then return false end
  redis.call('HDEL', P .. 'r:' .. room .. ':s', conn)
  redis.call('SREM', P .. 'c:' .. conn .. ':r', room)
  redis.call('ZREM', P .. 'deadlines', deadline_key('s', room, conn), deadline_key('t', room, conn))
  if redis.call('EXISTS', mk) == 0 then redis.call('SREM', P .. 'rooms', room) end
  publish('leave', room, conn, ts, nil, why)
  return true
end
local function remove_connection(conn, ts, why)
  local rooms = redis.call('SMEMBERS', P .. 'c:' .. conn .. ':r')
  for _, room in ipairs(rooms) do remove_member(room, conn, ts, why) end
  local instance = redis.call('HGET', P .. 'c:' .. conn, 'i')
  if instance then redis.call('SREM', P .. 'i:' .. instance .. ':c', conn) end
  redis.call('DEL', P .. 'c:' .. conn, P .. 'c:' .. conn .. ':r')
  return rooms
end
-- Returns the seq of the join event, or 0 when already a member (its ttl renewed).
local function join_member(room, conn, ttl, now)
  local mk = P .. 'r:' .. room .. ':m'
  if redis.call('ZSCORE', mk, conn) then
    if ttl > 0 then redis.call('ZADD', P .. 'deadlines', now + ttl, deadline_key('t', room, conn)) end
    return 0
  end
  local meta = redis.call('HGET', P .. 'c:' .. conn, 'm')
  if not meta or meta == '' then meta = 'null' end
  local seq = publish('join', room, conn, now, meta, nil)
  -- scored by the seq of its own join: join order
  redis.call('ZADD', mk, seq, conn)
  redis.call('SADD', P .. 'c:' .. conn .. ':r', room)
  redis.call('SADD', P .. 'rooms', room)
  if ttl > 0 then redis.call('ZADD', P .. 'deadlines', now + ttl, deadline_key('t', room, conn)) end
  return seq
end
-- Returns the seq of the change (a silent one takes a seq too), or 0 when not a member.
local function set_state(room, conn, state, expire_after, silent, now)
  if not redis.call('ZSCORE', P .. 'r:' .. room .. ':m', conn) then return 0 end
  redis.call('HSET', P .. 'r:' .. room .. ':s', conn, state)
  local dk = deadline_key('s', room, conn)
  if expire_after > 0 then
    redis.call('ZADD', P .. 'deadlines', now + expire_after, dk)
  else
    redis.call('ZREM', P .. 'deadlines', dk)
  end
  if silent then return next_seq() end
  return publish('state', room, conn, now, state, nil)
end
-- A gap in everyone's heartbeats means Redis (or the whole fleet) stalled, or Redis came
-- back from a restart: nobody is judged until every live instance has had time to beat.
local function note_gap(now, beat, stale)
  local last = tonumber(redis.call('GET', P .. 'lastbeat') or '0')
  if now - last > 2 * beat then
    redis.call('SET', P .. 'nosweep', string.format('%d', now + stale))
  end
end
`;

/** One script: its Lua source (with the shared prelude) and how many KEYS it takes (none). */
export interface ScriptSource {
  numberOfKeys: 0;
  lua: string;
}

function script(body: string): ScriptSource {
  return { numberOfKeys: 0, lua: PRELUDE + body };
}

export const SCRIPTS = {
  /** ARGV: P, conn, instance, metadata JSON or ''. */
  meshAddConnection: script(`
redis.call('HSET', P .. 'c:' .. ARGV[2], 'i', ARGV[3], 'm', ARGV[4])
redis.call('SADD', P .. 'i:' .. ARGV[3] .. ':c', ARGV[2])
return 1
`),
  /** ARGV: P, conn. Returns the rooms it left. */
  meshRemoveConnection: script(`
return remove_connection(ARGV[2], now_ms(), 'left')
`),
  /**
   * ARGV: P, conn, metadata JSON or ''. Returns 0 for an unknown connection. Publishes a
   * `meta` message (no seq: it is not a presence event) naming the connection's rooms, so
   * that each instance pushes `mesh/metadata-update` to its own readers.
   */
  meshSetConnectionMetadata: script(`
local k = P .. 'c:' .. ARGV[2]
if redis.call('EXISTS', k) == 0 then return 0 end
redis.call('HSET', k, 'm', ARGV[3])
local rooms = redis.call('SMEMBERS', k .. ':r')
if #rooms > 0 then
  local meta = ARGV[3]
  if meta == '' then meta = 'null' end
  redis.call('PUBLISH', P .. 'events',
    '{"t":"meta","c":' .. cjson.encode(ARGV[2]) .. ',"x":' .. meta .. ',"rooms":' .. cjson.encode(rooms) .. '}')
end
return 1
`),
  /** ARGV: P, room, conn, ttl ms (0 = none). Returns the join's seq, 0 when already a member, -1 for an unknown connection. */
  meshJoin: script(`
if redis.call('EXISTS', P .. 'c:' .. ARGV[3]) == 0 then return -1 end
return join_member(ARGV[2], ARGV[3], tonumber(ARGV[4]), now_ms())
`),
  /** ARGV: P, room, conn. */
  meshLeave: script(`
if remove_member(ARGV[2], ARGV[3], now_ms(), 'left') then return 1 end
return 0
`),
  /** ARGV: P, room, conn, ttl ms (0 = none). */
  meshRefresh: script(`
if not redis.call('ZSCORE', P .. 'r:' .. ARGV[2] .. ':m', ARGV[3]) then return 0 end
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('ZADD', P .. 'deadlines', now_ms() + ttl, deadline_key('t', ARGV[2], ARGV[3])) end
return 1
`),
  /** ARGV: P, room. Returns [seq, ids, metadata per id ('' = none), flat state hash]. */
  meshSnapshot: script(`
local room = ARGV[2]
local ids = redis.call('ZRANGE', P .. 'r:' .. room .. ':m', 0, -1)
local metas = {}
for i, id in ipairs(ids) do
  metas[i] = redis.call('HGET', P .. 'c:' .. id, 'm') or ''
end
local states = redis.call('HGETALL', P .. 'r:' .. room .. ':s')
return { redis.call('GET', P .. 'seq') or '0', ids, metas, states }
`),
  /** ARGV: P, room, conn, state JSON, expireAfter ms (0 = none), silent ('1'). Returns the seq, 0 when not a member. */
  meshSetState: script(`
return set_state(ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1', now_ms())
`),
  /** ARGV: P, room, conn. Returns the seq of the `state: null` event, 0 when not a member. */
  meshClearState: script(`
local room, conn = ARGV[2], ARGV[3]
if not redis.call('ZSCORE', P .. 'r:' .. room .. ':m', conn) then return 0 end
redis.call('HDEL', P .. 'r:' .. room .. ':s', conn)
redis.call('ZREM', P .. 'deadlines', deadline_key('s', room, conn))
return publish('state', room, conn, now_ms(), 'null', nil)
`),
  /**
   * ARGV: P, limit. Enforces due deadlines, whoever set them: expired states are removed
   * (event `state: null`), expired presence ttls remove the member (`leave`). Returns how
   * many were due (the caller runs it again when it hit the limit) and the next due time
   * in ms from now (-1: none).
   */
  meshExpireDue: script(`
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, key in ipairs(due) do
  redis.call('ZREM', P .. 'deadlines', key)
  local kind, room, conn = string.match(key, '^([st])|(.*)|([^|]*)$')
  if kind == 's' then
    if redis.call('HDEL', P .. 'r:' .. room .. ':s', conn) == 1 then publish('state', room, conn, now, 'null', 'expired') end
  elseif kind == 't' then
    remove_member(room, conn, now, 'expired')
  end
end
local nextDue = redis.call('ZRANGE', P .. 'deadlines', 0, 0, 'WITHSCORES')
local wait = -1
if nextDue[2] then wait = math.max(0, tonumber(nextDue[2]) - now) end
return { #due, wait }
`),
  /**
   * ARGV: P, instance, beat ms, stale ms. Records the instance's heartbeat. Returns 1 when
   * its record was in place, 0 when it was missing (Redis lost its data, or another
   * instance swept this one while it was unreachable): its connections must be registered
   * again.
   */
  meshHeartbeat: script(`
local now = now_ms()
note_gap(now, tonumber(ARGV[3]), tonumber(ARGV[4]))
redis.call('SET', P .. 'lastbeat', string.format('%d', now))
local k = P .. 'instances'
local before = redis.call('ZSCORE', k, ARGV[2])
redis.call('ZADD', k, now, ARGV[2])
if before and tonumber(before) > 0 then return 1 end
return 0
`),
  /**
   * ARGV: P, stale ms, batch size, beat ms, own instance ids... Removes up to one batch of the
   * connections of the first instance whose heartbeat is older than `stale` (emitting a
   * leave for each membership). The instance is marked (score 0) while it is being swept,
   * so that if it comes back its heartbeat learns it must register again. Returns the
   * number of connections removed (0: nothing to sweep).
   */
  meshSweepInstances: script(`
local now = now_ms()
local stale = tonumber(ARGV[2])
note_gap(now, tonumber(ARGV[4]), stale)
if now < tonumber(redis.call('GET', P .. 'nosweep') or '0') then return 0 end
local k = P .. 'instances'
local own = {}
for i = 5, #ARGV do own[ARGV[i]] = true end
local candidates = redis.call('ZRANGEBYSCORE', k, '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, 16)
for _, instance in ipairs(candidates) do
  if not own[instance] then
    redis.call('ZADD', k, 0, instance)
    local ck = P .. 'i:' .. instance .. ':c'
    local conns = redis.call('SPOP', ck, tonumber(ARGV[3]))
    for _, conn in ipairs(conns) do remove_connection(conn, now, 'swept') end
    if redis.call('EXISTS', ck) == 0 then redis.call('ZREM', k, instance) end
    if #conns > 0 then return #conns end
  end
end
return 0
`),
  /**
   * ARGV: P, conn, instance, metadata JSON or '', rooms JSON: [[room, state JSON or '',
   * expireAfter ms left (0 = none), ttl ms (0 = none)], ...]. Makes Redis hold exactly what
   * this instance knows of one of its live connections, emitting the events of every
   * difference (leave for rooms it is no longer in, join and state for what was missing or
   * changed). Used after Redis came back (possibly empty) or this instance was swept.
   * Returns a seq above every event it caused.
   */
  meshSyncConnection: script(`
local conn, instance = ARGV[2], ARGV[3]
local now = now_ms()
local ck = P .. 'c:' .. conn
redis.call('HSET', ck, 'i', instance, 'm', ARGV[4])
redis.call('SADD', P .. 'i:' .. instance .. ':c', conn)
local wanted = {}
for _, entry in ipairs(cjson.decode(ARGV[5])) do wanted[entry[1]] = entry end
for _, room in ipairs(redis.call('SMEMBERS', ck .. ':r')) do
  if not wanted[room] then remove_member(room, conn, now, 'left') end
end
for room, entry in pairs(wanted) do
  local ttl = tonumber(entry[4])
  join_member(room, conn, ttl, now)
  local state = entry[2]
  local current = redis.call('HGET', P .. 'r:' .. room .. ':s', conn)
  if state == '' then
    if current then
      redis.call('HDEL', P .. 'r:' .. room .. ':s', conn)
      redis.call('ZREM', P .. 'deadlines', deadline_key('s', room, conn))
      publish('state', room, conn, now, 'null', nil)
    end
  elseif current ~= state then
    set_state(room, conn, state, tonumber(entry[3]), false, now)
  end
end
return next_seq()
`),
} satisfies Record<string, ScriptSource>;

export type ScriptName = keyof typeof SCRIPTS;
