import { EventEmitter } from 'node:events';
import type { Channel, Message } from 'amqplib';
import { takeOverAcks } from './coalesced-acks';
import { InFlightDeliveries } from './in-flight-deliveries';

/** A stand-in for an amqplib channel: records the settlement frames it would send. */
class RecordingChannel extends EventEmitter {
  readonly frames: string[] = [];
  closed = false;
  ack(message: Message, allUpTo?: boolean): void {
    if (this.closed) throw new Error('Channel closed');
    this.frames.push(`${allUpTo ? 'ack<=' : 'ack '}${message.fields.deliveryTag}`);
  }
  nack(message: Message, allUpTo?: boolean, requeue?: boolean): void {
    this.frames.push(`nack ${message.fields.deliveryTag}${allUpTo ? ' allUpTo' : ''}${requeue === false ? '' : ' requeue'}`);
  }
  reject(message: Message): void {
    this.frames.push(`reject ${message.fields.deliveryTag}`);
  }
}

const delivery = (tag: number) => ({ fields: { deliveryTag: tag } }) as unknown as Message;
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function setUp() {
  const recording = new RecordingChannel();
  const inFlight = new InFlightDeliveries();
  takeOverAcks(recording as unknown as Channel, inFlight);
  return { recording, channel: recording as unknown as Channel, inFlight };
}

describe('takeOverAcks', () => {
  it('sends the acks of one event-loop turn at its end, in one allUpTo frame, and counts them in flight meanwhile', async () => {
    const { recording, channel, inFlight } = setUp();
    for (const tag of [1, 2, 3]) channel.ack(delivery(tag));
    expect(recording.frames).toEqual([]);
    expect(inFlight.size).toBe(3);
    const drained = inFlight.drained(1000);
    await nextTurn();
    expect(recording.frames).toEqual(['ack<=3']);
    await expect(drained).resolves.toBe(true);
  });

  it('sends nacks and rejects at once, and lets a run pass them', async () => {
    const { recording, channel } = setUp();
    channel.ack(delivery(1));
    channel.nack(delivery(2), false, true);
    channel.reject(delivery(3), false);
    channel.ack(delivery(4));
    expect(recording.frames).toEqual(['nack 2 requeue', 'reject 3']);
    await nextTurn();
    expect(recording.frames).toEqual(['nack 2 requeue', 'reject 3', 'ack<=4']);
  });

  it('acks one by one beyond a delivery not settled yet', async () => {
    const { recording, channel } = setUp();
    channel.ack(delivery(1));
    channel.ack(delivery(3));
    await nextTurn();
    expect(recording.frames).toEqual(['ack<=1', 'ack 3']);
  });

  it('drops the acks waiting when the channel closes, and releases them for shutdown', async () => {
    const { recording, channel, inFlight } = setUp();
    channel.ack(delivery(1));
    recording.closed = true;
    recording.emit('close');
    await nextTurn();
    expect(recording.frames).toEqual([]);
    expect(inFlight.size).toBe(0);
  });

  it('takes a channel over once', async () => {
    const { recording, channel, inFlight } = setUp();
    takeOverAcks(channel, inFlight);
    channel.ack(delivery(1));
    await nextTurn();
    expect(recording.frames).toEqual(['ack<=1']);
  });
});
