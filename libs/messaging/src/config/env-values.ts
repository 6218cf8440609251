import { z } from 'zod';
import { InvalidRedisUrlError, parseRedisUrl, SENTINEL_SCHEME } from './redis-url';

/** The value types of messaging-settings.ts: how one variable's text becomes a validated value. */
const AMQP_URL = /^amqps?:\/\/[^\s,]+$/;
const REDIS_URL = /^rediss?:\/\/[^\s]+$/;

/**
 * A URL the drivers can parse (WHATWG rules), with a host and no `@` after it. Refused otherwise, so
 * that a password with an unencoded `/`, `?` or `#` stops the start with a line naming the variable,
 * instead of reaching a driver whose parse error would echo the whole URL, or being cut in two (part
 * taken as host and port, the rest, with the `@`, as path) and logged unmasked. Encode such
 * characters (%2F, %3F, %23).
 */
function parsesWithHost(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.hostname !== '' && !`${parsed.pathname}${parsed.search}${parsed.hash}`.includes('@');
  } catch {
    return false;
  }
}
const NAME = /^[a-zA-Z0-9._:-]{1,200}$/;

/** Only plain decimal digits count as a number: '', '  ', '0x10' and '1e3' are refused, not coerced. */
const decimal = (value: unknown) => (typeof value === 'string' ? (/^\s*-?\d+\s*$/.test(value) ? Number(value) : Number.NaN) : value);

const wholeNumber = (min: number, max: number) =>
  z.preprocess(
    decimal,
    z
      .number({ error: 'must be a whole number' })
      .int('must be a whole number')
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`),
  );

export const int = (def: number, min: number, max: number) => wholeNumber(min, max).default(def);

/** A whole number whose default depends on other settings (undefined when the variable is unset). */
export const optionalInt = (min: number, max: number) => wholeNumber(min, max).optional();

export const name = (def: string) => z.string().regex(NAME, 'must be 1-200 characters of a-z A-Z 0-9 . _ : -').default(def);

/** A comma-separated list of amqp:// or amqps:// URLs, trimmed. */
export const amqpUrls = (def: string) =>
  z
    .string()
    .default(def)
    .transform((value) => value.split(',').map((url) => url.trim()))
    .refine((urls) => urls.length > 0 && urls.every((url) => AMQP_URL.test(url) && parsesWithHost(url)), {
      message: 'must be an amqp:// or amqps:// URL, or a comma-separated list of them (special characters in a password percent-encoded)',
    });

/** redis:// or rediss:// (one server), or redis+sentinel:// (a primary found through Sentinels: redis-url.ts). */
export const redisUrl = (def: string) =>
  z
    .string()
    .default(def)
    .superRefine((url, context) => {
      if (url.startsWith(SENTINEL_SCHEME)) {
        try {
          parseRedisUrl(url);
        } catch (error) {
          if (!(error instanceof InvalidRedisUrlError)) throw error;
          context.addIssue({ code: 'custom', message: `is not a valid Sentinel URL: ${error.message}` });
        }
      } else if (!REDIS_URL.test(url) || !parsesWithHost(url)) {
        context.addIssue({
          code: 'custom',
          message:
            'must be a redis:// or rediss:// URL, or redis+sentinel://[[user]:password@]host:port[,host:port...]/<master-name>[/<db>] ' +
            '(special characters in a password percent-encoded)',
        });
      }
    });
