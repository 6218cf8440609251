import { randomUUID } from 'node:crypto';
import { postMessage } from '../support/http';

export interface LoadResult {
  /** ids answered 202, with the status the producer gave. */
  accepted: Map<string, 'published' | 'pending'>;
  /** requests refused: 503 with Retry-After, or no answer (connection refused while a producer was down...). */
  refused: number;
  /** any answer that the contract does not allow for a POST /messages (a 503 without Retry-After among them). */
  unexpected: { status: number; body: unknown }[];
}

export interface LoadOptions {
  count: number;
  concurrency: number;
  type?: string;
  payload?: (i: number) => Record<string, unknown>;
  /** Called after each request, e.g. to inject a fault when half the load is sent. */
  onProgress?: (sent: number) => void | Promise<void>;
  /** Where to send request i (to spread load over several producers). */
  baseUrl: (i: number) => string;
  /** Paces the load (all workers together) so that a fault window spans a known share of it. */
  ratePerSecond?: number;
}

/** Sends a bounded load of POST /messages and sorts the answers. A message counts only when it got 202. */
export async function sendLoad(options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { accepted: new Map(), refused: 0, unexpected: [] };
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    for (let i = next++; i < options.count; i = next++) {
      if (options.ratePerSecond) await pace(started + (i * 1000) / options.ratePerSecond);
      const response = await postMessage(
        options.baseUrl(i),
        { type: options.type ?? 'load.test', payload: options.payload?.(i) ?? { i } },
        { 'Idempotency-Key': `load-${randomUUID()}` },
      );
      if (response.status === 202) result.accepted.set(response.body.id, response.body.status);
      // The contract's only refusal of a well-formed message is a 503 with Retry-After (or no answer at all).
      else if ((response.status === 503 && response.headers.has('retry-after')) || response.status === 0) result.refused++;
      else result.unexpected.push({ status: response.status, body: response.body });
      await options.onProgress?.(i + 1);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return result;
}

export function countStatuses(result: LoadResult): { published: number; pending: number } {
  let published = 0;
  for (const status of result.accepted.values()) if (status === 'published') published++;
  return { published, pending: result.accepted.size - published };
}

/** Load pacing: waits until request i's slot in a fixed-rate schedule. */
function pace(at: number): Promise<void> {
  const wait = at - Date.now();
  return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : Promise.resolve();
}
