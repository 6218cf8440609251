import type { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import type { Channel, Message } from 'amqplib';
import { AckCoalescer } from './ack-coalescer';

/** What the coalescer reports so that shutdown waits for acks asked for and not sent yet. */
export interface PendingAcks {
  hold(count: number): void;
  release(count: number): void;
}

const coalescing = new WeakSet<Channel>();

/**
 * Takes the acks of every channel golevelup consumes on out of its hands: `channel.ack(message)`
 * (golevelup's, after the handler returned; the failure router's, after its copy was confirmed)
 * asks the channel's AckCoalescer, which sends the acks of one event-loop turn together at its end,
 * with `allUpTo` only over a contiguous run of tags that were all asked for or settled. A batch of
 * commits that returned together is so acknowledged in one frame. nack and reject are sent at once,
 * as before, and recorded as settled. Installed as a channel setup, so each channel amqp-connection-
 * manager opens (after a reconnect, or a reopen) gets a coalescer of its own before it consumes.
 */
export function coalesceAcks(amqp: AmqpConnection, pending: PendingAcks): void {
  for (const wrapper of Object.values(amqp.managedChannels)) {
    void wrapper.addSetup((channel: Channel) => takeOverAcks(channel, pending)).catch(() => undefined);
  }
}

export function takeOverAcks(channel: Channel, pending: PendingAcks): void {
  if (coalescing.has(channel)) return;
  coalescing.add(channel);
  const ack = channel.ack.bind(channel);
  const nack = channel.nack.bind(channel);
  const reject = channel.reject.bind(channel);
  const coalescer = new AckCoalescer(
    { ack },
    (count) => pending.hold(count),
    (count) => pending.release(count),
  );
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    coalescer.flush();
  };
  channel.ack = (message: Message, allUpTo?: boolean) => {
    if (allUpTo) {
      coalescer.flush();
      ack(message, true);
      coalescer.settledElsewhere(message.fields.deliveryTag, true);
      return;
    }
    coalescer.ask(message);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  channel.nack = (message: Message, allUpTo?: boolean, requeue?: boolean) => {
    nack(message, allUpTo, requeue);
    coalescer.settledElsewhere(message.fields.deliveryTag, allUpTo);
  };
  channel.reject = (message: Message, requeue?: boolean) => {
    reject(message, requeue);
    coalescer.settledElsewhere(message.fields.deliveryTag);
  };
  channel.once('close', () => coalescer.close());
}
