import type { Message } from 'amqplib';

/** Tags settled beyond a gap that a coalescer keeps at most (see AckCoalescer.remember). */
export const MAX_REMEMBERED = 10_000;

/** The channel's own settlement methods, as amqplib has them before the coalescer takes `ack` over. */
export interface ChannelSettlement {
  ack(message: Message, allUpTo?: boolean): void;
}

/**
 * Turns the acks asked for on one channel into as few frames as is safe. An ack is asked for only
 * after its delivery's work is committed (golevelup acks after the handler returned, the failure
 * router after its copy was confirmed); the coalescer sends the acks asked for in one event-loop
 * turn together, at the end of it.
 *
 * The rule that keeps `allUpTo` from covering a delivery whose commit has not returned: it is sent
 * only for a contiguous run of delivery tags, starting right after the last tag known settled, in
 * which every tag was itself asked to be acked or was settled otherwise (nack, reject, an ack sent
 * alone). A tag the coalescer has not heard of (a delivery still in its handler, held by the guard,
 * with the failure router, or one it never saw) ends the run, and the acks asked for beyond it are
 * sent one by one. Tags are per channel, so a coalescer belongs to one channel and never acks on
 * another: a channel that closed with acks waiting drops them (the broker redelivers those
 * deliveries; the guard knows they are done).
 */
export class AckCoalescer {
  /** Every tag up to this one is settled on the broker (acked or nacked, by us). */
  private settledUpTo = 0;
  /** Acks asked for, not sent yet, by tag. */
  private readonly asked = new Map<number, Message>();
  /** Tags above settledUpTo settled already (sent alone, nacked, rejected). */
  private readonly settled = new Set<number>();
  private closed = false;
  /** Set when too many tags were settled beyond a gap (see remember): no runs any more, only single acks. */
  private unbounded = false;

  constructor(
    private readonly channel: ChannelSettlement,
    /** Called once per flush that has work; the coalescer does not schedule itself. */
    private readonly onAsked: (count: number) => void,
    private readonly onSent: (count: number) => void,
  ) {}

  get waiting(): number {
    return this.asked.size;
  }

  /** An ack asked for: sent at the next flush. */
  ask(message: Message): void {
    if (this.closed) {
      // The channel is gone; amqplib would throw for it. The broker redelivers the delivery.
      return;
    }
    this.asked.set(message.fields.deliveryTag, message);
    this.onAsked(1);
  }

  /** A delivery settled without the coalescer (nack, reject): it no longer ends a run. */
  settledElsewhere(tag: number, allUpTo = false): void {
    if (allUpTo) {
      // Every unacked tag up to it is gone from the broker: acks asked for among them are moot.
      for (const asked of [...this.asked.keys()]) if (asked <= tag) this.drop(asked);
      for (const done of [...this.settled]) if (done <= tag) this.settled.delete(done);
      this.settledUpTo = Math.max(this.settledUpTo, tag);
    } else if (tag > this.settledUpTo) this.remember(tag);
    this.advance();
  }

  /** Sends the acks asked for: allUpTo over the contiguous run, the rest one by one. */
  flush(): void {
    if (this.asked.size === 0) return;
    const run = this.unbounded ? { last: undefined, count: 0 } : this.takeRun();
    try {
      if (run.last) this.channel.ack(run.last, true);
      this.onSent(run.count);
      for (const [tag, message] of this.asked) {
        this.asked.delete(tag);
        this.onSent(1);
        this.channel.ack(message, false);
        this.remember(tag);
      }
    } catch {
      // The channel closed: amqplib refuses every send. What was not acked is redelivered.
      this.close();
    }
  }

  /** Takes the contiguous run after settledUpTo out of the records; its last asked-for message is the one to ack allUpTo. */
  private takeRun(): { last: Message | undefined; count: number } {
    let last: Message | undefined;
    let count = 0;
    for (let tag = this.settledUpTo + 1; ; tag++) {
      const message = this.asked.get(tag);
      if (message) {
        this.asked.delete(tag);
        last = message;
        count++;
      } else if (!this.settled.delete(tag)) break;
      this.settledUpTo = tag;
    }
    return { last, count };
  }

  /** The channel closed: acks asked for are dropped (never sent on another channel). */
  close(): void {
    this.closed = true;
    const dropped = this.asked.size;
    this.asked.clear();
    this.settled.clear();
    if (dropped > 0) this.onSent(dropped);
  }

  private drop(tag: number): void {
    this.asked.delete(tag);
    this.onSent(1);
  }

  /**
   * Records a tag settled beyond a gap, so a run can pass it once the gap closes. A gap that stays
   * open (a delivery held for minutes while thousands of others are acked) would grow the record
   * without end: past MAX_REMEMBERED the coalescer stops forming runs on this channel and acks one
   * by one, as without it.
   */
  private remember(tag: number): void {
    if (this.unbounded) return;
    this.settled.add(tag);
    if (this.settled.size <= MAX_REMEMBERED) return;
    this.unbounded = true;
    this.settled.clear();
  }

  private advance(): void {
    while (this.settled.has(this.settledUpTo + 1)) this.settled.delete(++this.settledUpTo);
  }
}
