import type { ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';

/** The broker connection to work on, when there is one. */
export type BrokerConnection = () => ChannelModel | undefined;

export class BrokerUnavailableError extends Error {
  constructor() {
    super('not connected to the broker');
    this.name = 'BrokerUnavailableError';
  }
}

export interface PassResult {
  /** Messages the queue held (ready) when the pass began. */
  total: number;
  /** Messages the pass took (and saw); equal to `total` unless another reader held some. */
  seen: number;
}

/**
 * One pass over a DLQ: takes each message it held at the start (basic.get, unacknowledged) and hands
 * it to `visit`, which may acknowledge it (it leaves the queue) or keep it. Kept messages return to
 * the queue when the pass's channel closes. Only the message in hand is in memory, never the queue.
 */
export async function passOverQueue(
  connection: BrokerConnection,
  queue: string,
  visit: (channel: ConfirmChannel, message: GetMessage) => Promise<void>,
  onChannelError: (error: Error) => void,
): Promise<PassResult> {
  const model = connection();
  if (!model) throw new BrokerUnavailableError();
  const channel = await model.createConfirmChannel();
  // Without a listener amqplib throws a broker-closed channel's error into its frame loop and drops the connection.
  channel.on('error', onChannelError);
  try {
    const total = (await channel.checkQueue(queue)).messageCount;
    let seen = 0;
    while (seen < total) {
      const message = await channel.get(queue, { noAck: false });
      if (!message) break;
      seen++;
      await visit(channel, message);
    }
    // One more round trip, so the broker has read this channel's acks before it closes.
    await channel.checkQueue(queue);
    return { total, seen };
  } finally {
    await channel.close().catch(() => undefined);
  }
}
