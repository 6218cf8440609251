import type { TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { OUTBOX_DUE } from '../support/outbox-keys';
import { assertExactlyOnce, processedCounts } from '../support/processed';

/**
 * Waits until every accepted id has its effect, the outbox is empty and the work queue is empty, then
 * reports lost and duplicated ids. Waiting for the drain first means a late duplicate (a replay after
 * a lost confirm) is counted, not missed.
 */
export async function drainAndCount(env: TestEnv, accepted: Iterable<string>, timeoutMs = 60_000) {
  const ids = [...accepted];
  const connection = await env.amqp();
  try {
    const channel = await connection.createChannel();
    // A timeout is not thrown: the report below then names the ids that never arrived.
    await waitFor(
      async () => {
        const counts = await processedCounts(env.redis);
        if (!ids.every((id) => counts.has(id))) return false;
        if ((await env.redis.zcard(OUTBOX_DUE)) > 0) return false;
        const queue = await channel.checkQueue('messaging.consumer');
        return queue.messageCount === 0;
      },
      { timeoutMs, intervalMs: 200, description: `${ids.length} accepted messages to be processed and the outbox and queue drained` },
    ).catch((error: Error) => process.stderr.write(`${error.message}\n`));
  } finally {
    await connection.close().catch(() => undefined);
  }
  return assertExactlyOnce(await processedCounts(env.redis), ids);
}
