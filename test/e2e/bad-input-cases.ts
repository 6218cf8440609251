/**
 * The pathological requests of test/e2e/bad-input.e2e-spec.ts: bodies the producer must refuse with
 * a JSON 4xx (and publish nothing of), and bodies it must accept and deliver intact.
 */

/** `depth` arrays nested in one another: `[[…]]`. */
export const arrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** A POST /messages body around a payload given as JSON text. */
export const withPayload = (payload: string, type = 'bad.input') => `{"type":"${type}","payload":${payload}}`;

export interface RefusedCase {
  name: string;
  body: string | Buffer;
  /** Content-Type header; undefined sends none. */
  contentType?: string;
  headers?: Record<string, string>;
  status: number;
  message: string | RegExp;
}

const JSON_TYPE = 'application/json';
const DEEPER_THAN_64 = 'payload is nested deeper than 64 levels (objects and arrays; the payload itself is level 1)';
const NOT_AN_OBJECT = 'body must be a JSON object with "type" and "payload"';
const PAYLOAD_NOT_AN_OBJECT = '"payload" must be a JSON object';
const NOT_JSON = /^the body is not valid JSON: /;
const NON_JSON_TYPE = 'Content-Type must be application/json';
const PROTOTYPE_KEYS = 'the body must not hold a "__proto__" key, nor a "constructor" key holding "prototype"';
const NUMBER_OUT_OF_RANGE = 'payload holds a number JSON cannot carry (NaN or ±Infinity; a literal like 1e400 overflows to Infinity)';

/** `contentType` null sends no Content-Type header. */
const refused = (
  name: string,
  body: string | Buffer,
  status: number,
  message: string | RegExp,
  contentType: string | null = JSON_TYPE,
) => ({
  name,
  body,
  contentType: contentType ?? undefined,
  status,
  message,
});

const invalidUtf8 = (bytes: number[]) =>
  Buffer.concat([Buffer.from('{"type":"t","payload":{"s":"'), Buffer.from(bytes), Buffer.from('"}}')]);

export const REFUSED: RefusedCase[] = [
  // Nesting: the payload limit is MAX_PAYLOAD_DEPTH (64); ~4,100 levels used to overflow JSON.stringify (a 500).
  refused('a payload nested 65 levels (one over MAX_PAYLOAD_DEPTH)', withPayload(`{"a":${arrays(64)}}`), 400, DEEPER_THAN_64),
  refused('a payload nested 5,000 levels of arrays', withPayload(`{"a":${arrays(4999)}}`), 400, DEEPER_THAN_64),
  refused('a payload nested 20,000 levels of objects', withPayload(`${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`), 400, DEEPER_THAN_64),
  refused('a payload nested 100,000 levels of arrays', withPayload(`{"a":${arrays(100_000)}}`), 400, DEEPER_THAN_64),
  // Numbers JSON.parse turns into Infinity, which JSON.stringify would send on as null.
  refused('the number 1e400', withPayload('{"n":1e400}'), 400, NUMBER_OUT_OF_RANGE),
  refused('the number -1e400 deep in an array', withPayload('{"n":[[1,{"m":-1e400}]]}'), 400, NUMBER_OUT_OF_RANGE),
  // Bytes and text.
  refused('bytes that are not UTF-8 (0xFF)', invalidUtf8([0xff]), 400, 'the body is not valid UTF-8'),
  refused('a truncated UTF-8 sequence', invalidUtf8([0xe2, 0x82]), 400, 'the body is not valid UTF-8'),
  refused('a UTF-8-encoded lone surrogate (CESU)', invalidUtf8([0xed, 0xa0, 0x80]), 400, 'the body is not valid UTF-8'),
  refused(
    'latin-1 bytes sent as UTF-8',
    Buffer.from('{"type":"t","payload":{"s":"caf\u00e9"}}', 'latin1'),
    400,
    'the body is not valid UTF-8',
  ),
  refused('an empty body', '', 400, 'the body is empty: send a JSON object'),
  refused('a body of spaces', '   ', 400, NOT_JSON),
  refused('truncated JSON', '{"type":"t","payload":{', 400, NOT_JSON),
  refused('trailing garbage', '{"type":"t","payload":{}} x', 400, NOT_JSON),
  refused('two JSON documents', '{"type":"t","payload":{}}{"type":"t","payload":{}}', 400, NOT_JSON),
  refused('single quotes', "{'type':'t','payload':{}}", 400, NOT_JSON),
  refused('NaN', withPayload('{"n":NaN}'), 400, NOT_JSON),
  refused('a "__proto__" key', withPayload('{"__proto__":{"admin":true}}'), 400, PROTOTYPE_KEYS),
  refused('a "constructor"."prototype" key', withPayload('{"constructor":{"prototype":{"admin":true}}}'), 400, PROTOTYPE_KEYS),
  // Shapes.
  refused('an array body', '[{"type":"t","payload":{}}]', 400, NOT_AN_OBJECT),
  refused('a string body', '"hello"', 400, NOT_AN_OBJECT),
  refused('a number body', '42', 400, NOT_AN_OBJECT),
  refused('null', 'null', 400, NOT_AN_OBJECT),
  refused('true', 'true', 400, NOT_AN_OBJECT),
  refused('an array payload', withPayload('[1,2]'), 400, PAYLOAD_NOT_AN_OBJECT),
  refused('a string payload', withPayload('"{}"'), 400, PAYLOAD_NOT_AN_OBJECT),
  refused('a null payload', withPayload('null'), 400, PAYLOAD_NOT_AN_OBJECT),
  refused('no payload', '{"type":"t"}', 400, PAYLOAD_NOT_AN_OBJECT),
  refused('a type with a wildcard', withPayload('{}', 'orders.#'), 400, '"type" must be 1 to 128 characters of a-z A-Z 0-9 . _ -'),
  refused('a type of 129 characters', withPayload('{}', 'a'.repeat(129)), 400, '"type" must be 1 to 128 characters of a-z A-Z 0-9 . _ -'),
  // Content types.
  refused('text/plain', withPayload('{}'), 415, NON_JSON_TYPE, 'text/plain'),
  refused('no Content-Type', withPayload('{}'), 415, NON_JSON_TYPE, null),
  refused('a form', 'type=t&payload=x', 415, NON_JSON_TYPE, 'application/x-www-form-urlencoded'),
  refused('multipart', '--b\r\n\r\n{}\r\n--b--', 415, NON_JSON_TYPE, 'multipart/form-data; boundary=b'),
  refused('application/xml', '<m/>', 415, NON_JSON_TYPE, 'application/xml'),
  refused(
    'charset=iso-8859-1',
    withPayload('{}'),
    415,
    'JSON bodies must be UTF-8; charset=iso-8859-1 is not supported',
    'application/json; charset=iso-8859-1',
  ),
  refused(
    'charset=utf-16',
    withPayload('{}'),
    415,
    'JSON bodies must be UTF-8; charset=utf-16 is not supported',
    'application/json; charset=utf-16',
  ),
  // Size: MAX_BODY_BYTES (256 KiB by default).
  refused('a body over MAX_BODY_BYTES', withPayload(`{"s":"${'x'.repeat(262_144)}"}`), 413, /too large/i),
];

export interface AcceptedCase {
  name: string;
  body: string;
  contentType?: string;
}

const ODD_TEXT = [
  'caf\\u00e9 na\u00efve \u00fc',
  '\u{1f600}\u{1f469}\u200d\u{1f4bb}',
  'e\u0301 (combining)',
  '\u202eRTL override',
  '\u2028line\u2029paragraph',
  '\\u0000 NUL',
  '\\ud800 lone high',
  '\\udfff lone low',
  '\\udc00\\ud800 reversed pair',
  '\ufeff inner BOM',
  '\\uffff \\ufffe non-characters',
  '\\"quoted\\" \\\\ back\\/slash \\b\\f\\n\\r\\t',
];

export const ACCEPTED: AcceptedCase[] = [
  { name: 'a payload nested exactly 64 levels (MAX_PAYLOAD_DEPTH)', body: withPayload(`{"a":${arrays(63)}}`) },
  { name: 'an array of 40,000 numbers', body: withPayload(`{"a":[${Array.from({ length: 40_000 }, (_, i) => i % 10).join(',')}]}`) },
  { name: 'an object of 15,000 keys', body: withPayload(`{${Array.from({ length: 15_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`) },
  {
    name: 'odd unicode, lone surrogates included',
    body: withPayload(`{${ODD_TEXT.map((text, i) => `"s${i}":"${text}"`).join(',')},"\\ud83d key":1}`),
  },
  {
    name: 'repeated keys (the last one wins, as in JSON.parse)',
    body: '{"type":"first","type":"bad.input","payload":{"a":1,"a":{"b":2},"a":3}}',
  },
  {
    name: 'numbers at the edges of a double',
    body: withPayload('{"big":1e308,"tiny":5e-324,"negZero":-0,"huge":12345678901234567890,"e":1E+2}'),
  },
  { name: 'a plain "constructor" key and a "toJSON" key', body: withPayload('{"constructor":1,"toJSON":"x","hasOwnProperty":2}') },
  { name: 'a leading BOM', body: `\ufeff${withPayload('{"bom":true}')}` },
  { name: 'charset=utf-8', body: withPayload('{"c":1}'), contentType: 'application/json; charset=utf-8' },
  { name: 'charset="UTF-8" quoted', body: withPayload('{"c":2}'), contentType: 'application/json;charset="UTF-8"' },
  { name: 'application/vnd.api+json', body: withPayload('{"c":3}'), contentType: 'application/vnd.api+json' },
  {
    name: 'a field outside the payload nested 100,000 levels (ignored, not sent)',
    body: `{"type":"bad.input","payload":{},"x":${arrays(100_000)}}`,
  },
  { name: 'pretty-printed JSON', body: '{\n  "type": "bad.input",\n  "payload": {\n    "a": [1, 2]\n  }\n}\n' },
];
