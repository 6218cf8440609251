/** `() => DeadLetterQueue` the console moves letters back with: the consumer's own, or one of the console's on the producer. */
export const CONSOLE_DEAD_LETTER_QUEUE = Symbol('CONSOLE_DEAD_LETTER_QUEUE');
/** The console's DeadLetterIndex (a store on the shared Redis client). */
export const CONSOLE_DEAD_LETTER_INDEX = Symbol('CONSOLE_DEAD_LETTER_INDEX');
