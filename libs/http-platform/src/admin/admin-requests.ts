import { BadRequestException } from '@nestjs/common';
import {
  InvalidSelectionError,
  isMessageId,
  MESSAGE_ID_MAX_LENGTH,
  parseMessageSelection,
  type MessageSelection,
} from '@app/messaging/envelope';

/** Most entries one admin list returns. */
export const LIST_MAX_LIMIT = 1000;
/** Largest offset into an admin list (beyond it there is nothing to page through). */
export const LIST_MAX_OFFSET = 1_000_000_000;

export interface ListWindow {
  limit: number;
  offset: number;
}

const DIGITS = /^\d{1,10}$/;

function wholeNumber(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && DIGITS.test(value) ? Number(value) : Number.NaN;
  if (!(number >= min && number <= max)) {
    throw new BadRequestException(`"${name}" must be a whole number from ${min} to ${max} (plain digits)`);
  }
  return number;
}

/**
 * `?limit=&offset=` of an admin list: plain decimal digits within bounds, else a 400 naming the
 * parameter (so `limit=abc`, `limit=-1`, `offset=1e9` or a repeated parameter never reach Redis).
 */
export function listWindowOf(query: Record<string, unknown> | undefined, defaultLimit = 100): ListWindow {
  return {
    limit: wholeNumber('limit', query?.limit, defaultLimit, 1, LIST_MAX_LIMIT),
    offset: wholeNumber('offset', query?.offset, 0, 0, LIST_MAX_OFFSET),
  };
}

/** The body of a bulk admin action: `{"ids": [...]}` or `{"all": true}`, else a 400 saying what is wrong. */
export function selectionOf(body: unknown): MessageSelection {
  try {
    return parseMessageSelection(body);
  } catch (error) {
    if (error instanceof InvalidSelectionError) throw new BadRequestException(error.message);
    throw error;
  }
}

/** A message id from a route parameter, else a 400. */
export function messageIdOf(param: unknown): string {
  if (!isMessageId(param)) throw new BadRequestException(`the message id must be 1 to ${MESSAGE_ID_MAX_LENGTH} characters`);
  return param;
}
