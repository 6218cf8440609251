import { ReplyError, type Redis } from 'ioredis';
import type { ReplicaAcks } from '../redis/replica-acks';
import { CLAIM, COMMIT_BATCH, COMPLETE, RELEASE, RENEW } from './idempotency-scripts';
import { PackedArgs } from './packed-args';
import type { RedisCommand } from './redis-effect';
import { RequestBatcher, type BatchTiming } from './request-batcher';

export type ClaimResult = 'acquired' | 'busy' | 'done';
/** applied: effect and mark written; done: the id was done already; taken: another delivery holds the lock, nothing written. */
export type CompleteResult = 'applied' | 'done' | 'taken';
/** renewed; done: the id is done; reacquired: the lock had expired and was taken back; taken: another delivery holds it. */
export type RenewResult = 'renewed' | 'done' | 'reacquired' | 'taken';

/*
 * Keys per message id (the id in braces keeps a message's keys in one Redis Cluster slot):
 *   <prefix>:{<id>}:done  the done mark, written only after the work succeeded; expires after the TTL
 *   <prefix>:{<id>}:lock  the token of the delivery working on the id right now; expires unless renewed
 * Effect commands run inside the same scripts (idempotency-scripts.ts), so an effect and its done mark
 * land together or not at all.
 */

type IdempotencyRedis = Redis & {
  idemCommitBatch(ttlSeconds: number, refresh: '0' | '1', packed: Buffer): Promise<(number | string)[]>;
  idemClaim(done: string, lock: string, token: string, ttlMs: number): Promise<ClaimResult>;
  idemComplete(done: string, lock: string, token: string, ttl: number, ...effect: (string | number)[]): Promise<CompleteResult>;
  idemRelease(lock: string, token: string): Promise<number>;
  idemRenew(lock: string, done: string, token: string, ttlMs: number): Promise<RenewResult>;
};

/** An effect's error reply inside a batch's answer, raised as the ReplyError a script of its own would give (see effectReplyOf). */
const EffectReply = ReplyError as new (message: string) => Error;

interface PendingCommit {
  id: string;
  commands: RedisCommand[];
}

/** Commits sent one at a time (no batching), for callers that want one round trip per commit. */
export const UNBATCHED: BatchTiming = { maxSize: 1, flushMs: 0 };

/** The Redis side of the idempotency guard: done marks, per-id locks and atomic effects. */
export class IdempotencyStore {
  private readonly redis: IdempotencyRedis;
  private readonly commits: RequestBatcher<PendingCommit, boolean>;
  /** Reused by every batch (packed synchronously, copied out). */
  private readonly packed = new PackedArgs();

  /**
   * `replicaAcks` (REDIS_MIN_REPLICA_ACKS > 0): a commit, or a check that found the id done, resolves
   * only once that many replicas hold the done mark (Redis WAIT), so an ack never outruns the mark's
   * replication and the promotion of a replica cannot make a processed message look new.
   * `batching`: commits that come close together (IDEMPOTENCY_COMMIT_BATCH_SIZE,
   * IDEMPOTENCY_COMMIT_FLUSH_MS) share one script and one round trip (and one WAIT).
   */
  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
    private readonly doneTtlSeconds: number,
    private readonly replicaAcks?: ReplicaAcks,
    batching: BatchTiming = UNBATCHED,
    /** Told how many commits each batch carries (messaging_guard_commit_batch_size). */
    onBatch?: (size: number) => void,
  ) {
    redis.defineCommand('idemCommitBatch', { numberOfKeys: 0, lua: COMMIT_BATCH });
    redis.defineCommand('idemClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('idemComplete', { numberOfKeys: 2, lua: COMPLETE });
    redis.defineCommand('idemRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('idemRenew', { numberOfKeys: 2, lua: RENEW });
    this.redis = redis as IdempotencyRedis;
    this.commits = new RequestBatcher((batch) => this.commitBatch(batch), batching, onBatch);
  }

  /**
   * Commits effect + done mark atomically; false when the id was done already. Commits close together
   * go to Redis in one script (each id still atomic with its own mark): a Redis failure rejects every
   * commit of that batch, an effect error (ReplyError with EFFECT_ERROR_PREFIX) only its own.
   */
  commit(id: string, commands: RedisCommand[]): Promise<boolean> {
    return this.commits.add({ id, commands });
  }

  private async commitBatch(batch: PendingCommit[]): Promise<(boolean | Error)[]> {
    const refresh = this.replicaAcks?.required ? '1' : '0';
    const effects = this.packed;
    effects.begin();
    for (let m = 0; m < batch.length; m++) {
      const { id, commands } = batch[m];
      effects.string(this.doneKey(id));
      let values = 0;
      for (const command of commands) values += command.length + 1;
      effects.integer(values);
      for (const command of commands) {
        effects.integer(command.length);
        for (const arg of command) effects.string(arg);
      }
    }
    const replies = await this.redis.idemCommitBatch(this.doneTtlSeconds, refresh, effects.finish());
    // Marks written or found (and refreshed): one WAIT covers them all before any is acknowledged.
    if (this.replicaAcks?.required && replies.some((reply) => typeof reply === 'number')) await this.replicaAcks.confirm();
    return replies.map((reply) => (typeof reply === 'string' ? new EffectReply(reply) : reply === 1));
  }

  async claim(id: string, token: string, lockTtlMs: number): Promise<ClaimResult> {
    const result = await this.redis.idemClaim(this.doneKey(id), this.lockKey(id), token, lockTtlMs);
    if (result === 'done') await this.replicated(id, 'found-done');
    return result;
  }

  /** Marks done (with the effect) and frees the lock, unless another delivery holds the lock (see CompleteResult). */
  async complete(id: string, token: string, commands: RedisCommand[]): Promise<CompleteResult> {
    const result = await this.redis.idemComplete(this.doneKey(id), this.lockKey(id), token, this.doneTtlSeconds, ...flatten(commands));
    if (result !== 'taken') await this.replicated(id, result === 'applied' ? 'wrote' : 'found-done');
    return result;
  }

  /**
   * Waits for the replicas (ReplicaAckShortfallError when too few answer: the guard holds the delivery
   * and commits again). A mark found done may have been written by another consumer whose own WAIT
   * fell short: refreshing its TTL is a write after it in the replication stream, so the WAIT that
   * follows covers the mark too.
   */
  private async replicated(id: string, what: 'wrote' | 'found-done'): Promise<void> {
    if (!this.replicaAcks?.required) return;
    if (what === 'found-done') await this.redis.expire(this.doneKey(id), this.doneTtlSeconds);
    await this.replicaAcks.confirm();
  }

  async release(id: string, token: string): Promise<void> {
    await this.redis.idemRelease(this.lockKey(id), token);
  }

  async renew(id: string, token: string, lockTtlMs: number): Promise<RenewResult> {
    return this.redis.idemRenew(this.lockKey(id), this.doneKey(id), token, lockTtlMs);
  }

  async isDone(id: string): Promise<boolean> {
    return (await this.redis.exists(this.doneKey(id))) === 1;
  }

  private doneKey(id: string): string {
    return `${this.keyPrefix}:{${id}}:done`;
  }

  private lockKey(id: string): string {
    return `${this.keyPrefix}:{${id}}:lock`;
  }
}

/** The effect as script arguments: each command's length, then the command. */
function flatten(commands: RedisCommand[]): (string | number)[] {
  const args: (string | number)[] = [];
  for (const command of commands) args.push(command.length, ...command);
  return args;
}
