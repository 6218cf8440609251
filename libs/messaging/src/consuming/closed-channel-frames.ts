import type { ChannelModel } from 'amqplib';

/** amqplib 0.10's connection under its ChannelModel: the frame dispatch and the open channels by number. */
interface AmqplibConnection {
  accept?: (frame: { channel?: number }) => unknown;
  channels?: unknown[];
}

/**
 * After the broker closes a channel (consumer_timeout, a 404 on a publish) amqplib releases its number
 * at once, but the broker can still send frames for it that were on their way (deliveries from a quorum
 * queue): amqplib then closes the whole connection ("Frame on unknown channel"), measured in about one
 * run in three. Those frames belong to a channel that is gone; the broker requeues their messages, so
 * they are dropped here instead.
 */
const tolerant = new WeakSet<object>();
export function ignoreFramesOfClosedChannels(model: ChannelModel): void {
  const connection = (model as unknown as { connection?: AmqplibConnection }).connection;
  const accept = connection?.accept;
  if (!connection || tolerant.has(connection) || typeof accept !== 'function' || !Array.isArray(connection.channels)) return;
  tolerant.add(connection);
  connection.accept = function (this: AmqplibConnection, frame: { channel?: number }) {
    if (frame.channel && !this.channels?.[frame.channel]) return undefined;
    return accept.call(this, frame);
  };
}
