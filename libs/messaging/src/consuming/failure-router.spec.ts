import type { ConsumeMessage } from 'amqplib';
import { InvalidEnvelopeError } from '../envelope';
import { GuardStoppedError } from '../idempotency';
import { attemptOf, decideFailure } from './failure-router';
import { NonRetryableError } from './non-retryable.error';

const RETRY_QUEUES = ['q.retry.1000ms', 'q.retry.2000ms', 'q.retry.4000ms', 'q.retry.8000ms'];

function delivery(headers: Record<string, unknown> | undefined): ConsumeMessage {
  return { content: Buffer.from('{}'), fields: {}, properties: { headers } } as unknown as ConsumeMessage;
}

describe('decideFailure', () => {
  it('requeues when the guard stopped for shutdown, whatever the attempt', () => {
    expect(decideFailure(new GuardStoppedError('m-1'), 1, 5, RETRY_QUEUES)).toEqual({ action: 'requeue' });
    expect(decideFailure(new GuardStoppedError('m-1'), 5, 5, RETRY_QUEUES)).toEqual({ action: 'requeue' });
  });

  it('requeues for any subclass of GuardStoppedError (a hold given up before the broker consumer_timeout)', () => {
    class HoldGivenUpError extends GuardStoppedError {}
    expect(decideFailure(new HoldGivenUpError('m-1'), 3, 5, RETRY_QUEUES)).toEqual({ action: 'requeue' });
  });

  it('dead-letters an invalid envelope as poison on its first attempt, with the reason', () => {
    expect(decideFailure(new InvalidEnvelopeError('envelope has no valid type'), 1, 5, RETRY_QUEUES)).toEqual({
      action: 'dead-letter',
      kind: 'poison',
      reason: 'invalid message: envelope has no valid type',
    });
  });

  it.each([
    [1, 'q.retry.1000ms', 2],
    [2, 'q.retry.2000ms', 3],
    [3, 'q.retry.4000ms', 4],
    [4, 'q.retry.8000ms', 5],
  ])('retries attempt %d through %s as attempt %d', (attempt, queue, nextAttempt) => {
    expect(decideFailure(new Error('boom'), attempt, 5, RETRY_QUEUES)).toEqual({ action: 'retry', queue, nextAttempt });
  });

  it('dead-letters as exhausted at the last attempt, with the count and the last error in the reason', () => {
    const decision = decideFailure(new TypeError('cannot read x'), 5, 5, RETRY_QUEUES);
    expect(decision).toEqual({
      action: 'dead-letter',
      kind: 'exhausted',
      reason: 'handler failed 5 time(s), last: TypeError: cannot read x',
    });
  });

  it('dead-letters as exhausted past the last attempt', () => {
    const decision = decideFailure(new Error('boom'), 9, 5, RETRY_QUEUES);
    expect(decision).toMatchObject({ action: 'dead-letter', kind: 'exhausted' });
    expect(decision.action === 'dead-letter' && decision.reason).toContain('9 time(s)');
  });

  it('dead-letters immediately when only one attempt is allowed', () => {
    expect(decideFailure(new Error('boom'), 1, 1, [])).toMatchObject({ action: 'dead-letter', kind: 'exhausted' });
  });

  it('never returns a retry without a retry queue for it', () => {
    expect(decideFailure(new Error('boom'), 3, 5, RETRY_QUEUES.slice(0, 2))).toMatchObject({ action: 'dead-letter', kind: 'exhausted' });
  });

  it('describes a non-Error failure with its string form', () => {
    const decision = decideFailure('plain string', 5, 5, RETRY_QUEUES);
    expect(decision).toEqual({ action: 'dead-letter', kind: 'exhausted', reason: 'handler failed 5 time(s), last: plain string' });
  });
});

describe('decideFailure with permanent failures', () => {
  it('dead-letters a NonRetryableError at once, on any attempt, with the reason and the attempt', () => {
    for (const attempt of [1, 3]) {
      expect(decideFailure(new NonRetryableError('order 7 does not exist'), attempt, 5, RETRY_QUEUES)).toEqual({
        action: 'dead-letter',
        kind: 'permanent',
        reason: `handler failed permanently on attempt ${attempt}: NonRetryableError: order 7 does not exist`,
      });
    }
  });

  it('knows a NonRetryableError of another copy of the library by its brand', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('@app/messaging.non-retryable')]: true });
    expect(decideFailure(foreign, 1, 5, RETRY_QUEUES)).toMatchObject({ action: 'dead-letter', kind: 'permanent' });
  });

  it('dead-letters at once what the policy calls permanent, and retries the rest', () => {
    const isPermanent = (error: unknown) => error instanceof RangeError;
    expect(decideFailure(new RangeError('out of range'), 1, 5, RETRY_QUEUES, isPermanent)).toEqual({
      action: 'dead-letter',
      kind: 'permanent',
      reason: 'handler failed permanently on attempt 1: RangeError: out of range',
    });
    expect(decideFailure(new Error('boom'), 1, 5, RETRY_QUEUES, isPermanent)).toEqual({
      action: 'retry',
      queue: 'q.retry.1000ms',
      nextAttempt: 2,
    });
  });

  it('retries when the predicate itself throws', () => {
    const broken = () => {
      throw new Error('predicate bug');
    };
    expect(decideFailure(new Error('boom'), 1, 5, RETRY_QUEUES, broken)).toMatchObject({ action: 'retry' });
  });

  it('still hands back a delivery the guard stopped, whatever the predicate says', () => {
    expect(decideFailure(new GuardStoppedError('m-1'), 1, 5, RETRY_QUEUES, () => true)).toEqual({ action: 'requeue' });
  });
});

describe('attemptOf', () => {
  it('is 1 without headers or without the attempt header', () => {
    expect(attemptOf(delivery(undefined))).toBe(1);
    expect(attemptOf(delivery({}))).toBe(1);
    expect(attemptOf(delivery({ 'x-other': 3 }))).toBe(1);
  });

  it.each([
    [2, 2],
    [7, 7],
    ['3', 3],
  ])('reads x-attempt %p as %d', (value, expected) => {
    expect(attemptOf(delivery({ 'x-attempt': value }))).toBe(expected);
  });

  it.each([['garbage'], [0], [-2], [2.5], [null], [''], [NaN], [{}], [[1, 2]]])('falls back to 1 for x-attempt %p', (value) => {
    expect(attemptOf(delivery({ 'x-attempt': value }))).toBe(1);
  });
});
