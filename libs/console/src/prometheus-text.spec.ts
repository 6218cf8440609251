import { parsePrometheusText, sumOf } from './prometheus-text';

const TEXT = `# HELP messaging_consumed_total Deliveries handled by the consumer, by result.
# TYPE messaging_consumed_total counter
messaging_consumed_total{result="processed"} 12
messaging_consumed_total{result="duplicate"} 3
messaging_consumed_total{result="dead_lettered"} 1
messaging_messages_accepted_total{status="published"} 10
messaging_messages_accepted_total{status="pending"} 5
messaging_outbox_pending 7 1700000000000
odd_label{text="a \\"quoted\\" } value",other="x"} 2.5
`;

describe('parsePrometheusText', () => {
  const samples = parsePrometheusText(TEXT);

  it('reads names, labels and values, and skips comments', () => {
    expect(samples).toHaveLength(7);
    expect(samples[0]).toEqual({ name: 'messaging_consumed_total', labels: { result: 'processed' }, value: 12 });
    expect(samples[5]).toEqual({ name: 'messaging_outbox_pending', labels: {}, value: 7 });
  });

  it('unescapes quoted label values', () => {
    expect(samples[6].labels).toEqual({ text: 'a "quoted" } value', other: 'x' });
  });

  it('sums a metric over the samples whose labels match', () => {
    expect(sumOf(samples, 'messaging_messages_accepted_total')).toBe(15);
    expect(sumOf(samples, 'messaging_consumed_total', { result: 'duplicate' })).toBe(3);
    expect(sumOf(samples, 'missing_total')).toBe(0);
  });
});
