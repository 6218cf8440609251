import { setMaxListeners } from 'node:events';
import { messageIdForIdempotencyKey } from '@app/messaging/envelope/message-id';
import { postMessage } from '../support/http';

/**
 * Clients as a real one behaves: each message has its own Idempotency-Key, and a request that fails
 * (503, 429, a reset, a timeout, a 5xx) is sent again with the same key, to whichever producer answers,
 * until it is accepted or the client gives up.
 */
export interface ChaosLoadOptions {
  /** Producer base URLs; attempt n of a message goes to producer n mod count (a load balancer). */
  producers: () => string[];
  ratePerSecond: number;
  durationMs: number;
  /** A message still refused this long after its first attempt is given up (counted as refused). */
  giveUpAfterMs: number;
  /** Keys are `<keyPrefix>-<n>`, so two runs never share an id. */
  keyPrefix: string;
  /** Stops retries early (the run is over). */
  signal: AbortSignal;
}

export interface SentMessage {
  key: string;
  /** The id the producer derives from the key, known before any answer. */
  id: string;
  attempts: number;
  /** The 202 answer, if one came. */
  accepted?: 'published' | 'pending';
  /** Statuses of the failed attempts (0 is a connection failure or timeout). */
  failures: number[];
}

export interface ChaosLoadResult {
  messages: SentMessage[];
  /** Answers the contract does not allow for a valid POST /messages. */
  unexpected: { key: string; status: number; body: unknown }[];
}

const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 2_000;
const RETRYABLE = (status: number) => status === 0 || status === 429 || status >= 500;

export async function runChaosLoad(options: ChaosLoadOptions): Promise<ChaosLoadResult> {
  const result: ChaosLoadResult = { messages: [], unexpected: [] };
  // Every client waiting out a backoff listens for the end of the run.
  setMaxListeners(0, options.signal);
  const started = Date.now();
  const total = Math.round((options.durationMs / 1000) * options.ratePerSecond);
  const clients: Promise<void>[] = [];
  for (let n = 0; n < total && !options.signal.aborted; n++) {
    await sleepUntil(started + (n * 1000) / options.ratePerSecond, options.signal);
    const key = `${options.keyPrefix}-${n}`;
    const message: SentMessage = { key, id: messageIdForIdempotencyKey(key), attempts: 0, failures: [] };
    result.messages.push(message);
    clients.push(sendUntilAccepted(message, n, options, result));
  }
  await Promise.all(clients);
  return result;
}

async function sendUntilAccepted(message: SentMessage, n: number, options: ChaosLoadOptions, result: ChaosLoadResult): Promise<void> {
  const firstAttemptAt = Date.now();
  for (;;) {
    const producers = options.producers();
    const baseUrl = producers[(n + message.attempts) % producers.length];
    message.attempts++;
    const response = await postMessage(baseUrl, { type: 'chaos.test', payload: { n } }, { 'Idempotency-Key': message.key });
    if (response.status === 202) {
      message.accepted = response.body.status;
      if (response.body.id !== message.id) result.unexpected.push({ key: message.key, status: 202, body: response.body });
      return;
    }
    if (!RETRYABLE(response.status)) {
      result.unexpected.push({ key: message.key, status: response.status, body: response.body });
      return;
    }
    message.failures.push(response.status);
    if (Date.now() - firstAttemptAt > options.giveUpAfterMs || options.signal.aborted) return;
    const backoff = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(message.attempts, 8));
    await sleepUntil(Date.now() + backoff / 2 + Math.random() * (backoff / 2), options.signal);
  }
}

function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  const wait = at - Date.now();
  if (wait <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, wait);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
