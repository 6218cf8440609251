import type Redis from 'ioredis';

/** Every entry of the processed stream, counted by its `id` field. */
export async function processedCounts(redis: Redis, stream = 'messaging:processed'): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const entries = await redis.xrange(stream, '-', '+');
  for (const [, fields] of entries) {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'id') counts.set(fields[i + 1], (counts.get(fields[i + 1]) ?? 0) + 1);
    }
  }
  return counts;
}

/** The entries of the processed stream as objects (`{ id, type, ... }`), in stream order. */
export async function processedEntries(redis: Redis, stream = 'messaging:processed'): Promise<Record<string, string>[]> {
  const entries = await redis.xrange(stream, '-', '+');
  return entries.map(([, fields]) => {
    const entry: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) entry[fields[i]] = fields[i + 1];
    return entry;
  });
}

/** Which accepted ids have no entry (lost) and which have more than one (duplicated). */
export function assertExactlyOnce(counts: Map<string, number>, acceptedIds: Iterable<string>): { lost: string[]; duplicated: string[] } {
  const lost: string[] = [];
  const duplicated: string[] = [];
  for (const id of new Set(acceptedIds)) {
    const count = counts.get(id) ?? 0;
    if (count === 0) lost.push(id);
    else if (count > 1) duplicated.push(id);
  }
  return { lost, duplicated };
}
