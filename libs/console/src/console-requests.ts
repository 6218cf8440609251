import { BadRequestException } from '@nestjs/common';
import type { LetterSelection } from './console-dead-letters.service';

const MAX_KEYS = 1000;
const isText = (value: unknown, max: number): value is string => typeof value === 'string' && value.length > 0 && value.length <= max;

/** `{"queue": "...", "keys": [...]}` or `{"queue": "...", "group": "..."}`, else a 400 saying what is wrong. */
export function letterSelectionOf(body: unknown): LetterSelection {
  const input = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (!isText(input.queue, 255)) throw new BadRequestException('"queue" must name a dead-letter queue');
  const hasKeys = input.keys !== undefined;
  if (hasKeys === (input.group !== undefined)) throw new BadRequestException('give either "keys" (a list of letters) or "group", not both');
  if (!hasKeys) {
    if (!isText(input.group, 64)) throw new BadRequestException('"group" must be a group id');
    return { queue: input.queue, group: input.group };
  }
  const keys = input.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS || !keys.every((key) => isText(key, 200))) {
    throw new BadRequestException(`"keys" must be a list of 1 to ${MAX_KEYS} letter keys`);
  }
  return { queue: input.queue, keys: keys };
}

/** `{"ids": [...]}` of parked outbox messages. */
export function outboxIdsOf(body: unknown): string[] {
  const ids = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).ids : undefined;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_KEYS || !ids.every((id) => isText(id, 200))) {
    throw new BadRequestException(`"ids" must be a list of 1 to ${MAX_KEYS} message ids`);
  }
  return ids;
}

/** A search term: a message id or a correlation id (1 to 200 characters). */
export function searchTermOf(value: unknown): string {
  const term = typeof value === 'string' ? value.trim() : '';
  if (!isText(term, 200)) throw new BadRequestException('"q" must be a message id or a correlation id (1 to 200 characters)');
  return term;
}
