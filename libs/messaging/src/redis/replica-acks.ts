import type Redis from 'ioredis';

/** How many replicas must hold a write before it counts (REDIS_MIN_REPLICA_ACKS), and how long to wait. */
export interface ReplicaAckPolicy {
  minReplicaAcks: number;
  replicaAckTimeoutMs: number;
}

/**
 * Fewer replicas acknowledged a write than the policy asks. The write may still be on the primary
 * (and may reach the replicas later), but it is not safe from the primary's crash, so the caller must
 * treat it as a failed write: the producer refuses the message (or keeps it only if the broker took
 * it), the consumer holds the delivery and commits again.
 */
export class ReplicaAckShortfallError extends Error {
  constructor(
    readonly wanted: number,
    readonly acknowledged: number,
    readonly timeoutMs: number,
  ) {
    super(`only ${acknowledged} of ${wanted} Redis replicas acknowledged the write within ${timeoutMs} ms`);
    this.name = 'ReplicaAckShortfallError';
  }
}

/**
 * Redis WAIT after a write: resolves once `minReplicaAcks` replicas have every write this connection
 * made so far (WAIT counts the connection's last propagated write, and the replication stream is in
 * order, so earlier writes are covered too). With a policy of 0 it costs nothing. Callers whose script
 * may find its write already done make a small write anyway, so that WAIT still covers the original.
 */
export class ReplicaAcks {
  constructor(
    private readonly redis: Redis,
    private readonly policy: ReplicaAckPolicy,
  ) {}

  get required(): boolean {
    return this.policy.minReplicaAcks > 0;
  }

  async confirm(): Promise<void> {
    if (!this.required) return;
    const { minReplicaAcks, replicaAckTimeoutMs } = this.policy;
    const acknowledged = await this.redis.wait(minReplicaAcks, replicaAckTimeoutMs);
    if (acknowledged < minReplicaAcks) throw new ReplicaAckShortfallError(minReplicaAcks, acknowledged, replicaAckTimeoutMs);
  }
}
