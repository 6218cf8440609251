import { Logger } from '@nestjs/common';
import type { Channel, ConsumeMessage, Options } from 'amqplib';
import type { SubscriptionSettings } from '../config';
import type { DeadLetterIndex } from '../dead-letters';
import { correlationIdOfDelivery, HEADERS, InvalidEnvelopeError } from '../envelope';
import { GuardStoppedError } from '../idempotency';
import type { MessagingMetrics } from '../metrics';
import { endingDeliverySpans, noteDeliveryFailure } from '../spans';
import type { SubscriptionTopology, TopologyKeeper } from '../topology';
import { CopyReturnedError, publishCopy } from './confirmed-copy';
import { isNonRetryable } from './non-retryable.error';

/** Headers the broker owns; they are not copied onto a message we publish again. */
const BROKER_HEADERS = [
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
  'x-delivery-count',
];

const ROUTING_CONFIRM_TIMEOUT_MS = 10_000;
/**
 * Pause before handing back a delivery we could not route, so a broken broker is not hammered (and,
 * after a returned copy, the topology is declared again meanwhile).
 */
const REQUEUE_PAUSE_MS = 1000;

export type FailureDecision =
  | { action: 'abandon' }
  | { action: 'requeue' }
  | { action: 'retry'; queue: string; nextAttempt: number }
  | { action: 'dead-letter'; kind: 'poison' | 'permanent' | 'exhausted'; reason: string };

/**
 * What to do with a delivery whose handling threw: a pure decision, tested on its own. `isPermanent`
 * is the subscription's predicate (RetryPolicy.isPermanent): like a NonRetryableError, an error it
 * answers true for goes to the DLQ at once.
 */
export function decideFailure(
  error: unknown,
  attempt: number,
  maxAttempts: number,
  retryQueues: string[],
  isPermanent: (error: unknown) => boolean = () => false,
): FailureDecision {
  // The ack itself failed because the channel is gone: the broker redelivers, and the guard knows
  // whether the work was done. Nothing to route.
  if (isChannelClosed(error)) return { action: 'abandon' };
  if (error instanceof GuardStoppedError) return { action: 'requeue' };
  if (error instanceof InvalidEnvelopeError) return { action: 'dead-letter', kind: 'poison', reason: `invalid message: ${error.reason}` };
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (isNonRetryable(error) || answersPermanent(isPermanent, error)) {
    return { action: 'dead-letter', kind: 'permanent', reason: `handler failed permanently on attempt ${attempt}: ${reason}` };
  }
  if (attempt >= maxAttempts || attempt - 1 >= retryQueues.length) {
    return { action: 'dead-letter', kind: 'exhausted', reason: `handler failed ${attempt} time(s), last: ${reason}` };
  }
  return { action: 'retry', queue: retryQueues[attempt - 1], nextAttempt: attempt + 1 };
}

/** A predicate that throws says nothing: the failure is retried as any other. */
function answersPermanent(isPermanent: (error: unknown) => boolean, error: unknown): boolean {
  try {
    return isPermanent(error) === true;
  } catch {
    return false;
  }
}

function isChannelClosed(error: unknown): boolean {
  return error instanceof Error && error.name === 'IllegalOperationError';
}

export function attemptOf(delivery: ConsumeMessage): number {
  const attempt = Number(delivery.properties.headers?.[HEADERS.attempt] ?? 1);
  return Number.isInteger(attempt) && attempt >= 1 ? attempt : 1;
}

function republishOptions(delivery: ConsumeMessage, extraHeaders: Record<string, unknown>): Options.Publish {
  // amqplib types these properties as `any`; they are strings and a number on the wire.
  const properties = delivery.properties as {
    messageId?: string;
    type?: string;
    contentType?: string;
    timestamp?: number;
    correlationId?: string;
    headers?: Record<string, unknown>;
  };
  const headers = { ...(properties.headers ?? {}) };
  for (const name of BROKER_HEADERS) delete headers[name];
  return {
    persistent: true,
    messageId: properties.messageId,
    type: properties.type,
    contentType: properties.contentType,
    timestamp: properties.timestamp,
    correlationId: properties.correlationId,
    headers: { ...headers, ...extraHeaders },
  };
}

/**
 * A subscription's error handler (golevelup's `errorHandler`): every delivery of its queue whose
 * handling threw ends here, and is routed by the subscription's own policy to its own delay queues
 * and DLQ. A retryable failure is copied, with its attempt count, to the delay queue for that attempt; a
 * message that can never succeed, or has used its attempts, is copied to the DLQ with headers saying
 * why, when, from where and how often. The original is acknowledged only after the broker confirmed
 * the copy, so a crash in between leaves a duplicate (absorbed by the guard), never a loss. Nothing
 * is requeued in a hot loop: a copy that is not confirmed, or that the broker returned because no
 * queue took it (a delay queue or the DLQ deleted), leaves the original unacknowledged, handed back
 * after a pause; a returned copy is counted (messaging_copies_returned_total{target}) and makes the
 * topology be declared again, so the next attempt finds its queue.
 */
export function createFailureRouter(
  subscription: SubscriptionSettings,
  topology: SubscriptionTopology,
  deadLetterExchange: string,
  metrics: MessagingMetrics,
  keeper: TopologyKeeper,
  deadLetters?: DeadLetterIndex,
) {
  const logger = new Logger('FailureRouter');
  const { queue } = subscription;

  // The process span of a failed delivery (spans/) ends once it is routed.
  return endingDeliverySpans(async (channel: Channel, delivery: ConsumeMessage, error: unknown): Promise<void> => {
    const attempt = attemptOf(delivery);
    const decision = decideFailure(error, attempt, subscription.maxAttempts, topology.retryQueues, subscription.isPermanent);
    const log = {
      subscription: subscription.name,
      messageId: delivery.properties.messageId as string | undefined,
      correlationId: correlationIdOfDelivery(delivery.properties),
      attempt,
      error: error instanceof Error ? error.message : String(error),
    };
    if (decision.action === 'abandon') {
      logger.warn(log, 'delivery lost with its channel; the broker will redeliver it');
      return;
    }
    try {
      if (decision.action === 'requeue') {
        channel.nack(delivery, false, true);
        return;
      }
      if (decision.action === 'retry') {
        await publishCopy(
          channel,
          {
            exchange: '',
            routingKey: decision.queue,
            content: delivery.content,
            options: republishOptions(delivery, { [HEADERS.attempt]: decision.nextAttempt }),
            target: 'retry',
          },
          ROUTING_CONFIRM_TIMEOUT_MS,
        );
        channel.ack(delivery);
        metrics.consumed.inc({ result: 'retried' });
        noteDeliveryFailure(delivery, 'retry scheduled', {
          'reliable_messaging.retry.queue': decision.queue,
          'reliable_messaging.retry.attempt': decision.nextAttempt,
        });
        logger.warn({ ...log, retryQueue: decision.queue }, 'handler failed, retry scheduled');
        return;
      }
      const now = new Date().toISOString();
      await publishCopy(
        channel,
        {
          exchange: deadLetterExchange,
          routingKey: queue,
          content: delivery.content,
          options: republishOptions(delivery, {
            [HEADERS.failureReason]: decision.reason,
            [HEADERS.failureKind]: decision.kind,
            [HEADERS.failedAt]: now,
            [HEADERS.failedQueue]: queue,
            [HEADERS.failedAttempts]: decision.kind === 'poison' ? 0 : attempt,
          }),
          target: 'dead_letter',
        },
        ROUTING_CONFIRM_TIMEOUT_MS,
      );
      channel.ack(delivery);
      await deadLetters?.recordDeadLettered(subscription.deadLetterQueue, delivery, {
        ...decision,
        failedAt: now,
        attempts: decision.kind === 'poison' ? 0 : attempt,
      });
      metrics.consumed.inc({ result: 'dead_lettered' });
      noteDeliveryFailure(delivery, 'dead-lettered', {
        'reliable_messaging.failure.kind': decision.kind,
        'reliable_messaging.failure.reason': decision.reason,
      });
      logger.error({ ...log, reason: decision.reason }, 'message dead-lettered');
    } catch (routingError) {
      const pause = new Promise((resolve) => setTimeout(resolve, REQUEUE_PAUSE_MS));
      if (routingError instanceof CopyReturnedError) {
        metrics.copiesReturned.inc({ target: routingError.target });
        logger.error(
          { ...log, target: routingError.target, exchange: routingError.exchange, routingKey: routingError.routingKey },
          'the copy of the failed delivery was returned (no queue took it); handing the delivery back and declaring the topology again',
        );
        await Promise.all([pause, keeper.ensure(routingError.message)]);
      } else {
        // Most often the channel is gone, and the broker redelivers the message by itself.
        logger.warn({ ...log, routingError: (routingError as Error).message }, 'could not route the failed delivery; handing it back');
        await pause;
      }
      noteDeliveryFailure(delivery, 'handed back', { 'reliable_messaging.routing_error': (routingError as Error).message });
      try {
        channel.nack(delivery, false, true);
      } catch {
        // channel closed: the broker requeues unacknowledged deliveries itself
      }
    }
  });
}
