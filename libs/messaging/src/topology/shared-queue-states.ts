import type { ChannelModel } from 'amqplib';
import { readQueueStates, type QueueState, type TopologyQueue } from './queue-states';

/**
 * Broker reads of queue states (readQueueStates) where a read still unanswered is shared by every
 * caller asking for the same queues, whatever its age, and a caller waits at most `timeoutMs` for it
 * (without one, as long as the read takes: for a caller that bounds the wait itself).
 *
 * Why: a connection the broker blocks (a memory or disk alarm) or a stalled link leaves a read's
 * channel open pending. A page or a scraper polling every few seconds would otherwise add one pending
 * channel per poll on the app's own connection until it ran out of channel numbers, and the
 * supervisor and the failure router need channels on that connection. The caller that gives up gets
 * every queue reported as unanswered; the read itself goes on, and the next caller shares it.
 */
export class SharedQueueStates {
  private readonly pending = new Map<string, Promise<QueueState[]>>();

  constructor(
    private readonly connection: () => ChannelModel | undefined,
    private readonly onChannelError: (error: Error) => void = () => undefined,
    private readonly timeoutMs?: number,
  ) {}

  read(queues: TopologyQueue[]): Promise<QueueState[]> {
    const key = queues.map((queue) => `${queue.name}\n${queue.role}`).join('\n');
    let read = this.pending.get(key);
    if (!read) {
      const started = readQueueStates(this.connection(), queues, this.onChannelError);
      const forget = () => {
        if (this.pending.get(key) === started) this.pending.delete(key);
      };
      started.then(forget, forget);
      this.pending.set(key, started);
      read = started;
    }
    return this.timeoutMs === undefined ? read : this.answeredWithin(read, queues, this.timeoutMs);
  }

  /** Reads still unanswered (a blocked or stalled connection holds each one's channel). */
  get unanswered(): number {
    return this.pending.size;
  }

  private answeredWithin(read: Promise<QueueState[]>, queues: TopologyQueue[], timeoutMs: number): Promise<QueueState[]> {
    let timer: NodeJS.Timeout | undefined;
    const unanswered = new Promise<QueueState[]>((resolve) => {
      timer = setTimeout(() => {
        const error = `no answer from the broker within ${timeoutMs} ms (a blocked or stalled connection?)`;
        resolve(queues.map((queue) => ({ ...queue, error })));
      }, timeoutMs);
    });
    return Promise.race([read, unanswered]).finally(() => clearTimeout(timer));
  }
}
