import { RequestBatcher } from './request-batcher';

/** Pure logic; `send` is a recording fake. */
type Answer = (requests: number[]) => Promise<(number | Error)[]>;

function setUp(maxSize: number, flushMs: number, answer: Answer = (requests) => Promise.resolve(requests.map((n) => n * 10))) {
  const batches: number[][] = [];
  const batcher = new RequestBatcher<number, number>(
    (requests) => {
      batches.push(requests);
      return answer(requests);
    },
    { maxSize, flushMs },
  );
  return { batcher, batches };
}

describe('RequestBatcher', () => {
  it('sends the requests of one event-loop turn together and answers each in order', async () => {
    const { batcher, batches } = setUp(100, 0);
    const results = await Promise.all([1, 2, 3].map((n) => batcher.add(n)));
    expect(results).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('tells the size of each batch as it is sent', async () => {
    const sizes: number[] = [];
    const batcher = new RequestBatcher<number, number>(
      (requests) => Promise.resolve(requests),
      { maxSize: 2, flushMs: 0 },
      (size) => sizes.push(size),
    );
    await Promise.all([1, 2, 3].map((n) => batcher.add(n)));
    expect(sizes).toEqual([2, 1]);
  });

  it('sends as soon as a batch is full, the rest in the next one', async () => {
    const { batcher, batches } = setUp(2, 0);
    const pending = [1, 2, 3].map((n) => batcher.add(n));
    expect(batches).toEqual([[1, 2]]);
    await Promise.all(pending);
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('with a flush timer, gathers requests across turns until it fires', async () => {
    jest.useFakeTimers();
    try {
      const { batcher, batches } = setUp(100, 5);
      const first = batcher.add(1);
      await Promise.resolve();
      const second = batcher.add(2);
      jest.advanceTimersByTime(4);
      expect(batches).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(batches).toEqual([[1, 2]]);
      await expect(Promise.all([first, second])).resolves.toEqual([10, 20]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('rejects only the request whose answer is an Error', async () => {
    const { batcher } = setUp(100, 0, (requests) => Promise.resolve(requests.map((n) => (n === 2 ? new Error('two') : n))));
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.add(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('rejects every request of a batch whose send failed, or threw, and goes on with the next batch', async () => {
    let calls = 0;
    const { batcher } = setUp(100, 0, (requests) => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('connection lost'));
      if (calls === 2) throw new Error('thrown');
      return Promise.resolve(requests);
    });
    await expect(Promise.all([batcher.add(1), batcher.add(2)])).rejects.toThrow('connection lost');
    await expect(batcher.add(3)).rejects.toThrow('thrown');
    await expect(batcher.add(4)).resolves.toBe(4);
  });

  it('rejects requests a short answer left out', async () => {
    const { batcher } = setUp(100, 0, () => Promise.resolve([1]));
    const results = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
  });
});
