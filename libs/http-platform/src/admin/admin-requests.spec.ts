import { BadRequestException } from '@nestjs/common';
import { listWindowOf, messageIdOf, selectionOf } from './admin-requests';

function badRequest(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    return (error as BadRequestException).message;
  }
  throw new Error('expected a BadRequestException');
}

describe('listWindowOf', () => {
  it('defaults to the first 100 entries', () => {
    expect(listWindowOf({})).toEqual({ limit: 100, offset: 0 });
    expect(listWindowOf(undefined, 50)).toEqual({ limit: 50, offset: 0 });
  });

  it('accepts plain digits within the bounds', () => {
    expect(listWindowOf({ limit: '1', offset: '0' })).toEqual({ limit: 1, offset: 0 });
    expect(listWindowOf({ limit: '1000', offset: '1000000000' })).toEqual({ limit: 1000, offset: 1_000_000_000 });
  });

  it.each(['abc', '-1', '0', '1001', '1e3', '1.5', ' 5', '0x10', '', '99999999999999999999'])('refuses limit=%p', (limit) => {
    expect(badRequest(() => listWindowOf({ limit }))).toBe('"limit" must be a whole number from 1 to 1000 (plain digits)');
  });

  it.each(['1e9', '-1', '1000000001', 'abc', '', '1.0'])('refuses offset=%p', (offset) => {
    expect(badRequest(() => listWindowOf({ offset }))).toBe('"offset" must be a whole number from 0 to 1000000000 (plain digits)');
  });

  it('refuses a repeated parameter (an array)', () => {
    expect(badRequest(() => listWindowOf({ limit: ['1', '2'] }))).toMatch(/^"limit" must be/);
  });
});

describe('selectionOf', () => {
  it('passes a selection through', () => {
    expect(selectionOf({ all: true })).toEqual({ all: true });
    expect(selectionOf({ ids: ['a'] })).toEqual({ ids: ['a'] });
  });

  it('turns a malformed body into a 400 that says what is wrong', () => {
    expect(badRequest(() => selectionOf({ ids: [1] }))).toMatch(/^"ids" must be a list of 1 to 1000 message ids/);
    expect(badRequest(() => selectionOf(undefined))).toBe('the body must be {"ids": ["<message id>", ...]} or {"all": true}');
  });
});

describe('messageIdOf', () => {
  it('accepts 1 to 200 characters, refuses more', () => {
    expect(messageIdOf('x'.repeat(200))).toHaveLength(200);
    expect(badRequest(() => messageIdOf('x'.repeat(201)))).toBe('the message id must be 1 to 200 characters');
    expect(badRequest(() => messageIdOf(''))).toBe('the message id must be 1 to 200 characters');
  });
});
