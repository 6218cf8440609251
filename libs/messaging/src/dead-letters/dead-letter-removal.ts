import { Logger } from '@nestjs/common';
import { deadLetterKeyOf } from './dead-letter-record';
import type { DeadLetterIndex } from './dead-letter-index';
import { passOverQueue, type BrokerConnection } from './dead-letter-pass';

export interface RemovalReport {
  /** Letters taken out of the queue for good. */
  deleted: string[];
  /** Asked for but not in the queue; their index entries (left by a crash) were dropped. */
  notInQueue: string[];
}

/**
 * Deletes dead letters for good: one pass over the DLQ acknowledges the messages with the given keys
 * (every copy of each), and each leaves the index right after its ack. A crash in between leaves an
 * index entry without its message, which the next removal or reconciliation drops.
 */
export class DeadLetterRemoval {
  private readonly logger = new Logger(DeadLetterRemoval.name);

  constructor(
    private readonly index: DeadLetterIndex,
    private readonly connection: BrokerConnection,
  ) {}

  async delete(queue: string, keys: string[]): Promise<RemovalReport> {
    const wanted = new Set(keys);
    const deleted = new Set<string>();
    if (wanted.size === 0) return { deleted: [], notInQueue: [] };
    const pass = await passOverQueue(
      this.connection,
      queue,
      async (channel, message) => {
        const key = deadLetterKeyOf(message.properties.messageId, message.content);
        if (!wanted.has(key)) return;
        channel.ack(message);
        deleted.add(key);
        await this.index.remove(queue, [key]);
      },
      (error) => this.logger.warn({ queue, error: error.message }, 'dead-letter removal channel closed by the broker'),
    );
    const notInQueue = pass.seen === pass.total ? [...wanted].filter((key) => !deleted.has(key)) : [];
    await this.index.remove(queue, notInQueue);
    if (deleted.size > 0) this.logger.warn({ queue, deleted: deleted.size }, 'dead letters deleted by an operator');
    return { deleted: [...deleted], notInQueue };
  }
}
