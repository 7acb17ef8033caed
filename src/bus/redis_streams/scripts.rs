//! The Lua scripts of the Redis backend. Each runs atomically on the server.

use std::sync::LazyLock;

use redis::Script;

/// Appends a batch, de-duplicating. `ARGV[1]` is the key prefix, `ARGV[2]` the append time
/// (ms since the epoch, the bridge's clock), then five arguments per event: channel,
/// has-dedup-key (`"1"`/`"0"`), dedup key, conversation id, envelope JSON.
/// Per event: if `<prefix>:dedup:<channel>` holds the key, answers its seq as a duplicate;
/// otherwise INCRs `<prefix>:seq`, XADDs `<seq>-0` to `<prefix>:events`, indexes the seq in
/// the sorted set `<prefix>:conv:<conversation>` and records the dedup key (its time in the
/// sorted set `<prefix>:dedupat:<channel>`, the channel in the set `<prefix>:dedupch`).
/// For retention, the batch's last new seq goes into the sorted set `<prefix>:times` scored
/// by the append time, and the envelopes' sizes are added to `<prefix>:bytes`. Returns a
/// flat array `seq1, duplicate1, seq2, duplicate2, ...`.
pub(super) static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local prefix, now = ARGV[1], ARGV[2]
local out = {}
local last, bytes = nil, 0
for base = 3, #ARGV, 5 do
  local channel, has_key, key = ARGV[base], ARGV[base + 1], ARGV[base + 2]
  local conv, envelope = ARGV[base + 3], ARGV[base + 4]
  local dedup = prefix .. ':dedup:' .. channel
  local existing = false
  if has_key == '1' then
    existing = redis.call('HGET', dedup, key)
  end
  if existing then
    out[#out + 1] = tonumber(existing)
    out[#out + 1] = 1
  else
    local seq = string.format('%d', redis.call('INCR', prefix .. ':seq'))
    redis.call('XADD', prefix .. ':events', seq .. '-0', 'env', envelope, 'conv', conv)
    redis.call('ZADD', prefix .. ':conv:' .. conv, seq, seq)
    if has_key == '1' then
      redis.call('HSET', dedup, key, seq)
      redis.call('ZADD', prefix .. ':dedupat:' .. channel, now, key)
      redis.call('SADD', prefix .. ':dedupch', channel)
    end
    last = seq
    bytes = bytes + #envelope
    out[#out + 1] = tonumber(seq)
    out[#out + 1] = 0
  end
end
if last then
  redis.call('ZADD', prefix .. ':times', now, last)
  redis.call('INCRBY', prefix .. ':bytes', bytes)
end
return out
",
    )
});

/// Trims the oldest events. `ARGV`: prefix, age cut-off (ms), hard cut-off (ms), size budget
/// in bytes (`0`: none), most entries to look at. An event goes when it was appended before
/// the hard cut-off, or when every consumer group has acked it (below each group's oldest
/// pending entry and last-delivered id) and it was appended before the age cut-off or the
/// log is over budget. Its conversation index entry, its size and the time markers up to it
/// go with it, and pending entries of trimmed events are acked. Returns `{removed, more}`.
pub(super) static TRIM_EVENTS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local prefix = ARGV[1]
local age_cut, hard_cut = ARGV[2], ARGV[3]
local budget, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local events, times, bytes_key = prefix .. ':events', prefix .. ':times', prefix .. ':bytes'
local function seq_of(id)
  return tonumber(string.match(id, '^(%d+)-'))
end
-- the newest seq appended before a cut-off (0: none)
local function upto(cut)
  local r = redis.call('ZREVRANGEBYSCORE', times, '(' .. cut, '-inf', 'LIMIT', 0, 1)
  if r[1] then return tonumber(r[1]) end
  return 0
end
if redis.call('EXISTS', events) == 0 then return {0, 0} end
local age_upto, hard_upto = upto(age_cut), upto(hard_cut)
local floor = math.huge
local groups = {}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', events)) do
  local name, last_id
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last_id = g[i + 1] end
  end
  groups[#groups + 1] = name
  local next_seq = seq_of(last_id) + 1
  if next_seq < floor then floor = next_seq end
  local p = redis.call('XPENDING', events, name)
  if p[2] then
    local oldest = seq_of(p[2])
    if oldest < floor then floor = oldest end
  end
end
local total = tonumber(redis.call('GET', bytes_key) or '0')
local entries = redis.call('XRANGE', events, '-', '+', 'COUNT', limit)
local removed, last = 0, nil
for _, e in ipairs(entries) do
  local seq = seq_of(e[1])
  local acked = seq < floor
  local go = seq <= hard_upto or (acked and (seq <= age_upto or (budget > 0 and total > budget)))
  if not go then break end
  local f, conv, size = e[2], nil, 0
  for i = 1, #f, 2 do
    if f[i] == 'conv' then conv = f[i + 1] elseif f[i] == 'env' then size = #f[i + 1] end
  end
  if conv then redis.call('ZREM', prefix .. ':conv:' .. conv, string.format('%d', seq)) end
  total = total - size
  removed = removed + 1
  last = seq
end
if not last then return {0, 0} end
redis.call('XTRIM', events, 'MINID', string.format('%d', last + 1) .. '-0')
if total < 0 then total = 0 end
redis.call('SET', bytes_key, string.format('%d', total))
while true do
  local marks = redis.call('ZRANGE', times, 0, 99)
  local gone = {}
  for _, m in ipairs(marks) do
    if tonumber(m) <= last then gone[#gone + 1] = m end
  end
  if #gone == 0 then break end
  redis.call('ZREM', times, unpack(gone))
  if #gone < #marks then break end
end
for _, name in ipairs(groups) do
  local stale = redis.call('XPENDING', events, name, '-', string.format('%d', last) .. '-0', 500)
  local ids = {}
  for _, s in ipairs(stale) do ids[#ids + 1] = s[1] end
  if #ids > 0 then redis.call('XACK', events, name, unpack(ids)) end
end
local more = 0
if removed == #entries and #entries == limit then more = 1 end
return {removed, more}
",
    )
});

/// Removes de-dup records made before a cut-off. `ARGV`: prefix, cut-off (ms), most records
/// per channel. Returns `{removed, more}`.
pub(super) static TRIM_DEDUP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local prefix, cut, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local removed, more = 0, 0
for _, channel in ipairs(redis.call('SMEMBERS', prefix .. ':dedupch')) do
  local at = prefix .. ':dedupat:' .. channel
  local keys = redis.call('ZRANGEBYSCORE', at, '-inf', '(' .. cut, 'LIMIT', 0, limit)
  if #keys > 0 then
    redis.call('HDEL', prefix .. ':dedup:' .. channel, unpack(keys))
    redis.call('ZREM', at, unpack(keys))
    removed = removed + #keys
    if #keys == limit then more = 1 end
  end
end
return {removed, more}
",
    )
});

/// The tail of both conversation scripts: for each seq in `seqs`, its envelope from the events
/// stream `KEYS[2]`; returns a flat array `seq1, envelope1, ...`.
const FETCH_ENVELOPES: &str = r"
local out = {}
for _, seq in ipairs(seqs) do
  local entry = redis.call('XRANGE', KEYS[2], seq .. '-0', seq .. '-0')[1]
  if entry then
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'env' then
        out[#out + 1] = seq
        out[#out + 1] = fields[i + 1]
      end
    end
  end
end
return out
";

/// Reads one conversation: `KEYS[1]` its sorted set, `KEYS[2]` the events stream, `ARGV[1]`
/// the seq to read after, `ARGV[2]` the limit. Returns a flat array `seq1, envelope1, ...`.
pub(super) static READ_CONVERSATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "local seqs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])\n{FETCH_ENVELOPES}"
    ))
});

/// The newest `ARGV[1]` events of one conversation, newest first: `seq, envelope` pairs.
/// KEYS: the conversation's index, the events stream.
pub(super) static READ_CONVERSATION_LATEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "local seqs = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '-inf', 'LIMIT', 0, ARGV[1])\n{FETCH_ENVELOPES}"
    ))
});
