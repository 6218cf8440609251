/** The producer's outbox keys under the default REDIS_KEY_PREFIX (see libs/messaging/src/outbox/outbox-store.ts). */
export const OUTBOX_DUE = 'messaging:{outbox}:due';
export const OUTBOX_PARKED = 'messaging:{outbox}:parked';
