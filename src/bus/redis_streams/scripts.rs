//! The Lua scripts of the Redis backend. Each runs atomically on the server.

use std::sync::LazyLock;

use redis::Script;

/// Appends a batch, de-duplicating. `ARGV[1]` is the key prefix, then five arguments per
/// event: channel, has-dedup-key (`"1"`/`"0"`), dedup key, conversation id, envelope JSON.
/// Per event: if `<prefix>:dedup:<channel>` holds the key, answers its seq as a duplicate;
/// otherwise INCRs `<prefix>:seq`, XADDs `<seq>-0` to `<prefix>:events`, indexes the seq in
/// the sorted set `<prefix>:conv:<conversation>` and records the dedup key. Returns a flat
/// array `seq1, duplicate1, seq2, duplicate2, ...`.
pub(super) static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local prefix = ARGV[1]
local out = {}
for base = 2, #ARGV, 5 do
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
    end
    out[#out + 1] = tonumber(seq)
    out[#out + 1] = 0
  end
end
return out
",
    )
});

/// Reads one conversation: `KEYS[1]` its sorted set, `KEYS[2]` the events stream, `ARGV[1]`
/// the seq to read after, `ARGV[2]` the limit. Returns a flat array `seq1, envelope1, ...`.
pub(super) static READ_CONVERSATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local seqs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])
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
",
    )
});
