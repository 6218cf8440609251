import { createHash } from 'node:crypto';
import { HEADERS } from '../envelope';

/** Most of a dead letter's body the index keeps (the queue keeps all of it). */
export const INDEXED_BODY_MAX_CHARS = 64 * 1024;
/** Most of a failure reason the index keeps; reasons longer than this are grouped by their start. */
export const INDEXED_REASON_MAX_CHARS = 500;

/** The AMQP properties of a dead letter that the index reads (amqplib types most of them `any`). */
export interface DeadLetterProperties {
  messageId?: unknown;
  type?: unknown;
  correlationId?: unknown;
  timestamp?: unknown;
  headers?: Record<string, unknown>;
}

/** One dead letter as the index holds it: what an operator sees without touching the queue. */
export interface DeadLetterRecord {
  /** The message id, or for a message without one `~` + a digest of its body (it cannot be retried by id). */
  key: string;
  messageId?: string;
  type: string;
  correlationId?: string;
  /** poison, exhausted (ours) or the broker's own reason (delivery_limit, expired, rejected). */
  kind: string;
  reason: string;
  /** The reason as it is grouped (reasonPattern). */
  groupReason: string;
  failedAtMs: number;
  attempts: number;
  /** The group this letter counts in: a digest of kind, reason and type. */
  group: string;
  /** The message's headers, as JSON. */
  headers: string;
  body: string;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** The index key of a dead letter: its message id, or a digest of its body when it has none. */
export function deadLetterKeyOf(messageId: unknown, content: Buffer): string {
  return text(messageId) ?? `~${createHash('sha256').update(content).digest('hex').slice(0, 24)}`;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const LONG_HEX = /\b[0-9a-f]{16,}\b/gi;

/**
 * A reason as it is grouped: the message's own id, UUIDs and long hex strings (script digests) are
 * replaced by placeholders, so "failed: message 3f2a… WRONGTYPE" of 10,000 messages is one group.
 */
export function reasonPattern(reason: string, messageId?: string): string {
  const withoutId = messageId ? reason.split(messageId).join('<id>') : reason;
  return withoutId.replace(UUID, '<uuid>').replace(LONG_HEX, '<hex>');
}

export function groupOf(kind: string, reason: string, type: string): string {
  return createHash('sha256')
    .update(JSON.stringify([kind, reason, type]))
    .digest('hex')
    .slice(0, 16);
}

/** The first entry of the broker's x-death header, when it dead-lettered the message itself. */
function brokerDeath(headers: Record<string, unknown>): { reason?: string; time?: number; count?: number } {
  const deaths = headers['x-death'];
  const first = Array.isArray(deaths) ? (deaths[0] as Record<string, unknown> | undefined) : undefined;
  const time = first?.time as { value?: unknown } | Date | number | undefined;
  const seconds = time instanceof Date ? time.getTime() / 1000 : typeof time === 'object' ? Number(time.value) : Number(time);
  return {
    reason: text(first?.reason) ?? text(headers['x-first-death-reason']),
    time: Number.isFinite(seconds) ? seconds * 1000 : undefined,
    count: typeof first?.count === 'number' ? first.count : undefined,
  };
}

/**
 * Describes a message as it lies in a DLQ, from its properties and body: our failure headers
 * (x-failure-*) when the failure router put it there, else the broker's x-death (a delivery limit
 * reached, a message expired or rejected). `nowMs` stands in for a time the message does not carry.
 */
export function deadLetterRecordOf(properties: DeadLetterProperties, content: Buffer, nowMs = Date.now()): DeadLetterRecord {
  const headers = properties.headers ?? {};
  const death = brokerDeath(headers);
  const ours = text(headers[HEADERS.failureKind]);
  const kind = ours ?? death.reason ?? 'unknown';
  const reason = (text(headers[HEADERS.failureReason]) ?? `dead-lettered by the broker: ${kind}`).slice(0, INDEXED_REASON_MAX_CHARS);
  const failedAt = Date.parse(text(headers[HEADERS.failedAt]) ?? '');
  const type = text(properties.type) ?? '(no type)';
  const groupReason = reasonPattern(reason, text(properties.messageId));
  const attempts = Number(headers[HEADERS.failedAttempts] ?? headers[HEADERS.attempt] ?? death.count ?? 0);
  return {
    key: deadLetterKeyOf(properties.messageId, content),
    messageId: text(properties.messageId),
    type,
    correlationId: text(properties.correlationId) ?? text(headers[HEADERS.correlationId]),
    kind,
    reason,
    groupReason,
    failedAtMs: Number.isFinite(failedAt) ? failedAt : (death.time ?? nowMs),
    attempts: Number.isFinite(attempts) ? attempts : 0,
    group: groupOf(kind, groupReason, type),
    headers: JSON.stringify(headers, (_name, value: unknown) => (typeof value === 'bigint' ? String(value) : value)),
    body: content.toString('utf8').slice(0, INDEXED_BODY_MAX_CHARS),
  };
}
