import { CONSOLE_SCRIPT_CORE } from './console-script-core';
import { CONSOLE_SCRIPT_LETTERS } from './console-script-letters';
import { CONSOLE_SCRIPT_OUTBOX } from './console-script-outbox';

export * from './console-page';
export * from './console-style';

/** The whole script, served as one file. */
export const CONSOLE_SCRIPT = [CONSOLE_SCRIPT_CORE, CONSOLE_SCRIPT_LETTERS, CONSOLE_SCRIPT_OUTBOX].join('\n');

/** Nothing but this app: no CDN, no outside fetch, no inline script, no framing. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
