import type { Message } from 'amqplib';
import { AckCoalescer, MAX_REMEMBERED } from './ack-coalescer';

/** Pure bookkeeping: a fake channel records the frames the coalescer would send. */
const delivery = (tag: number) => ({ fields: { deliveryTag: tag } }) as unknown as Message;

function setUp() {
  const frames: string[] = [];
  let waiting = 0;
  const coalescer = new AckCoalescer(
    { ack: (message, allUpTo) => frames.push(`${allUpTo ? 'ack<=' : 'ack '}${message.fields.deliveryTag}`) },
    (count) => (waiting += count),
    (count) => (waiting -= count),
  );
  return { coalescer, frames, waiting: () => waiting };
}

describe('AckCoalescer', () => {
  it('acks a contiguous run of asked tags in one allUpTo frame, after the flush only', () => {
    const { coalescer, frames, waiting } = setUp();
    for (const tag of [3, 1, 2]) coalescer.ask(delivery(tag));
    expect(frames).toEqual([]);
    expect(waiting()).toBe(3);
    coalescer.flush();
    expect(frames).toEqual(['ack<=3']);
    expect(waiting()).toBe(0);
  });

  it('never covers a tag it has not heard of: beyond the gap, acks go one by one', () => {
    const { coalescer, frames } = setUp();
    // Tag 3 is still in its handler (or with the failure router, or held by the guard).
    for (const tag of [1, 2, 4, 5]) coalescer.ask(delivery(tag));
    coalescer.flush();
    expect(frames).toEqual(['ack<=2', 'ack 4', 'ack 5']);
  });

  it('passes tags settled elsewhere (nack, single acks) once the gap closes', () => {
    const { coalescer, frames } = setUp();
    coalescer.ask(delivery(1));
    coalescer.ask(delivery(3));
    coalescer.flush(); // 2 unknown: 3 alone
    coalescer.settledElsewhere(4); // nacked, requeued
    coalescer.ask(delivery(2));
    coalescer.ask(delivery(5));
    coalescer.flush();
    expect(frames).toEqual(['ack<=1', 'ack 3', 'ack<=5']);
  });

  it('does not run past a nacked tag into one still outstanding', () => {
    const { coalescer, frames } = setUp();
    coalescer.settledElsewhere(1);
    coalescer.ask(delivery(2));
    coalescer.ask(delivery(4));
    coalescer.flush();
    expect(frames).toEqual(['ack<=2', 'ack 4']);
  });

  it('drops what is waiting when the channel closes, and asks after it send nothing', () => {
    const { coalescer, frames, waiting } = setUp();
    coalescer.ask(delivery(1));
    coalescer.close();
    coalescer.ask(delivery(2));
    coalescer.flush();
    expect(frames).toEqual([]);
    expect(waiting()).toBe(0);
  });

  it('stops at the first refused send (the channel closed under it) and releases every waiting ack', () => {
    let waiting = 0;
    const sent: number[] = [];
    const coalescer = new AckCoalescer(
      {
        ack: (message) => {
          if (message.fields.deliveryTag === 4) throw new Error('Channel closed');
          sent.push(message.fields.deliveryTag);
        },
      },
      (count) => (waiting += count),
      (count) => (waiting -= count),
    );
    for (const tag of [1, 4, 6, 8]) coalescer.ask(delivery(tag));
    coalescer.flush();
    expect(sent).toEqual([1]);
    expect(waiting).toBe(0);
  });

  it('an allUpTo settled elsewhere makes the asks it covers moot', () => {
    const { coalescer, frames, waiting } = setUp();
    coalescer.ask(delivery(2));
    coalescer.settledElsewhere(3, true);
    coalescer.ask(delivery(4));
    coalescer.flush();
    expect(frames).toEqual(['ack<=4']);
    expect(waiting()).toBe(0);
  });

  it('with a gap that stays open, keeps a bounded record and falls back to single acks', () => {
    const { coalescer, frames } = setUp();
    // Tag 1 is held for good; everything after it is acked one by one.
    for (let tag = 2; tag <= MAX_REMEMBERED + 3; tag++) {
      coalescer.ask(delivery(tag));
      coalescer.flush();
    }
    frames.length = 0;
    coalescer.settledElsewhere(1);
    coalescer.ask(delivery(MAX_REMEMBERED + 4));
    coalescer.flush();
    expect(frames).toEqual([`ack ${MAX_REMEMBERED + 4}`]);
  });

  it('over random interleavings, never acks a tag before it was asked for or settled', () => {
    for (let trial = 0; trial < 200; trial++) {
      const outstanding = new Set<number>();
      const settledByUs = new Set<number>();
      const acked = new Set<number>();
      let highest = 0;
      const coalescer = new AckCoalescer(
        {
          ack: (message, allUpTo) => {
            const tag = message.fields.deliveryTag;
            const covered = allUpTo ? [...outstanding].filter((t) => t <= tag) : [tag];
            for (const t of covered) {
              expect(settledByUs.has(t)).toBe(true);
              outstanding.delete(t);
              acked.add(t);
            }
          },
        },
        () => undefined,
        () => undefined,
      );
      const inHandler: number[] = [];
      for (let step = 0; step < 60; step++) {
        const roll = Math.random();
        if (roll < 0.4) {
          outstanding.add(++highest);
          inHandler.push(highest);
        } else if (roll < 0.85 && inHandler.length > 0) {
          const [tag] = inHandler.splice(Math.floor(Math.random() * inHandler.length), 1);
          settledByUs.add(tag);
          if (Math.random() < 0.8) coalescer.ask(delivery(tag));
          else {
            outstanding.delete(tag); // nacked at once
            coalescer.settledElsewhere(tag);
          }
        } else coalescer.flush();
      }
      coalescer.flush();
      // Everything asked for was acked; nothing still in a handler was.
      for (const tag of inHandler) expect(acked.has(tag)).toBe(false);
    }
  });
});
