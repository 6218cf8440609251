import { waitFor } from '../../support/wait-for';
import type { ProcessedStream } from './processed-stream';
import { sendAccepted } from './system-http';
import type { RunTypes, SystemTarget } from './system-target';

/** Waits until every id has at least one processed entry; returns the counts then. */
export function waitForProcessed(
  target: SystemTarget,
  stream: ProcessedStream,
  ids: readonly string[],
  description = `${ids.length} message(s) processed`,
): Promise<Map<string, number>> {
  return waitFor(
    async () => {
      const counts = await stream.counts();
      return ids.every((id) => (counts.get(id) ?? 0) > 0) ? counts : undefined;
    },
    { timeoutMs: target.deliveryTimeoutMs, intervalMs: 100, description },
  );
}

/**
 * Sends one more message of the run (a fence) and waits for its effect. Work queued before it has
 * then had its turn, so a second entry of an earlier message, or an entry of a refused one, would
 * have shown by now. Returns the counts after the fence.
 */
export async function settle(target: SystemTarget, stream: ProcessedStream, types: RunTypes): Promise<Map<string, number>> {
  const fence = await sendAccepted(target, types.type('fence'), { fence: true });
  return waitForProcessed(target, stream, [fence], 'the fence message to be processed');
}
