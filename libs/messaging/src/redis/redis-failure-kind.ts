import { ReplyError } from 'ioredis';

/**
 * Error codes with which Redis refuses a command for a reason of the server, not of the command: out of
 * memory under noeviction (OOM), a failed snapshot or AOF write (MISCONF), too few replicas
 * (NOREPLICAS), a replica or demoted primary (READONLY), loading, a busy script, a failover or cluster
 * change in progress, an ACL that denies the command. They heal when the server does.
 */
export const SERVER_REFUSAL_CODES = [
  'OOM',
  'MISCONF',
  'NOREPLICAS',
  'READONLY',
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MOVED',
  'ASK',
  'NOPERM',
] as const;

export type RedisFailureKind = (typeof SERVER_REFUSAL_CODES)[number] | 'timeout' | 'connection' | 'reply';

const REFUSALS = new Set<string>(SERVER_REFUSAL_CODES);

/** The first word of a reply error, its code: "OOM command not allowed…" → OOM. */
export function replyCode(error: unknown): string | undefined {
  if (!(error instanceof ReplyError)) return undefined;
  return /^[A-Z]+/.exec((error as Error).message)?.[0];
}

/** What kind of failure a Redis call met, for logs and the metric label (a small, fixed set). */
export function redisFailureKind(error: unknown): RedisFailureKind {
  const code = replyCode(error);
  if (code !== undefined) return REFUSALS.has(code) ? (code as RedisFailureKind) : 'reply';
  if (error instanceof Error && /timed out/i.test(error.message)) return 'timeout';
  return 'connection';
}
