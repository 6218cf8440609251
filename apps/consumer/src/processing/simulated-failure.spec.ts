import { createEnvelope } from '@app/messaging/envelope';
import { shouldSimulateFailure, SimulatedFailure } from './simulated-failure';

const message = (payload: Record<string, unknown>) => createEnvelope('test.simulated', payload, 'msg-1');

describe('shouldSimulateFailure', () => {
  it('never fails a message without a plan', () => {
    for (const attempt of [1, 2, 100]) expect(shouldSimulateFailure(message({ other: true }), attempt)).toBe(false);
  });

  it('fails the first N attempts, then succeeds', () => {
    const planned = message({ simulateFailure: { attempts: 2 } });
    expect([1, 2, 3, 4].map((attempt) => shouldSimulateFailure(planned, attempt))).toEqual([true, true, false, false]);
  });

  it('never fails with attempts: 0', () => {
    expect(shouldSimulateFailure(message({ simulateFailure: { attempts: 0 } }), 1)).toBe(false);
  });

  it('fails every attempt with always: true', () => {
    const planned = message({ simulateFailure: { always: true } });
    for (const attempt of [1, 5, 1000]) expect(shouldSimulateFailure(planned, attempt)).toBe(true);
  });

  it.each([
    ['null', null],
    ['a string', 'yes'],
    ['a number', 3],
    ['true', true],
    ['always as a string', { always: 'true' }],
    ['always: 1', { always: 1 }],
    ['attempts as a string', { attempts: '3' }],
    ['an empty plan', {}],
  ])('does not fail for a plan that is %s', (_, plan) => {
    expect(shouldSimulateFailure(message({ simulateFailure: plan }), 1)).toBe(false);
  });

  it('SimulatedFailure names the message and attempt', () => {
    const error = new SimulatedFailure('msg-9', 3);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('SimulatedFailure');
    expect(error.message).toBe('simulated failure of message msg-9 on attempt 3');
  });
});
