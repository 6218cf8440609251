import type { Logger } from '@nestjs/common';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { WrapperInternals } from './library-internals';

/**
 * The last line of the consumer's liveness: what to do about a subscription that has had no consumer
 * for a while. Every known way to lose a consumer (a lost connection, a closed channel, a broker
 * cancel) has its own recovery; this catches the ones nobody foresaw (a setup that never completed, a
 * recovery that raced a reconnect), so that a consumer never silently stops consuming while its broker
 * connection is up.
 */
export type StallAction =
  /** Nothing to do: it has a consumer, is recovering, or its connection is down (the reconnect resubscribes). */
  | 'none'
  /** Its channel is gone and nothing is opening it: open it again. */
  | 'reopen'
  /** Its channel is open but no consumer came of it: close it (nothing unacknowledged is lost: the broker requeues), then reopen. */
  | 'recycle';

export interface StallView {
  /** When it lost its consumer (or was created without one yet), ms since the epoch; undefined while it has one. */
  lostSince?: number;
  /** Its handler was handed to golevelup (a declared subscription without a handler is the start-up check's business). */
  created: boolean;
  connected: boolean;
  /** A recovery step of the supervisor is scheduled. */
  recoveryPending: boolean;
  channelOpen: boolean;
  settingUp: boolean;
}

export function stallAction(view: StallView, now: number, stallMs: number): StallAction {
  if (view.lostSince === undefined || !view.created || !view.connected || view.recoveryPending) return 'none';
  if (now - view.lostSince < stallMs) return 'none';
  if (view.channelOpen) return 'recycle';
  return view.settingUp ? 'none' : 'reopen';
}

/** A subscription as the supervisor keeps it, as far as the check reads it. */
export interface StallCandidate {
  queue: string;
  consumerTag?: string;
  wrapper?: ChannelWrapper;
  lost?: { since: number };
}

/** A subscription without a consumer this long, while connected and with no recovery scheduled, is stalled. */
export const STALL_MS = 10_000;

/**
 * The periodic check: recovers each stalled subscription (see stallAction), a recycle by closing its
 * channel, whose close event runs the usual path (consumers unregistered, the channel reopened).
 */
export function recoverStalled(
  candidates: Iterable<StallCandidate>,
  context: { connected: boolean; recoveryPending: boolean; logger: Logger },
  reopen: (wrapper: ChannelWrapper) => void,
  now = Date.now(),
): void {
  for (const subscription of candidates) {
    const { wrapper } = subscription;
    const internals = wrapper as unknown as WrapperInternals | undefined;
    const lostSince = subscription.consumerTag ? undefined : subscription.lost?.since;
    const view = {
      ...context,
      lostSince,
      created: Boolean(wrapper),
      channelOpen: Boolean(internals?._channel),
      settingUp: Boolean(internals?._settingUp),
    };
    const action = stallAction(view, now, STALL_MS);
    if (action === 'none' || !wrapper || !subscription.lost) continue;
    context.logger.warn(
      { queue: subscription.queue, action, stalledMs: now - subscription.lost.since },
      'no consumer while connected; recovering the consuming channel',
    );
    // Restarts the clock: the recovery gets its own stall time before the check acts again.
    subscription.lost.since = now;
    if (action === 'reopen') reopen(wrapper);
    else void internals?._channel?.close().catch(() => undefined);
  }
}
