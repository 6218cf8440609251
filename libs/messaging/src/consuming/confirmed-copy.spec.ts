import { EventEmitter } from 'node:events';
import type { Channel, Options } from 'amqplib';
import { COPY_ID_HEADER, CopyNotConfirmedError, CopyReturnedError, publishCopy, type Copy } from './confirmed-copy';

interface Published {
  exchange: string;
  routingKey: string;
  options: Options.Publish;
  confirm: (err: unknown) => void;
}

/** A confirm channel that records publishes and lets the test send returns and confirms, in any order. */
class FakeChannel extends EventEmitter {
  readonly published: Published[] = [];
  closed = false;
  throwOnPublish?: Error;

  publish(exchange: string, routingKey: string, _content: Buffer, options: Options.Publish, confirm: (err: unknown) => void): boolean {
    if (this.throwOnPublish) throw this.throwOnPublish;
    this.published.push({ exchange, routingKey, options, confirm });
    return true;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  returnCopy(published: Published, replyText = 'NO_ROUTE'): void {
    this.emit('return', {
      fields: { replyText },
      properties: { headers: published.options.headers },
      content: Buffer.alloc(0),
    });
  }
}

const copy = (target: Copy['target'] = 'retry'): Copy => ({
  exchange: '',
  routingKey: 'work.retry.1000ms',
  content: Buffer.from('{}'),
  options: { messageId: 'm-1', headers: { 'x-attempt': 2 } },
  target,
});

describe('publishCopy', () => {
  it('publishes persistent and mandatory, with a copy id of its own, and resolves on a confirm without a return', async () => {
    const channel = new FakeChannel();
    const done = publishCopy(channel as unknown as Channel, copy(), 1000);
    const [sent] = channel.published;
    expect(sent.options).toMatchObject({ persistent: true, mandatory: true, messageId: 'm-1', headers: { 'x-attempt': 2 } });
    expect(typeof sent.options.headers?.[COPY_ID_HEADER]).toBe('string');
    sent.confirm(null);
    await expect(done).resolves.toBeUndefined();
  });

  it('rejects with CopyReturnedError when the broker returned the copy before confirming it', async () => {
    const channel = new FakeChannel();
    const done = publishCopy(channel as unknown as Channel, copy('dead_letter'), 1000);
    channel.returnCopy(channel.published[0], 'NO_ROUTE');
    channel.published[0].confirm(null);
    const error = await done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CopyReturnedError);
    expect(error).toMatchObject({ target: 'dead_letter', routingKey: 'work.retry.1000ms', replyText: 'NO_ROUTE' });
  });

  it('matches each return to its own copy when several are in flight on one channel', async () => {
    const channel = new FakeChannel();
    const copies = [0, 1, 2].map(() => publishCopy(channel as unknown as Channel, copy(), 1000));
    const ids = channel.published.map((p) => p.options.headers?.[COPY_ID_HEADER] as string);
    expect(new Set(ids).size).toBe(3);
    channel.returnCopy(channel.published[1]);
    channel.published.forEach((p) => p.confirm(null));
    const outcomes = await Promise.allSettled(copies);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('ignores a return that belongs to no copy of ours', async () => {
    const channel = new FakeChannel();
    const done = publishCopy(channel as unknown as Channel, copy(), 1000);
    channel.emit('return', { fields: { replyText: 'NO_ROUTE' }, properties: { headers: { [COPY_ID_HEADER]: 'other' } } });
    channel.emit('return', { fields: {}, properties: {} });
    channel.published[0].confirm(null);
    await expect(done).resolves.toBeUndefined();
  });

  it('rejects on a nack', async () => {
    const channel = new FakeChannel();
    const done = publishCopy(channel as unknown as Channel, copy(), 1000);
    channel.published[0].confirm(new Error('nacked'));
    await expect(done).rejects.toThrow('nacked');
  });

  it('rejects with CopyNotConfirmedError when no confirm comes in time', async () => {
    const channel = new FakeChannel();
    await expect(publishCopy(channel as unknown as Channel, copy(), 20)).rejects.toBeInstanceOf(CopyNotConfirmedError);
  });

  it('retires the channel after a synchronous publish error, whose stale confirm callback would take the next confirm', async () => {
    const channel = new FakeChannel();
    channel.throwOnPublish = new TypeError('cannot encode header');
    await expect(publishCopy(channel as unknown as Channel, copy(), 1000)).rejects.toThrow('cannot encode header');
    expect(channel.closed).toBe(true);
  });

  it('leaves an already closed channel alone', async () => {
    const channel = new FakeChannel();
    channel.throwOnPublish = Object.assign(new Error('Channel closed'), { name: 'IllegalOperationError' });
    await expect(publishCopy(channel as unknown as Channel, copy(), 1000)).rejects.toThrow('Channel closed');
    expect(channel.closed).toBe(false);
  });
});
