import { Logger } from '@nestjs/common';
import { deadLetterRecordOf } from './dead-letter-record';
import type { DeadLetterIndex } from './dead-letter-index';
import { passOverQueue, type BrokerConnection } from './dead-letter-pass';

export interface ReconcileReport {
  queue: string;
  /** Messages in the queue during the pass. */
  queued: number;
  /** Letters indexed before the pass. */
  indexedBefore: number;
  /** Messages found in the queue but not in the index (a crash before the index write, the broker's own dead-lettering): indexed now. */
  added: number;
  /** Index entries whose message was not in the queue (a crash after it left): removed. */
  removed: number;
  /** False when another reader held messages during the pass: then nothing was removed. */
  complete: boolean;
}

/**
 * Brings the index of one DLQ into agreement with the queue in one pass over it (dead-letter-pass.ts).
 * Entries are added for every message the index lacks, as the pass goes; entries whose message the
 * pass did not see are removed only when the pass saw every message, and only those indexed before
 * the pass began (a letter dead-lettered during it is left alone). A pass hands each message back,
 * which a quorum queue counts against the DLQ's delivery limit (DLQ_DELIVERY_LIMIT: out of reach), so
 * it runs when the counts disagree or an operator asks, not on every listing.
 */
export class DeadLetterReconciler {
  private readonly logger = new Logger(DeadLetterReconciler.name);

  constructor(
    private readonly index: DeadLetterIndex,
    private readonly connection: BrokerConnection,
  ) {}

  async reconcile(queue: string): Promise<ReconcileReport> {
    const indexed = await this.index.allKeys(queue);
    const seen = new Set<string>();
    let added = 0;
    const pass = await passOverQueue(
      this.connection,
      queue,
      async (_channel, message) => {
        const record = deadLetterRecordOf(message.properties, message.content);
        seen.add(record.key);
        if (indexed.has(record.key)) return;
        await this.index.record(queue, record);
        added++;
      },
      (error) => this.logger.warn({ queue, error: error.message }, 'reconciliation channel closed by the broker'),
    );
    const complete = pass.seen === pass.total;
    const stale = complete ? [...indexed].filter((key) => !seen.has(key)) : [];
    const removed = await this.index.remove(queue, stale);
    const report = { queue, queued: pass.total, indexedBefore: indexed.size, added, removed, complete };
    if (added > 0 || removed > 0) this.logger.warn(report, 'dead-letter index reconciled with its queue');
    return report;
  }
}
