import { BadRequestException, HttpException, UnsupportedMediaTypeException } from '@nestjs/common';
import Fastify from 'fastify';
import type { FastifyRequest } from 'fastify';
import { charsetOf, strictJsonParser, whyNotParsed } from './json-body-parser';

/** fastify's own parser (JSON.parse, prototype-poisoning keys refused), as the apps use it. */
const secureParse = Fastify().getDefaultJsonParser('error', 'error') as unknown as Parameters<typeof strictJsonParser>[0];
const parser = strictJsonParser(secureParse);

function parse(body: string | Buffer, contentType = 'application/json'): Promise<{ body?: unknown; error?: HttpException }> {
  const request = { headers: { 'content-type': contentType } } as unknown as FastifyRequest;
  return new Promise((resolve) =>
    parser(request, typeof body === 'string' ? Buffer.from(body) : body, (error, parsed) =>
      resolve(error ? { error: error as HttpException } : { body: parsed }),
    ),
  );
}

async function refusal(body: string | Buffer, contentType?: string): Promise<HttpException> {
  const { error } = await parse(body, contentType);
  expect(error).toBeInstanceOf(HttpException);
  return error!;
}

describe('charsetOf', () => {
  it.each([
    ['application/json', undefined],
    ['application/json; charset=utf-8', 'utf-8'],
    ['application/json;charset="UTF-8"', 'utf-8'],
    ['application/json; foo=bar; Charset=ISO-8859-1', 'iso-8859-1'],
  ])('%p -> %p', (contentType, charset) => {
    expect(charsetOf(contentType)).toBe(charset);
  });
});

describe('strictJsonParser', () => {
  it('parses a UTF-8 JSON body, with or without a charset=utf-8, and ignores a BOM', async () => {
    expect((await parse('{"a":"caf\u00e9"}')).body).toEqual({ a: 'caf\u00e9' });
    expect((await parse('{"a":1}', 'application/json; charset=UTF-8')).body).toEqual({ a: 1 });
    expect((await parse('\ufeff{"a":1}')).body).toEqual({ a: 1 });
  });

  it('keeps the last value of a repeated key (JSON.parse), and lone surrogates as they are', async () => {
    expect((await parse('{"a":1,"a":2}')).body).toEqual({ a: 2 });
    expect((await parse('{"s":"\\ud800"}')).body).toEqual({ s: '\ud800' });
  });

  it('parses deep nesting without overflowing (the depth limit is publish()’s)', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(Array.isArray((await parse(deep)).body)).toBe(true);
  });

  it.each(['iso-8859-1', 'utf-16', 'latin1'])('refuses charset=%s with 415', async (charset) => {
    const error = await refusal('{}', `application/json; charset=${charset}`);
    expect(error).toBeInstanceOf(UnsupportedMediaTypeException);
    expect(error.message).toBe(`JSON bodies must be UTF-8; charset=${charset} is not supported`);
  });

  it('refuses an empty body', async () => {
    expect((await refusal('')).message).toBe('the body is empty: send a JSON object');
  });

  it.each([
    ['a stray byte', Buffer.from([0x7b, 0xff, 0x7d])],
    ['a truncated sequence', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3]), Buffer.from('"}')])],
    ['an overlong encoding', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])],
    ['an encoded surrogate', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])],
  ])('refuses bytes that are not UTF-8: %s', async (_, body) => {
    const error = await refusal(body);
    expect(error).toBeInstanceOf(BadRequestException);
    expect(error.message).toBe('the body is not valid UTF-8');
  });

  it.each(['{', '   ', '{"a":1}x', '{"a":01}', "{'a':1}", '{"a":1,}'])('refuses the invalid JSON %p, saying why', async (body) => {
    expect((await refusal(body)).message).toMatch(/^the body is not valid JSON: /);
  });

  it.each(['{"__proto__":{"x":1}}', '{"a":{"constructor":{"prototype":{"x":1}}}}'])('refuses the prototype-poisoning %s', async (body) => {
    expect((await refusal(body)).message).toBe('the body must not hold a "__proto__" key, nor a "constructor" key holding "prototype"');
  });

  it('accepts a plain "constructor" key', async () => {
    expect((await parse('{"constructor":1}')).body).toEqual({ constructor: 1 });
  });
});

describe('whyNotParsed', () => {
  it('keeps the reason short', () => {
    expect(whyNotParsed(`{"a":"${'x'.repeat(5000)}`).length).toBeLessThan(260);
  });
});
