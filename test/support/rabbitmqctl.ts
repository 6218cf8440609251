import { execFile } from 'node:child_process';

const RABBITMQCTL = process.env.RABBITMQCTL ?? 'rabbitmqctl';

/** Runs `rabbitmqctl <args>` and resolves with its stdout; rejects with stderr on failure. */
export function rabbitmqctl(...args: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(RABBITMQCTL, args, { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`rabbitmqctl ${args.join(' ')} failed: ${(stderr || error.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** Runs a `list_*` command with `--formatter json` (quiet) and parses the rows. */
export async function rabbitmqctlJson<T = Record<string, unknown>>(...args: string[]): Promise<T[]> {
  const out = await rabbitmqctl(...args, '--formatter', 'json', '--quiet');
  const start = out.indexOf('[');
  if (start < 0) throw new Error(`rabbitmqctl ${args.join(' ')} printed no JSON: ${out.slice(0, 200)}`);
  return JSON.parse(out.slice(start)) as T[];
}

export interface QueueRow {
  name: string;
  [column: string]: unknown;
}

/**
 * `list_queues -p <vhost> <columns>` as objects. `name` is always included. Mind that message and
 * consumer counts of quorum queues are statistics refreshed every few seconds (about 5 s): poll them
 * with waitFor, and prefer queueState() (live) for ready messages and consumers.
 */
export function listQueues(vhost: string, ...columns: string[]): Promise<QueueRow[]> {
  const wanted = columns.includes('name') ? columns : ['name', ...columns];
  return rabbitmqctlJson<QueueRow>('list_queues', '-p', vhost, ...wanted);
}

/** One queue's row, or undefined when it does not exist (yet). */
export async function queueInfo(vhost: string, queue: string, ...columns: string[]): Promise<QueueRow | undefined> {
  return (await listQueues(vhost, ...columns)).find((row) => row.name === queue);
}

/** rabbitmqctl prints `arguments` as `[[name, type, value], ...]`; this turns them into `{ name: value }`. */
export function argumentsOf(row: { name?: string; arguments?: unknown }): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (!Array.isArray(row.arguments)) return result;
  for (const entry of row.arguments) {
    if (Array.isArray(entry) && entry.length >= 3) result[String(entry[0])] = entry[2];
  }
  return result;
}

/**
 * RabbitMQ 3.10 keeps one permanent dead-letter worker per quorum queue with the at-least-once strategy
 * (`rabbit_fifo_dlx_worker`). When such a queue is deleted while its worker is starting (a suite's
 * vhost deleted at its cleanup), the worker crash-loops on the missing queue until its supervisor
 * (`rabbit_fifo_dlx_sup`) gives up and dies, and the broker never restarts it: from then on every
 * quorum queue with `x-dead-letter-strategy: at-least-once` fails to start (`noproc`), in every vhost.
 * This restarts that supervisor when it is gone, and says so, so that one suite's cleanup cannot break
 * the broker for the suites after it. Resolves with true when it had to revive it.
 */
export async function reviveDeadLetterSupervisor(): Promise<boolean> {
  const out = await rabbitmqctl(
    'eval',
    'case whereis(rabbit_fifo_dlx_sup) of undefined -> {revived, supervisor:restart_child(rabbit_sup, rabbit_fifo_dlx_sup)}; _ -> alive end.',
  ).catch(() => 'alive');
  if (out.trim() === 'alive') return false;
  process.stderr.write(`test support: RabbitMQ's rabbit_fifo_dlx_sup had died (3.10 bug); restarted it: ${out.trim()}\n`);
  return true;
}
