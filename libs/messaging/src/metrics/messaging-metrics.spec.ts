import { MessagingMetrics } from './messaging-metrics';

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
