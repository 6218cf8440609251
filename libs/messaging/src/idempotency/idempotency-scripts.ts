import { SERVER_REFUSAL_CODES } from '../redis/redis-failure-kind';
import { EFFECT_ERROR_PREFIX } from './redis-effect-error';

/*
 * The Lua of the idempotency store (see idempotency-store.ts for the keys). Effect commands travel as
 * flat arguments after the script's own: for each command its length, then its name and arguments
 * (['XADD', 's', '*'] -> 3, XADD, s, *); no JSON to encode here or to decode in Lua.
 *
 * Redis runs a script atomically, and a server refusal (OOM, MISCONF, NOREPLICAS, READONLY) hits the
 * script's first write, before anything was changed; such a refusal is raised as it is, an
 * infrastructure failure. An effect command refused for a reason of its own (WRONGTYPE, a bad
 * command) is raised with EFFECT_ERROR_PREFIX, so the guard can tell the handler's failures from
 * its own. Redis does not roll back a script that fails half way: commands before the failing one
 * stay applied (the done mark is not written, so the message is retried).
 */

/** Runs the effect commands found in ARGV from index `first` on (see above). */
const RUN_EFFECT = `
local refusals = {${SERVER_REFUSAL_CODES.map((code) => `${code} = true`).join(', ')}}
local function runEffect(first)
  local i = first
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    local reply = redis.pcall(unpack(ARGV, i + 1, i + n))
    if type(reply) == 'table' and reply.err then
      if refusals[string.match(reply.err, '^%u+') or ''] then error(reply) end
      error({ err = '${EFFECT_ERROR_PREFIX} ' .. reply.err })
    end
    i = i + n + 1
  end
end`;

/**
 * Commits many ids in one script (one round trip). ARGV[1] is the TTL, ARGV[2] '1' to refresh a mark
 * found done (so a WAIT after it covers a mark another consumer wrote), ARGV[3] the batch, packed as
 * one MessagePack array (PackedArgs: one argument instead of ~10 per id): per id its done mark's key,
 * the number of its effect values, then its commands as above. The done keys travel in the packed
 * array rather than as KEYS: ioredis builds a protocol header and a string per KEYS entry, the
 * largest client cost of a batch after the socket write, and declaring them would buy nothing, as a
 * batch's keys lie in many hash slots (a batch cannot run on Redis Cluster either way) and the
 * effect's own keys are undeclared as well.
 *
 * An id's mark is written right after its own effect, only when that effect succeeded, and only if
 * the id was not done already (an id twice in one batch is so applied once), so each id keeps the
 * guarantee of a script of its own. Returns one entry per id: 1 applied, 0 done already, or its
 * effect's error reply prefixed with EFFECT_ERROR_PREFIX (no mark; the other ids go on). A server
 * refusal (OOM, MISCONF, NOREPLICAS, READONLY) comes at the script's first write, before anything
 * was changed, and fails the whole batch as an infrastructure failure.
 */
export const COMMIT_BATCH = `
local refusals = {${SERVER_REFUSAL_CODES.map((code) => `${code} = true`).join(', ')}}
local effects = cmsgpack.unpack(ARGV[3])
local function runEffect(first, last)
  local i = first
  while i <= last do
    local n = effects[i]
    local reply = redis.pcall(unpack(effects, i + 1, i + n))
    if type(reply) == 'table' and reply.err then
      if refusals[string.match(reply.err, '^%u+') or ''] then error(reply) end
      return '${EFFECT_ERROR_PREFIX} ' .. reply.err
    end
    i = i + n + 1
  end
  return nil
end
local results = {}
local at = 1
local m = 0
while at <= #effects do
  m = m + 1
  local key = effects[at]
  local last = at + 1 + effects[at + 1]
  if redis.call('EXISTS', key) == 1 then
    if ARGV[2] == '1' then redis.call('EXPIRE', key, ARGV[1]) end
    results[m] = 0
  else
    local failure = runEffect(at + 2, last)
    if failure then
      results[m] = failure
    else
      redis.call('SET', key, '1', 'EX', ARGV[1])
      results[m] = 1
    end
  end
  at = last + 1
end
return results`;

/** done, or the lock for this token (re-entrant), or busy when another delivery holds it. */
export const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'acquired' end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 'acquired'
end
return 'busy'`;

/**
 * The commit of a lock holder (effect in ARGV[3..]), fenced by its token: 'applied', 'done' when the id
 * was done already, 'taken' (nothing written) when another delivery holds the lock now. A lock that
 * merely expired, held by no one, does not stop the commit: no other run can be working on the id.
 */
export const COMPLETE = `${RUN_EFFECT}
local holder = redis.call('GET', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  if holder == ARGV[1] then redis.call('DEL', KEYS[2]) end
  return 'done'
end
if holder and holder ~= ARGV[1] then return 'taken' end
runEffect(3)
redis.call('SET', KEYS[1], '1', 'EX', ARGV[2])
if holder then redis.call('DEL', KEYS[2]) end
return 'applied'`;

export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * 'renewed'; 'done' when the id is done (the holder completed: nothing lost); 'reacquired' when the
 * lock had expired and no one took it (taken back, so no new delivery starts); 'taken' when another
 * delivery holds it.
 */
export const RENEW = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'renewed'
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'done' end
if holder then return 'taken' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'reacquired'`;
