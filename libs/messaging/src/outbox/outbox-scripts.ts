/*
 * The outbox's Lua scripts (keys described in outbox-store.ts). Every time in them is the Redis
 * server's clock (TIME, in ms), never a producer's: producers whose clocks disagree then still agree
 * on when a message is due, when a lease ends and how old a message is. Callers pass durations only.
 * (TIME before a write needs effects replication, the only mode since Redis 7 and the default since 5.)
 */

/** Most arguments handed to one redis.call through unpack (Lua's C stack holds some 8,000). */
const UNPACK_CHUNK = 1000;

/** Sets `now` to the server's time in milliseconds. */
export const SERVER_NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`;

/**
 * Writes a record once, due ARGV[6] ms from now (0: at once): a second write of the same id keeps the
 * first (and its counts). ARGV[1..5]: id, body, type, correlation id, last error; ARGV[7]: the trace
 * context (JSON, or empty). The second write
 * still writes a little (a count of stores), so that a WAIT after it covers the first one, which may
 * have come from another producer whose WAIT fell short.
 */
export const STORE = `${SERVER_NOW}
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'stores', 1)
  return 0
end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'type', ARGV[3], 'correlationId', ARGV[4],
  'storedAt', now, 'attempts', 0, 'deferrals', 0, 'lastError', ARGV[5], 'trace', ARGV[7] or '')
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[1])
return 1`;

/** A record's fields as list() and find() read them, after its id; a claim returns the same ones (see CLAIM). */
export const CLAIMED_FIELDS = ['body', 'type', 'correlationId', 'storedAt', 'attempts', 'deferrals', 'lastError', 'trace'] as const;

/**
 * Claims up to ARGV[2] due records by pushing their due time to the end of a lease of ARGV[1] ms.
 * ARGV[3]: the record key prefix. The answer is two strings, not ten per record, so the producer parses
 * two replies per claim instead of thousands: a JSON array with, per record, its id and the
 * CLAIMED_FIELDS after the body, then the body's length in bytes; and every body, concatenated in the
 * same order (the bodies stay bytes, never JSON-escaped). No records: an empty answer.
 */
export const CLAIM = `${SERVER_NOW}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local leaseEnd = now + tonumber(ARGV[1])
local meta, bodies, leased = {}, {}, {}
for _, id in ipairs(ids) do
  local rec = redis.call('HMGET', ARGV[3] .. id, ${CLAIMED_FIELDS.map((field) => `'${field}'`).join(', ')})
  if rec[1] then
    leased[#leased + 1] = leaseEnd
    leased[#leased + 1] = id
    if #leased == ${UNPACK_CHUNK} then
      redis.call('ZADD', KEYS[1], unpack(leased))
      leased = {}
    end
    local row = { id }
    for i = 2, ${CLAIMED_FIELDS.length} do row[i] = rec[i] or '' end
    row[${CLAIMED_FIELDS.length + 1}] = #rec[1]
    meta[#meta + 1] = row
    bodies[#bodies + 1] = rec[1]
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
if #leased > 0 then redis.call('ZADD', KEYS[1], unpack(leased)) end
if #meta == 0 then return {} end
return { cjson.encode(meta), table.concat(bodies) }`;

/**
 * Makes claimed records due again at once, without counting anything: a replay run that halted gives
 * back what it claimed and did not send. A record removed or parked meanwhile is left as it is (XX:
 * only ids still in the due set). KEYS[1]: the due set; ARGV: ids.
 */
export const RELEASE = `${SERVER_NOW}
for i = 1, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i])
end
return #ARGV`;

/**
 * Deletes records whose publish the broker confirmed. ARGV[1]: the record key prefix, then ids. One
 * DEL and one ZREM per chunk of ids rather than two calls per id: a drain removes every record it sends.
 */
export const REMOVE = `
local keys, ids = {}, {}
for i = 2, #ARGV do
  keys[#keys + 1] = ARGV[1] .. ARGV[i]
  ids[#ids + 1] = ARGV[i]
  if #ids == ${UNPACK_CHUNK} or i == #ARGV then
    redis.call('DEL', unpack(keys))
    redis.call('ZREM', KEYS[1], unpack(ids))
    keys, ids = {}, {}
  end
end
return #ARGV - 1`;

/**
 * Records failed replays. ARGV: prefix, maxAttempts, maxAgeMs, then per failure: id, delay (ms from
 * now), counts ('1' or '0'), error. A failure that counts (it belongs to the message: a nack, a return)
 * increments `attempts` and parks the record at the attempt limit, or when the record is older than
 * maxAgeMs; one that does not (timeout, lost channel, blocked, backpressure) only increments
 * `deferrals`, which lengthen the backoff and never park. A record parked or removed meanwhile is left
 * as it is. Returns how many were parked.
 */
export const FAIL = `${SERVER_NOW}
local prefix, maxAttempts, maxAge = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local parked = 0
for i = 4, #ARGV, 4 do
  local id, delay, counts, err = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  local key = prefix .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], id)
  elseif not redis.call('ZSCORE', KEYS[2], id) then
    redis.call('HSET', key, 'lastError', err, 'lastAttemptAt', now)
    local park = false
    if counts == '1' then
      local attempts = redis.call('HINCRBY', key, 'attempts', 1)
      local storedAt = tonumber(redis.call('HGET', key, 'storedAt')) or now
      park = attempts >= maxAttempts or now - storedAt >= maxAge
    else
      redis.call('HINCRBY', key, 'deferrals', 1)
    end
    if park then
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZADD', KEYS[2], now, id)
      parked = parked + 1
    else
      redis.call('ZADD', KEYS[1], now + delay, id)
    end
  end
end
return parked`;
