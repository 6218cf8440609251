// autocannon ships no type declarations; the little used here is typed below.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: AutocannonOptions) => Promise<AutocannonResult>;

interface AutocannonOptions {
  url: string;
  method: 'POST';
  connections: number;
  duration: number;
  headers: Record<string, string>;
  body: string;
  timeout: number;
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
  latency: { p50: number; p99: number; mean: number };
}

export interface IngestRun {
  /** 202 answers per second over the run. */
  acceptedPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  accepted: number;
  /** Answers other than 202, by status. */
  otherStatuses: Record<string, number>;
  /** Connection errors and timeouts (no answer at all). */
  errors: number;
}

/** The body every ingest benchmark POSTs (about the size of a small business event). */
export const INGEST_BODY = JSON.stringify({ type: 'order.created', payload: { orderId: 42, customer: 'c-1001', amount: 99.5 } });

/** POST /messages with autocannon: `connections` keep-alive connections as fast as answers come. */
export async function postLoad(baseUrl: string, connections: number, seconds: number): Promise<IngestRun> {
  const result = await autocannon({
    url: `${baseUrl.replace(/\/$/, '')}/messages`,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    body: INGEST_BODY,
    timeout: 10,
  });
  const accepted = result.statusCodeStats['202']?.count ?? 0;
  const otherStatuses = Object.fromEntries(
    Object.entries(result.statusCodeStats)
      .filter(([status]) => status !== '202')
      .map(([status, { count }]) => [status, count]),
  );
  return {
    acceptedPerSecond: accepted / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    accepted,
    otherStatuses,
    errors: result.errors + result.timeouts,
  };
}
