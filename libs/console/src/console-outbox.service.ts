import { MESSAGING_REDIS, MESSAGING_SETTINGS, OutboxStore, type MessagingSettings, type OutboxEntry } from '@app/messaging';
import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';

/** How many outbox entries a search by correlation id reads at most, per state (the outbox has no index by it). */
export const OUTBOX_SEARCH_WINDOW = 10_000;

export interface OutboxView {
  id: string;
  state: 'pending' | 'parked';
  type: string;
  correlationId?: string;
  storedAt: string;
  attempts: number;
  deferrals: number;
  lastError?: string;
  body: string;
}

const view = (entry: OutboxEntry, state: OutboxView['state']): OutboxView => ({
  id: entry.id,
  state,
  type: entry.type,
  correlationId: entry.correlationId,
  storedAt: new Date(entry.storedAt).toISOString(),
  attempts: entry.attempts,
  deferrals: entry.deferrals,
  lastError: entry.lastError,
  body: entry.body.toString('utf8').slice(0, 64 * 1024),
});

/**
 * The outbox as operators see it, read from its Redis store (the same store the producer's replay job
 * drains), so either app can show it and put parked messages back in line.
 */
@Injectable()
export class ConsoleOutbox {
  private readonly store: OutboxStore;

  constructor(@Inject(MESSAGING_REDIS) redis: Redis, @Inject(MESSAGING_SETTINGS) settings: MessagingSettings) {
    this.store = new OutboxStore(redis, settings.names.redisKeyPrefix);
  }

  counts() {
    return this.store.counts();
  }

  async list(state: OutboxView['state'], offset: number, limit: number): Promise<OutboxView[]> {
    return (await this.store.list(state, limit, offset)).map((entry) => view(entry, state));
  }

  /** Parked messages back in line for replay (a fresh attempt budget); how many moved. */
  retry(ids: string[]): Promise<number> {
    return this.store.unpark({ ids });
  }

  /** By message id (exact), else by correlation id within the oldest OUTBOX_SEARCH_WINDOW of each state. */
  async search(term: string): Promise<{ results: OutboxView[]; truncated: boolean }> {
    const found = await this.store.find(term);
    if (found) return { results: [view(found.entry, found.state)], truncated: false };
    const results: OutboxView[] = [];
    let truncated = false;
    for (const state of ['parked', 'pending'] as const) {
      for (let offset = 0; offset < OUTBOX_SEARCH_WINDOW; offset += 1000) {
        const page = await this.store.list(state, 1000, offset);
        results.push(...page.filter((entry) => entry.correlationId === term).map((entry) => view(entry, state)));
        if (page.length < 1000) break;
        if (offset + 1000 >= OUTBOX_SEARCH_WINDOW) truncated = true;
      }
    }
    return { results: results.slice(0, 100), truncated };
  }
}
