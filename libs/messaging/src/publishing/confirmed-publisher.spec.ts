import type { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import type { ConfirmChannel } from 'amqplib';
import { loadMessagingSettings } from '../config';
import { ConfirmedPublisher } from './confirmed-publisher';
import { PublishFailedError } from './publish-errors';

type Confirm = (err: unknown) => void;

/** A confirm channel that keeps the confirm callbacks, for the test to call (or not). */
function fakeChannel() {
  const confirms: Confirm[] = [];
  const channel = {
    publish: (_exchange: string, _key: string, _body: Buffer, _options: unknown, confirm: Confirm) => {
      confirms.push(confirm);
      return true;
    },
    close: () => Promise.resolve(),
  };
  return { channel: channel as unknown as ConfirmChannel, confirms };
}

function publisherOn(channel: ConfirmChannel, confirmTimeoutMs = 60) {
  const settings = loadMessagingSettings({ PUBLISH_CONFIRM_TIMEOUT_MS: String(confirmTimeoutMs) });
  const publisher = new ConfirmedPublisher({} as AmqpConnection, settings);
  (publisher as unknown as { channel: ConfirmChannel }).channel = channel;
  return publisher;
}

const message = (id: string) => ({ id, type: 'order.created', body: Buffer.from('{}') });

async function failureOf(promise: Promise<unknown>): Promise<PublishFailedError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PublishFailedError);
    return error as PublishFailedError;
  }
  throw new Error('expected the publish to fail');
}

describe('ConfirmedPublisher', () => {
  it('resolves on the confirm and rejects on a nack, each publish on its own', async () => {
    const { channel, confirms } = fakeChannel();
    const publisher = publisherOn(channel);
    const first = publisher.publish(message('m-1'));
    const second = publisher.publish(message('m-2'));
    confirms[1](new Error('nack'));
    confirms[0](null);
    await expect(first).resolves.toBeUndefined();
    expect((await failureOf(second)).kind).toBe('nacked');
    await publisher.onApplicationShutdown();
  });

  it('fails a publish whose confirm does not come within the timeout, and ignores the confirm that comes later', async () => {
    const { channel, confirms } = fakeChannel();
    const publisher = publisherOn(channel, 60);
    const started = Date.now();
    const failure = await failureOf(publisher.publish(message('m-late')));
    expect(failure.kind).toBe('timeout');
    expect(failure.messageId).toBe('m-late');
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(55);
    expect(waited).toBeLessThan(60 + 200);
    expect(() => confirms[0](null)).not.toThrow();
    await publisher.onApplicationShutdown();
  });

  it('times out only the overdue publishes, oldest first', async () => {
    const { channel, confirms } = fakeChannel();
    const publisher = publisherOn(channel, 100);
    const old = publisher.publish(message('m-old'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    const young = publisher.publish(message('m-young'));
    expect((await failureOf(old)).kind).toBe('timeout');
    confirms[1](null);
    await expect(young).resolves.toBeUndefined();
    await publisher.onApplicationShutdown();
  });

  it('fails every outstanding publish when the channel goes, and refuses at once without a channel', async () => {
    const { channel } = fakeChannel();
    const publisher = publisherOn(channel, 10_000);
    const failures = [publisher.publish(message('m-a')), publisher.publish(message('m-b'))].map(failureOf);
    await publisher.onApplicationShutdown();
    for (const failure of await Promise.all(failures)) expect(failure.kind).toBe('channel-closed');
    expect(publisher.isReady()).toBe(false);
    expect((await failureOf(publisher.publish(message('m-c')))).kind).toBe('not-connected');
  });
});
