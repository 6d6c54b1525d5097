//! The Lua scripts that change leases on Redis, each run atomically by `EVALSHA`.
//!
//! Keys (`P` is `[leases] key_prefix`, `K` a pool's `site/pool`):
//! - `P pool:K:free`  sorted set: the pool's free numbers scored by release time in ms
//!   (cooling ones included: a number is grantable once `score + cooldown <= now`);
//! - `P pool:K:exp`   sorted set: the pool's leases scored by `expires_at` in ms, swept
//!   atomically by every grant and by each node's sweeper (freeze time is a score, not a
//!   key TTL: a TTL could delete a lease but never put its number back in the free set);
//! - `P pool:K:visitor:V`  string `number<TAB>session`: the visitor's last number, 24 h TTL;
//! - `P num:N`    hash: `pool`, `holder` (session id), `calls` (ringing or in progress),
//!   `last_end` (ms), `ver` (bumped on every change);
//! - `P lease:S`  hash: `number`, `pool`, `visitor`, `visit` (JSON), `granted`, `seen`,
//!   `expires` (ms), `freeze` (ms);
//! - channel `P events`: one JSON event per number change, `{n, v, c, s?, vi?, vs?, g?, l?, e?, r?}`.
//!
//! Every script takes `ARGV[1] = P`. Keys are computed inside the scripts, so the backend
//! needs one Redis primary (standalone or Sentinel-managed), not Redis Cluster.

/// Helpers shared by every script: keys, the change event, ending and sweeping leases.
const PRELUDE: &str = r#"
local P = ARGV[1]
local function numkey(n) return P .. 'num:' .. n end
local function leasekey(s) return P .. 'lease:' .. s end
local function poolkey(pk, what) return P .. 'pool:' .. pk .. ':' .. what end
local function state(n)
  local h = redis.call('HMGET', numkey(n), 'holder', 'calls', 'ver', 'pool')
  local ev = {n = n, v = tonumber(h[3] or '0'), c = tonumber(h[2] or '0')}
  if h[1] then
    local l = redis.call('HMGET', leasekey(h[1]), 'visitor', 'visit', 'granted', 'seen', 'expires')
    ev.s = h[1]
    if l[1] then ev.vi = l[1] end
    if l[2] then ev.vs = l[2] end
    ev.g = tonumber(l[3]); ev.l = tonumber(l[4]); ev.e = tonumber(l[5])
  elseif h[4] then
    local r = redis.call('ZSCORE', poolkey(h[4], 'free'), n)
    if r then ev.r = tonumber(r) end
  end
  return ev
end
local function changed(n)
  redis.call('HINCRBY', numkey(n), 'ver', 1)
  local ev = cjson.encode(state(n))
  redis.call('PUBLISH', P .. 'events', ev)
  return ev
end
local function calls_on(n) return tonumber(redis.call('HGET', numkey(n), 'calls') or '0') end
local function end_lease(pk, s, at)
  local lk = leasekey(s)
  local n = redis.call('HGET', lk, 'number')
  redis.call('DEL', lk)
  redis.call('ZREM', poolkey(pk, 'exp'), s)
  if not n then return end
  local nk = numkey(n)
  if redis.call('HGET', nk, 'holder') == s then
    redis.call('HDEL', nk, 'holder')
    if calls_on(n) == 0 then
      local last = tonumber(redis.call('HGET', nk, 'last_end') or '0')
      redis.call('ZADD', poolkey(pk, 'free'), 'NX', math.max(last, at), n)
    end
  end
  changed(n)
end
local function sweep(pk, now)
  local due = redis.call('ZRANGEBYSCORE', poolkey(pk, 'exp'), '-inf', now, 'LIMIT', 0, 1000)
  local ended = 0
  for _, s in ipairs(due) do
    local l = redis.call('HMGET', leasekey(s), 'number', 'expires')
    if not l[1] then
      redis.call('ZREM', poolkey(pk, 'exp'), s)
    elseif calls_on(l[1]) == 0 then
      end_lease(pk, s, tonumber(l[2])); ended = ended + 1
    end
  end
  return ended
end
local function renew(s, pk, now, release)
  local lk = leasekey(s)
  local l = redis.call('HMGET', lk, 'number', 'expires', 'pool', 'freeze')
  if not l[1] then return nil end
  if pk and l[3] ~= pk then return nil end
  if tonumber(l[2]) <= now and calls_on(l[1]) == 0 then return nil end
  local exp = now + tonumber(l[4])
  redis.call('HSET', lk, 'seen', now, 'expires', exp, 'released', release)
  redis.call('ZADD', poolkey(l[3], 'exp'), exp, s)
  return changed(l[1])
end
"#;

/// `ARGV: P, pool, session, visitor ('' = none), visit JSON, now ms, freeze ms, cooldown ms`:
/// the lease as an event, or nil when the pool is exhausted. The order of
/// `LeaseTable::grant`: same session renewed, the visitor's live lease renewed, the
/// visitor's last number if free, else the number free longest past its cool-down.
const GRANT: &str = r#"
local pk, s, visitor, visit = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, freeze, cooldown = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
sweep(pk, now)
local lpool = redis.call('HGET', leasekey(s), 'pool')
if lpool then
  if lpool == pk then
    local ev = renew(s, pk, now, 0)
    if ev then return ev end
  end
  local exp = tonumber(redis.call('HGET', leasekey(s), 'expires') or now)
  end_lease(lpool, s, math.min(exp, now))
end
local vk, known_n = nil, nil
if visitor ~= '' then
  vk = poolkey(pk, 'visitor:' .. visitor)
  local m = redis.call('GET', vk)
  if m then
    local tab = string.find(m, '\t', 1, true)
    known_n = string.sub(m, 1, tab - 1)
    local ev = renew(string.sub(m, tab + 1), pk, now, 0)
    if ev then return ev end
  end
end
local free = poolkey(pk, 'free')
local n = nil
if known_n and redis.call('ZSCORE', free, known_n) then n = known_n end
if not n then
  local first = redis.call('ZRANGE', free, 0, 0, 'WITHSCORES')
  if #first == 0 or tonumber(first[2]) + cooldown > now then return false end
  n = first[1]
end
redis.call('ZREM', free, n)
redis.call('HSET', leasekey(s), 'number', n, 'pool', pk, 'visit', visit, 'granted', now,
  'seen', now, 'expires', now + freeze, 'freeze', freeze, 'released', 0)
if visitor ~= '' then redis.call('HSET', leasekey(s), 'visitor', visitor) end
redis.call('ZADD', poolkey(pk, 'exp'), now + freeze, s)
redis.call('HSET', numkey(n), 'holder', s)
if vk then redis.call('SET', vk, n .. '\t' .. s, 'PX', 86400000) end
return changed(n)
"#;

/// `ARGV: P, session, now ms, release (0|1)`: the renewed lease as an event, or nil.
const TOUCH: &str = r#"
local ev = renew(ARGV[2], nil, tonumber(ARGV[3]), tonumber(ARGV[4]))
if ev then return ev end
return false
"#;

/// `ARGV: P, number`: a call rings on the number; a free number leaves the free set.
const CALL_STARTED: &str = r#"
local n = ARGV[2]
local nk = numkey(n)
local pk = redis.call('HGET', nk, 'pool')
if not pk then return 0 end
redis.call('HINCRBY', nk, 'calls', 1)
if not redis.call('HGET', nk, 'holder') then redis.call('ZREM', poolkey(pk, 'free'), n) end
changed(n)
return 1
"#;

/// `ARGV: P, number, now ms`: a call ended; a free number rests for the cool-down from now.
const CALL_ENDED: &str = r#"
local n, now = ARGV[2], tonumber(ARGV[3])
local nk = numkey(n)
local pk = redis.call('HGET', nk, 'pool')
if not pk then return 0 end
local calls = math.max(0, calls_on(n) - 1)
local last = math.max(tonumber(redis.call('HGET', nk, 'last_end') or '0'), now)
redis.call('HSET', nk, 'calls', calls, 'last_end', last)
if calls == 0 and not redis.call('HGET', nk, 'holder') then
  redis.call('ZADD', poolkey(pk, 'free'), 'NX', last, n)
end
changed(n)
return 1
"#;

/// `ARGV: P, pool, now ms`: ends the pool's expired leases without a call; how many.
const EXPIRE: &str = r#"
return sweep(ARGV[2], tonumber(ARGV[3]))
"#;

/// `ARGV: P, pool, first, number...`: registers a slice of the configured numbers, the
/// first of which is the pool's number `first` (0-based): new ones free, scored by their
/// place in the config; a number neither held, ringing nor free is put back as free.
const SYNC_POOL: &str = r#"
local pk = ARGV[2]
local first = tonumber(ARGV[3])
local free = poolkey(pk, 'free')
for i = 4, #ARGV do
  local n = ARGV[i]
  local nk = numkey(n)
  if redis.call('EXISTS', nk) == 0 then
    redis.call('HSET', nk, 'pool', pk, 'calls', 0, 'ver', 0)
    redis.call('ZADD', free, 'NX', first + i - 4, n)
  elseif not redis.call('HGET', nk, 'holder') and calls_on(n) == 0 then
    redis.call('HSET', nk, 'pool', pk)
    redis.call('ZADD', free, 'NX', first + i - 4, n)
  end
end
return #ARGV - 3
"#;

/// `ARGV: P, number...`: every number's current state as a JSON array of events (no change).
const READ_ALL: &str = r#"
local out = {}
for i = 2, #ARGV do out[#out + 1] = state(ARGV[i]) end
if #out == 0 then return '[]' end
return cjson.encode(out)
"#;

/// The scripts, loaded once per node; `redis::Script` runs `EVALSHA` and loads on `NOSCRIPT`.
pub(super) struct Scripts {
    pub grant: redis::Script,
    pub touch: redis::Script,
    pub call_started: redis::Script,
    pub call_ended: redis::Script,
    pub expire: redis::Script,
    pub sync_pool: redis::Script,
    pub read_all: redis::Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        let script = |body: &str| redis::Script::new(&format!("{PRELUDE}{body}"));
        Scripts {
            grant: script(GRANT),
            touch: script(TOUCH),
            call_started: script(CALL_STARTED),
            call_ended: script(CALL_ENDED),
            expire: script(EXPIRE),
            sync_pool: script(SYNC_POOL),
            read_all: script(READ_ALL),
        }
    }
}
