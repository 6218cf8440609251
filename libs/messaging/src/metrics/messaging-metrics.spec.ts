import { MessagingMetrics, QUEUE_READ_TIMEOUT_MS } from './messaging-metrics';

describe('MessagingMetrics: messaging_queue_consumers', () => {
  it('reports no series in a process that does not consume', async () => {
    const metrics = new MessagingMetrics();
    expect(await metrics.render()).not.toMatch(/^messaging_queue_consumers\{/m);
  });

  it('reads the active consumers per queue from the consuming side at every scrape, forgetting queues it no longer names', async () => {
    const metrics = new MessagingMetrics();
    let state: [string, number][] = [
      ['messaging.consumer', 1],
      ['other.queue', 0],
    ];
    metrics.readQueueConsumersFrom(() => state);
    let text = await metrics.render();
    expect(text).toContain('messaging_queue_consumers{queue="messaging.consumer"} 1');
    expect(text).toContain('messaging_queue_consumers{queue="other.queue"} 0');
    state = [['messaging.consumer', 0]];
    text = await metrics.render();
    expect(text).toContain('messaging_queue_consumers{queue="messaging.consumer"} 0');
    expect(text).not.toContain('other.queue');
  });
});

describe('MessagingMetrics: messaging_consumed_total', () => {
  it('adds the deliveries counted with countConsumed at every read, to those counted with inc', async () => {
    const metrics = new MessagingMetrics();
    metrics.countConsumed('processed');
    metrics.countConsumed('processed');
    metrics.countConsumed('duplicate');
    metrics.consumed.inc({ result: 'retried' });
    let text = await metrics.render();
    expect(text).toContain('messaging_consumed_total{result="processed"} 2');
    expect(text).toContain('messaging_consumed_total{result="duplicate"} 1');
    expect(text).toContain('messaging_consumed_total{result="retried"} 1');
    metrics.countConsumed('processed');
    text = await metrics.render();
    expect(text).toContain('messaging_consumed_total{result="processed"} 3');
    expect(text).toContain('messaging_consumed_total{result="duplicate"} 1');
    const read = await metrics.consumed.get();
    expect(read.values.find((value) => value.labels.result === 'processed')?.value).toBe(3);
  });
});

describe('MessagingMetrics: messaging_messages_accepted_total', () => {
  it('adds the messages counted with countPublished at every read, beside those counted with inc', async () => {
    const metrics = new MessagingMetrics();
    metrics.countPublished();
    metrics.countPublished();
    metrics.accepted.inc({ status: 'pending' });
    let text = await metrics.render();
    expect(text).toContain('messaging_messages_accepted_total{status="published"} 2');
    expect(text).toContain('messaging_messages_accepted_total{status="pending"} 1');
    metrics.countPublished();
    text = await metrics.render();
    expect(text).toContain('messaging_messages_accepted_total{status="published"} 3');
  });
});

describe('MessagingMetrics: messaging_queue_messages', () => {
  it('reports no series in a process that does not consume', async () => {
    expect(await new MessagingMetrics().render()).not.toMatch(/^messaging_queue_messages\{/m);
  });

  it('reads the depth of each queue from the consuming side at every scrape, forgetting queues it no longer names', async () => {
    const metrics = new MessagingMetrics();
    let depths = [
      { queue: 'messaging.consumer', role: 'work', messages: 12 },
      { queue: 'messaging.consumer.dlq', role: 'dead letters', messages: 3 },
    ];
    metrics.readQueueMessagesFrom(() => Promise.resolve(depths));
    let text = await metrics.render();
    expect(text).toContain('messaging_queue_messages{queue="messaging.consumer",role="work"} 12');
    expect(text).toContain('messaging_queue_messages{queue="messaging.consumer.dlq",role="dead letters"} 3');
    depths = [{ queue: 'messaging.consumer.dlq', role: 'dead letters', messages: 4 }];
    text = await metrics.render();
    expect(text).toContain('messaging_queue_messages{queue="messaging.consumer.dlq",role="dead letters"} 4');
    expect(text).not.toContain('role="work"');
  });

  it('answers the scrape without the depths when the broker does not answer in time, or the read fails', async () => {
    jest.useFakeTimers();
    try {
      const metrics = new MessagingMetrics();
      metrics.readQueueMessagesFrom(() => new Promise(() => undefined));
      const scrape = metrics.render();
      await jest.advanceTimersByTimeAsync(QUEUE_READ_TIMEOUT_MS);
      const text = await scrape;
      expect(text).toContain('# TYPE messaging_queue_messages gauge');
      expect(text).not.toMatch(/^messaging_queue_messages\{/m);
    } finally {
      jest.useRealTimers();
    }
    const failing = new MessagingMetrics();
    failing.readQueueMessagesFrom(() => Promise.reject(new Error('channel closed')));
    expect(await failing.render()).not.toMatch(/^messaging_queue_messages\{/m);
  });
});
