import type { SubscriptionSettings } from '../config';
import type { IdempotencyGuard } from '../idempotency';

/**
 * One idempotency guard per key namespace (SubscriptionSettings.keyspace). The default subscription
 * uses the guard of earlier versions, keyed `<prefix>:{<id>}:…`; each other subscription has a guard
 * over a store prefixed with its queue, `<prefix>:<queue>:{<id>}:…`. A queue name holds no `{`, so no
 * message id can make one namespace's key another's, and each subscription does its work once per id.
 */
export class IdempotencyGuards {
  private readonly byKeyspace = new Map<string, IdempotencyGuard>();

  constructor(
    private readonly defaultGuard: IdempotencyGuard,
    subscriptions: readonly SubscriptionSettings[],
    guardFor: (keyPrefix: string) => IdempotencyGuard,
    keyPrefix: string,
  ) {
    for (const { keyspace } of subscriptions) {
      if (keyspace !== undefined && !this.byKeyspace.has(keyspace)) this.byKeyspace.set(keyspace, guardFor(`${keyPrefix}:${keyspace}`));
    }
  }

  /** The guard of a namespace; undefined is the default subscription's. */
  of(keyspace: string | undefined): IdempotencyGuard {
    if (keyspace === undefined) return this.defaultGuard;
    const guard = this.byKeyspace.get(keyspace);
    if (!guard) throw new Error(`no subscription with the queue ${keyspace} is declared in MessagingModule's subscriptions`);
    return guard;
  }

  /** Ends every guard's waits (shutdown). */
  stop(): void {
    this.defaultGuard.stop();
    for (const guard of this.byKeyspace.values()) guard.stop();
  }
}
