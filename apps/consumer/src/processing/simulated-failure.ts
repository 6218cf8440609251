import type { MessageEnvelope } from '@app/messaging';

/**
 * Operators and tests can rehearse the failure paths (retries, the DLQ) with real messages when
 * CONSUMER_SIMULATED_FAILURES=on: a payload `{"simulateFailure": {"attempts": N}}` fails its first N
 * attempts, `{"simulateFailure": {"always": true}}` fails every attempt. Off by default.
 */
export class SimulatedFailure extends Error {
  constructor(messageId: string, attempt: number) {
    super(`simulated failure of message ${messageId} on attempt ${attempt}`);
    this.name = 'SimulatedFailure';
  }
}

export function shouldSimulateFailure(message: MessageEnvelope, attempt: number): boolean {
  const plan = message.payload.simulateFailure as { attempts?: unknown; always?: unknown } | undefined;
  if (typeof plan !== 'object' || plan === null) return false;
  if (plan.always === true) return true;
  return typeof plan.attempts === 'number' && attempt <= plan.attempts;
}

export function simulatedFailuresEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CONSUMER_SIMULATED_FAILURES ?? 'off';
  if (value !== 'on' && value !== 'off') {
    process.stderr.write('Invalid configuration: CONSUMER_SIMULATED_FAILURES must be on or off\n');
    process.exit(1);
  }
  return value === 'on';
}
