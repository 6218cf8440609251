/** Injection token holding the validated MessagingSettings. */
export const MESSAGING_SETTINGS = Symbol('MESSAGING_SETTINGS');
/** Injection token holding the ioredis client the messaging rooms share. */
export const MESSAGING_REDIS = Symbol('MESSAGING_REDIS');
/** Injection token holding the resolved SubscriptionSettings[] (every default filled in, validated at start). */
export const MESSAGING_SUBSCRIPTIONS = Symbol('MESSAGING_SUBSCRIPTIONS');
