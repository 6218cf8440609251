import Redis from 'ioredis';
import type { RunTypes, SystemTarget } from './system-target';

export interface ProcessedEntry {
  /** The stream entry's own id (for XDEL). */
  entryId: string;
  id: string;
  type: string;
}

const PAGE = 1000;

/**
 * The consumer's effect as the contract names it: the Redis stream `messaging:processed` (fields id
 * and type). Reads only what was added after `open()` and keeps only the entries of this run's types,
 * so a shared, busy stream is neither scanned whole nor disturbed.
 */
export class ProcessedStream {
  private constructor(
    private readonly redis: Redis,
    private readonly stream: string,
    private readonly types: RunTypes,
    private readonly since: string,
  ) {}

  static async open(target: SystemTarget, types: RunTypes): Promise<ProcessedStream> {
    const redis = new Redis(target.redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 5000, lazyConnect: true });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw new Error(`cannot reach Redis at REDIS_URL (${(error as Error).message}): the suite reads the processed stream there`);
    }
    const last = await redis.xrevrange(target.names.processedStream, '+', '-', 'COUNT', 1);
    return new ProcessedStream(redis, target.names.processedStream, types, last[0]?.[0] ?? '0-0');
  }

  /** Entries of this run's types added since open(), in stream order. */
  async entries(): Promise<ProcessedEntry[]> {
    const found: ProcessedEntry[] = [];
    let after = this.since;
    for (;;) {
      const page = await this.redis.xrange(this.stream, `(${after}`, '+', 'COUNT', PAGE);
      for (const [entryId, fields] of page) {
        const entry: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) entry[fields[i]] = fields[i + 1];
        if (this.types.owns(entry.type)) found.push({ entryId, id: entry.id, type: entry.type });
      }
      if (page.length < PAGE) return found;
      after = page[page.length - 1][0];
    }
  }

  /** How many entries each id has (ids without an entry are absent). */
  async counts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const entry of await this.entries()) counts.set(entry.id, (counts.get(entry.id) ?? 0) + 1);
    return counts;
  }

  /** Deletes this run's entries (by entry id, nothing else), then disconnects. */
  async close(): Promise<void> {
    try {
      const own = await this.entries();
      for (let i = 0; i < own.length; i += PAGE)
        await this.redis.xdel(this.stream, ...own.slice(i, i + PAGE).map((entry) => entry.entryId));
    } finally {
      await this.redis.quit().catch(() => this.redis.disconnect());
    }
  }
}
