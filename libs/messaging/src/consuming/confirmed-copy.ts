import { randomUUID } from 'node:crypto';
import type { Channel, ConfirmChannel, Message, Options } from 'amqplib';

/**
 * Each copy the consumer side publishes (retry, dead letter, move-back) carries a header of its own,
 * unique per copy, so a return can be matched to the copy it belongs to: the broker sends a returned
 * message back (basic.return) before it confirms it, and the return names no delivery tag.
 */
export const COPY_ID_HEADER = 'x-copy-id';

/** Where a copy was going, as the `target` label of messaging_copies_returned_total. */
export type CopyTarget = 'retry' | 'dead_letter' | 'move_back';

export interface Copy {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  target: CopyTarget;
}

/** The broker confirmed the copy but routed it nowhere (no queue bound for it): it went nowhere. */
export class CopyReturnedError extends Error {
  constructor(
    readonly target: CopyTarget,
    readonly exchange: string,
    readonly routingKey: string,
    readonly replyText: string,
  ) {
    super(`copy (${target}) to exchange '${exchange}' with routing key '${routingKey}' was returned: ${replyText}`);
    this.name = 'CopyReturnedError';
  }
}

export class CopyNotConfirmedError extends Error {
  constructor(timeoutMs: number) {
    super(`no confirm for the copy within ${timeoutMs} ms`);
    this.name = 'CopyNotConfirmedError';
  }
}

interface PendingCopy {
  returned?: string;
}

/** Copies in flight on each channel, by copy id; the channel's return listener is installed once. */
const pendingByChannel = new WeakMap<Channel, Map<string, PendingCopy>>();

function pendingCopiesOf(channel: Channel): Map<string, PendingCopy> {
  let pending = pendingByChannel.get(channel);
  if (!pending) {
    const copies = new Map<string, PendingCopy>();
    channel.on('return', (message: Message) => {
      const id = message.properties.headers?.[COPY_ID_HEADER] as unknown;
      const copy = typeof id === 'string' ? copies.get(id) : undefined;
      const replyText = (message.fields as { replyText?: unknown }).replyText;
      if (copy) copy.returned = typeof replyText === 'string' ? replyText : 'unroutable';
    });
    pendingByChannel.set(channel, copies);
    pending = copies;
  }
  return pending;
}

/**
 * Publishes a copy as persistent and mandatory on a confirm channel and resolves only once the broker
 * confirmed it AND routed it to a queue. A copy the broker returned rejects with CopyReturnedError;
 * no confirm within `timeoutMs` rejects with CopyNotConfirmedError; a nack or a closed channel rejects
 * with amqplib's error. Only a resolved copy lets the caller acknowledge the original.
 */
export function publishCopy(channel: Channel, copy: Copy, timeoutMs: number): Promise<void> {
  const pending = pendingCopiesOf(channel);
  const id = randomUUID();
  const state: PendingCopy = {};
  pending.set(id, state);
  const options: Options.Publish = {
    ...copy.options,
    persistent: true,
    mandatory: true,
    headers: { ...(copy.options.headers as Record<string, unknown> | undefined), [COPY_ID_HEADER]: id },
  };
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new CopyNotConfirmedError(timeoutMs));
    }, timeoutMs);
    const settle = (err: unknown) => {
      clearTimeout(timer);
      pending.delete(id);
      if (err) reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
      else if (state.returned !== undefined) reject(new CopyReturnedError(copy.target, copy.exchange, copy.routingKey, state.returned));
      else resolve();
    };
    try {
      (channel as ConfirmChannel).publish(copy.exchange, copy.routingKey, copy.content, options, settle);
    } catch (error) {
      // amqplib registers the confirm callback before it encodes and sends: after a synchronous failure
      // that callback stays queued and would take the next copy's confirm. A channel that is closed
      // already has nothing left to mismatch; any other is retired (the subscription supervisor opens
      // a new one).
      if (!(error instanceof Error && error.name === 'IllegalOperationError')) void channel.close().catch(() => undefined);
      settle(error);
    }
  });
}
