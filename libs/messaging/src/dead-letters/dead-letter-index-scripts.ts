/*
 * Keys of one DLQ's index, all in the hash slot {dlq:<queue>} so these scripts stay valid on Redis
 * Cluster (the scripts build the per-letter keys from ARGV[1], the slot's base, as the outbox does):
 *   <base>letters         sorted set: letter key -> failed at (ms)
 *   <base>letter:<key>    hash: the record's fields (dead-letter-record.ts)
 *   <base>group:<group>   sorted set: letter key -> failed at, one per group (kind, reason, type)
 *   <base>groups          hash: group -> JSON [kind, reason, type]
 *   <base>corr:<id>       set: letter keys with that correlation id
 */

/** Drops one letter from its group and correlation set; used by both scripts. */
const UNLINK = `
local function unlink(base, groups, key)
  local letter = base .. 'letter:' .. key
  local old = redis.call('HMGET', letter, 'group', 'correlationId')
  if old[1] then
    local members = base .. 'group:' .. old[1]
    redis.call('ZREM', members, key)
    if redis.call('ZCARD', members) == 0 then redis.call('HDEL', groups, old[1]) end
  end
  if old[2] and old[2] ~= '' then redis.call('SREM', base .. 'corr:' .. old[2], key) end
  return redis.call('DEL', letter)
end
`;

/**
 * KEYS: letters, groups. ARGV: base, key, failedAtMs, group, groupInfo, correlationId, then field/value
 * pairs. Writing a letter that is indexed already replaces it (a message dead-lettered again after a
 * retry moves to its new group).
 */
export const RECORD = `${UNLINK}
local base, key, at, group, info, corr = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
unlink(base, KEYS[2], key)
redis.call('HSET', base .. 'letter:' .. key, unpack(ARGV, 7))
redis.call('ZADD', KEYS[1], at, key)
redis.call('ZADD', base .. 'group:' .. group, at, key)
redis.call('HSET', KEYS[2], group, info)
if corr ~= '' then redis.call('SADD', base .. 'corr:' .. corr, key) end
return 1`;

/** KEYS: letters, groups. ARGV: base, then letter keys. Returns how many were indexed. */
export const REMOVE = `${UNLINK}
local removed = 0
for i = 2, #ARGV do
  removed = removed + unlink(ARGV[1], KEYS[2], ARGV[i])
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return removed`;
