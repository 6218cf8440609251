import { isPlainObject, MESSAGE_ID_MAX_LENGTH } from './message-envelope';

/**
 * Which messages an operator action (moving dead letters back, retrying parked messages) applies to:
 * the given ids, or every one. "Every one" is only ever `{ all: true }`, so no empty or malformed
 * list can be read as "all".
 */
export type MessageSelection = { ids: string[] } | { all: true };

/** Most ids one request may name. */
export const SELECTION_MAX_IDS = 1000;

/** An admin request body or id that is not a selection; the message says what is wrong, for the 400. */
export class InvalidSelectionError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidSelectionError';
  }
}

const SHAPE = 'the body must be {"ids": ["<message id>", ...]} or {"all": true}';
const IDS_RULE = `"ids" must be a list of 1 to ${SELECTION_MAX_IDS} message ids, each a string of 1 to ${MESSAGE_ID_MAX_LENGTH} characters`;

/** A message id from a route parameter or a list: 1 to MESSAGE_ID_MAX_LENGTH characters. */
export function isMessageId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MESSAGE_ID_MAX_LENGTH;
}

/** Reads a request body as a selection: exactly `{"ids": [...]}` (1 or more ids) or `{"all": true}`. */
export function parseMessageSelection(body: unknown): MessageSelection {
  if (!isPlainObject(body)) throw new InvalidSelectionError(SHAPE);
  const unknown = Object.keys(body).filter((key) => key !== 'ids' && key !== 'all');
  if (unknown.length > 0) throw new InvalidSelectionError(`unknown field ${JSON.stringify(unknown[0])}: ${SHAPE}`);
  const hasIds = Object.hasOwn(body, 'ids');
  const hasAll = Object.hasOwn(body, 'all');
  if (hasIds && hasAll) throw new InvalidSelectionError(`give "ids" or "all", not both: ${SHAPE}`);
  if (hasAll) {
    if (body.all !== true)
      throw new InvalidSelectionError('"all" must be true (to select every message); to select some, send {"ids": [...]}');
    return { all: true };
  }
  if (!hasIds) throw new InvalidSelectionError(SHAPE);
  const { ids } = body;
  if (!Array.isArray(ids)) throw new InvalidSelectionError(IDS_RULE);
  if (ids.length === 0) throw new InvalidSelectionError('"ids" is empty: name at least one message id, or send {"all": true}');
  if (ids.length > SELECTION_MAX_IDS || !ids.every(isMessageId)) throw new InvalidSelectionError(IDS_RULE);
  return { ids: [...new Set(ids)] };
}
