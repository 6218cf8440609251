import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import {
  DeadLetterIndex,
  DeadLetterQueue,
  DeadLetterReconciler,
  DeadLetterRemoval,
  MESSAGING_SETTINGS,
  type DeadLetterGroup,
  type DeadLetterRecord,
  type MessagingSettings,
  type ReconcileReport,
} from '@app/messaging';
import { BadRequestException, Inject, Injectable, Logger } from '@nestjs/common';
import { ConsoleQueues } from './console-queues.service';
import { CONSOLE_DEAD_LETTER_INDEX, CONSOLE_DEAD_LETTER_QUEUE } from './console-tokens';

/** What the operator picked: some letters of a DLQ, or one whole group of it. */
export type LetterSelection = { queue: string; keys: string[] } | { queue: string; group: string };

export interface RetryReport {
  retried: string[];
  /** In the index but no longer in the queue (their entries were dropped). */
  notInQueue: string[];
  /** Letters without a message id: they cannot be moved back by id (delete them, or move every letter back). */
  refused: string[];
}

/** Counts that differ this long (index vs queue) start a reconciliation pass. */
const DISAGREEMENT_GRACE_MS = 10_000;
/**
 * Equal counts can still hide a difference (a letter missing and another left over); while the
 * console is watched, a pass runs this often anyway.
 */
const RECONCILE_EVERY_MS = 15 * 60_000;

/**
 * Dead letters for the console: grouped, listed and searched from the index (never from the queue),
 * moved back through DeadLetterQueue.moveBack (same id, so work that did happen is absorbed by the
 * guard) and deleted through one removal pass. When the index and its queue disagree for longer than
 * DISAGREEMENT_GRACE_MS, one reconciliation pass brings them together.
 */
@Injectable()
export class ConsoleDeadLetters {
  private readonly logger = new Logger(ConsoleDeadLetters.name);
  private readonly reconciler: DeadLetterReconciler;
  private readonly removal: DeadLetterRemoval;
  private readonly disagreeingSince = new Map<string, number>();
  private readonly lastPass = new Map<string, number>();
  private reconciling?: Promise<ReconcileReport>;

  constructor(
    @Inject(CONSOLE_DEAD_LETTER_INDEX) private readonly index: DeadLetterIndex,
    @Inject(CONSOLE_DEAD_LETTER_QUEUE) private readonly queue: () => DeadLetterQueue,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
    private readonly queues: ConsoleQueues,
    amqp: AmqpConnection,
  ) {
    const connection = () => amqp.managedConnection.connection;
    this.reconciler = new DeadLetterReconciler(index, connection);
    this.removal = new DeadLetterRemoval(index, connection);
  }

  deadLetterQueues(): Promise<string[]> {
    return this.index.queues(this.queue().deadLetterQueueNames);
  }

  async groups(): Promise<DeadLetterGroup[]> {
    const groups = await Promise.all((await this.deadLetterQueues()).map((queue) => this.index.groups(queue)));
    return groups.flat().sort((a, b) => b.lastSeenMs - a.lastSeenMs);
  }

  async groupLetters(queue: string, group: string, offset: number, limit: number) {
    return this.index.summaries(queue, await this.index.groupKeys(queue, group, offset, limit));
  }

  letter(queue: string, key: string): Promise<DeadLetterRecord | undefined> {
    return this.index.get(queue, key);
  }

  /** Letters whose message id or correlation id is `term`, in every DLQ. */
  async search(term: string) {
    const found = await Promise.all(
      (await this.deadLetterQueues()).map(async (queue) => {
        const keys = [...new Set([term, ...(await this.index.byCorrelationId(queue, term))])];
        return (await this.index.summaries(queue, keys)).map((letter) => ({ queue, ...letter }));
      }),
    );
    return found.flat();
  }

  /** Index and queue counts of each DLQ; a disagreement that lasts starts a reconciliation in the background. */
  async agreement(): Promise<{ queue: string; indexed: number; inQueue?: number; reconciling: boolean }[]> {
    return Promise.all(
      (await this.deadLetterQueues()).map(async (queue) => {
        const [indexed, inQueue] = await Promise.all([this.index.count(queue), this.queues.depth(queue)]);
        this.noteAgreement(queue, inQueue === undefined || inQueue === indexed);
        return { queue, indexed, inQueue, reconciling: this.reconciling !== undefined };
      }),
    );
  }

  /** One reconciliation pass at a time in this process. */
  reconcile(queue: string): Promise<ReconcileReport> {
    this.reconciling ??= this.reconciler.reconcile(queue).finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  async retry(selection: LetterSelection): Promise<RetryReport> {
    const subscription = this.subscriptionOf(selection.queue);
    const keys = await this.keysOf(selection);
    const refused = keys.filter((key) => key.startsWith('~'));
    const ids = keys.filter((key) => !key.startsWith('~'));
    if (ids.length === 0) return { retried: [], notInQueue: [], refused };
    const { moved } = await this.queue().moveBack({ ids }, subscription);
    const retried = new Set(moved);
    // moveBack passes over the whole queue: an id it did not find is not there (a crash left its entry).
    const notInQueue = ids.filter((id) => !retried.has(id));
    await this.index.remove(selection.queue, notInQueue);
    this.logger.warn(
      { queue: selection.queue, retried: retried.size, notInQueue: notInQueue.length },
      'dead letters retried from the console',
    );
    return { retried: [...retried], notInQueue, refused };
  }

  async delete(selection: LetterSelection) {
    return this.removal.delete(selection.queue, await this.keysOf(selection));
  }

  private async keysOf(selection: LetterSelection): Promise<string[]> {
    if ('group' in selection) return this.index.groupKeys(selection.queue, selection.group);
    return selection.keys;
  }

  /** The subscription a DLQ belongs to, among those this app declares; a 400 naming the ones it can move back otherwise. */
  private subscriptionOf(queue: string): string {
    const subscription = this.queue().subscriptionOfDeadLetterQueue(queue);
    if (subscription === undefined) {
      throw new BadRequestException(
        `letters of ${queue} cannot be moved back from here: this app moves back ${this.queue().deadLetterQueueNames.join(', ')}`,
      );
    }
    return subscription;
  }

  private noteAgreement(queue: string, agrees: boolean): void {
    const now = Date.now();
    if (!this.lastPass.has(queue)) this.lastPass.set(queue, now);
    const due = now - (this.lastPass.get(queue) ?? now) >= RECONCILE_EVERY_MS;
    if (agrees) this.disagreeingSince.delete(queue);
    else if (!this.disagreeingSince.has(queue)) this.disagreeingSince.set(queue, now);
    const disagreeing = now - (this.disagreeingSince.get(queue) ?? now) >= DISAGREEMENT_GRACE_MS;
    if ((due || disagreeing) && this.reconciling === undefined) {
      this.disagreeingSince.delete(queue);
      this.lastPass.set(queue, now);
      this.reconcile(queue).catch((error: Error) => this.logger.warn({ queue, error: error.message }, 'reconciliation failed'));
    }
  }
}
