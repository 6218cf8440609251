import { isUtf8 } from 'node:buffer';
import { BadRequestException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';

type Done = (error: Error | null, body?: unknown) => void;
type BufferParser = (request: FastifyRequest, body: Buffer, done: Done) => void;
/** fastify's default JSON parser, which calls back with the parsed body. */
type TextParser = (request: FastifyRequest, body: string, done: Done) => void;

/** `application/<vendor>+json` types are JSON too (`application/json` itself is registered by name). */
const STRUCTURED_JSON = /^application\/[\w.-]+\+json\s*(;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;
/** Longest parser message echoed back (V8's quotes a piece of the input). */
const MAX_REASON_LENGTH = 200;

/** The charset parameter of a content type, lower-cased; undefined without one. */
export function charsetOf(contentType: string | undefined): string | undefined {
  // Without parameters (the common `application/json`) there is no charset: no regular expression.
  return contentType === undefined || !contentType.includes(';') ? undefined : CHARSET.exec(contentType)?.[1]?.toLowerCase();
}

/**
 * Why `secureParse` (fastify's parser: JSON.parse, refusing prototype-poisoning keys) refused a
 * UTF-8 body: its own error says only "not valid JSON", so the body is parsed again here, on the
 * refusal path only, to tell the client what is wrong.
 */
export function whyNotParsed(text: string): string {
  try {
    JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    const reason = (error as Error).message;
    return `the body is not valid JSON: ${reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH)}…` : reason}`;
  }
  return 'the body must not hold a "__proto__" key, nor a "constructor" key holding "prototype"';
}

/**
 * Parses a JSON body strictly, answering every refusal as a JSON 4xx that says what is wrong:
 * a charset other than UTF-8 (RFC 8259: JSON between systems is UTF-8) is a 415; an empty body,
 * bytes that are not UTF-8 (which a lenient decoder would turn into U+FFFD, changing the message) and
 * JSON that does not parse or holds prototype-poisoning keys are 400s. A leading BOM is ignored.
 * JSON.parse semantics otherwise: a repeated key keeps its last value.
 */
export function strictJsonParser(secureParse: TextParser): BufferParser {
  return (request, body, done) => {
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(new UnsupportedMediaTypeException(`JSON bodies must be UTF-8; charset=${charset} is not supported`));
    } else if (body.length === 0) {
      done(new BadRequestException('the body is empty: send a JSON object'));
    } else if (!isUtf8(body)) {
      done(new BadRequestException('the body is not valid UTF-8'));
    } else {
      const text = body.toString('utf8');
      secureParse(request, text, (error, parsed) => (error ? done(new BadRequestException(whyNotParsed(text))) : done(null, parsed)));
    }
  };
}

/** A body of a type nothing here parses: every POST route takes JSON only. */
const refuseNonJson: BufferParser = (_request, _body, done) =>
  done(new UnsupportedMediaTypeException('Content-Type must be application/json'));

/**
 * Installs the body parsers of both apps before Nest would install its own (it skips them once one
 * is set): strict JSON for application/json and application/*+json, within `bodyLimit`, and a 415
 * for every other content type but text/plain. fastify's own text/plain parser stays, so such a
 * request reaches the route after its guards, as before (POST /messages answers it 415 there, and
 * it counts against the rate limit; an admin route finds no selection in it: 400).
 */
export function useStrictJsonBodies(app: NestFastifyApplication, bodyLimit: number): void {
  const fastify = app.getHttpAdapter().getInstance();
  const secure = fastify.getDefaultJsonParser('error', 'error');
  // fastify's parser is the callback form at run time; its typing also allows a promise form.
  const parse = strictJsonParser((request, body, done) => void secure(request, body, done));
  app.useBodyParser('application/json', { bodyLimit }, parse);
  app.useBodyParser(STRUCTURED_JSON, { bodyLimit }, parse);
  app.useBodyParser('*', { bodyLimit }, refuseNonJson);
}
