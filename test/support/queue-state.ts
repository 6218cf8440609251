import type { ChannelModel } from 'amqplib';
import type { TestEnv } from './test-env';

export interface QueueState {
  /** Messages ready for delivery (not counting those delivered and unacknowledged). */
  ready: number;
  consumers: number;
}

const connections = new WeakMap<TestEnv, Promise<ChannelModel>>();

/**
 * A queue's live state from the broker (a passive declare on a fresh channel), or undefined when the
 * queue does not exist. Unlike `rabbitmqctl list_queues`, whose counts for quorum queues come from
 * statistics refreshed every few seconds, this answers with the queue's state now. It cannot tell
 * unacknowledged deliveries apart: use rabbitmqctl (and waitFor) for those.
 */
export async function queueState(env: TestEnv, queue: string): Promise<QueueState | undefined> {
  let pending = connections.get(env);
  if (!pending) {
    pending = env.amqp();
    connections.set(env, pending);
    pending.then((connection) => connection.on('close', () => connections.delete(env))).catch(() => connections.delete(env));
  }
  const connection = await pending;
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    const { messageCount, consumerCount } = await channel.checkQueue(queue);
    return { ready: messageCount, consumers: consumerCount };
  } catch (error) {
    if (/NOT_FOUND|404/.test((error as Error).message)) return undefined;
    throw error;
  } finally {
    await channel.close().catch(() => undefined);
  }
}
