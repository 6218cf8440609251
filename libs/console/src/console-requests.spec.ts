import { BadRequestException } from '@nestjs/common';
import { letterSelectionOf, outboxIdsOf, searchTermOf } from './console-requests';

describe('console requests', () => {
  it('reads a selection of letters or a group', () => {
    expect(letterSelectionOf({ queue: 'q.dlq', keys: ['a', 'b'] })).toEqual({ queue: 'q.dlq', keys: ['a', 'b'] });
    expect(letterSelectionOf({ queue: 'q.dlq', group: 'abc' })).toEqual({ queue: 'q.dlq', group: 'abc' });
  });

  it.each([
    undefined,
    {},
    { queue: 'q.dlq' },
    { queue: 'q.dlq', keys: [] },
    { queue: 'q.dlq', keys: [''] },
    { queue: 'q.dlq', keys: ['a'], group: 'g' },
    { queue: '', keys: ['a'] },
  ])('refuses %j (never read as "all")', (body) => {
    expect(() => letterSelectionOf(body)).toThrow(BadRequestException);
  });

  it('reads outbox ids and search terms', () => {
    expect(outboxIdsOf({ ids: ['x'] })).toEqual(['x']);
    expect(() => outboxIdsOf({ all: true })).toThrow(BadRequestException);
    expect(searchTermOf('  order-42 ')).toBe('order-42');
    expect(() => searchTermOf('')).toThrow(BadRequestException);
  });
});
