import { correlationIdOfDelivery, HEADERS, publishProperties } from './amqp-properties';

describe('publishProperties', () => {
  const body = Buffer.from('{}');

  it('sets every contract property, the timestamp in whole seconds', () => {
    const props = publishProperties({ id: 'id-1', type: 'order.created', body, correlationId: 'corr-1' }, 1_714_564_800_999);
    expect(props).toEqual({
      persistent: true,
      mandatory: true,
      messageId: 'id-1',
      type: 'order.created',
      contentType: 'application/json',
      timestamp: 1_714_564_800,
      correlationId: 'corr-1',
      headers: { [HEADERS.schemaVersion]: 1, [HEADERS.correlationId]: 'corr-1' },
    });
    expect(HEADERS.correlationId).toBe('x-correlation-id');
  });

  it('has no correlation header without a correlation id', () => {
    const props = publishProperties({ id: 'id-2', type: 't', body }, 5_000);
    expect(props.headers).toEqual({ 'x-schema-version': 1 });
    expect(props.headers).not.toHaveProperty('x-correlation-id');
    expect(props.correlationId).toBeUndefined();
    expect(props.timestamp).toBe(5);
  });

  it('defaults the timestamp to now, in seconds', () => {
    const before = Math.floor(Date.now() / 1000);
    const props = publishProperties({ id: 'id-3', type: 't', body });
    const after = Math.floor(Date.now() / 1000);
    expect(props.timestamp).toBeGreaterThanOrEqual(before);
    expect(props.timestamp).toBeLessThanOrEqual(after);
  });
});

describe('correlationIdOfDelivery', () => {
  it('reads the x-correlation-id header first', () => {
    expect(correlationIdOfDelivery({ headers: { [HEADERS.correlationId]: 'from-header' }, correlationId: 'from-property' })).toBe(
      'from-header',
    );
  });

  it('falls back to the AMQP correlationId property', () => {
    expect(correlationIdOfDelivery({ headers: {}, correlationId: 'from-property' })).toBe('from-property');
    expect(correlationIdOfDelivery({ headers: { [HEADERS.correlationId]: '' }, correlationId: 'from-property' })).toBe('from-property');
  });

  it('is undefined without either, or when the header is not a string', () => {
    expect(correlationIdOfDelivery({ headers: undefined, correlationId: undefined })).toBeUndefined();
    expect(correlationIdOfDelivery({ headers: { [HEADERS.correlationId]: 42 }, correlationId: undefined })).toBeUndefined();
  });

  it('reads what publishProperties wrote', () => {
    const props = publishProperties({ id: 'id-1', type: 't', body: Buffer.from('{}'), correlationId: 'corr-9' });
    expect(correlationIdOfDelivery({ headers: props.headers, correlationId: props.correlationId })).toBe('corr-9');
  });
});
