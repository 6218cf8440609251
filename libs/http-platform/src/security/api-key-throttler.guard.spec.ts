import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { ThrottlerException, ThrottlerStorageService } from '@nestjs/throttler';
import { ApiKeyThrottlerGuard, apiKeyTracker } from './api-key-throttler.guard';
import { matchApiKey } from './api-key.guard';

const KEY_A = 'key-a-0000-1111-2222';
const KEY_B = 'key-b-3333-4444-5555';
const LIMIT = 2;

class MessagesController {
  send(): void {}
}

describe('apiKeyTracker', () => {
  it("tracks the key's identity (a hash), never the key", () => {
    const id = matchApiKey(KEY_A, [KEY_A, KEY_B])!;
    expect(apiKeyTracker({ apiKeyId: id })).toBe(`api-key:${id}`);
    expect(apiKeyTracker({ apiKeyId: id })).not.toContain(KEY_A);
  });

  it('is undefined without a key, so the caller falls back to the address', () => {
    expect(apiKeyTracker({})).toBeUndefined();
  });
});

describe('ApiKeyThrottlerGuard', () => {
  let storage: ThrottlerStorageService;
  let guard: ApiKeyThrottlerGuard;

  beforeEach(async () => {
    storage = new ThrottlerStorageService();
    guard = new ApiKeyThrottlerGuard({ throttlers: [{ ttl: 60_000, limit: LIMIT }] }, storage, new Reflector());
    await guard.onModuleInit();
  });

  afterEach(() => storage.onApplicationShutdown());

  /** One request through the guard, as ApiKeyGuard leaves it: the key's identity set when one matched. */
  async function allowed(ip: string, key?: string): Promise<boolean> {
    const request = { ip, headers: {}, apiKeyId: key === undefined ? undefined : matchApiKey(key, [KEY_A, KEY_B]) };
    const headers = new Map<string, unknown>();
    const reply = { header: (name: string, value: unknown) => headers.set(name, value) };
    const context = new ExecutionContextHost([request, reply], MessagesController, MessagesController.prototype.send);
    try {
      return await guard.canActivate(context);
    } catch (error) {
      expect(error).toBeInstanceOf(ThrottlerException);
      expect(Number(headers.get('Retry-After'))).toBeGreaterThan(0);
      return false;
    }
  }

  it('gives each API key its own budget behind one address', async () => {
    for (let i = 0; i < LIMIT; i++) expect(await allowed('10.0.0.1', KEY_A)).toBe(true);
    expect(await allowed('10.0.0.1', KEY_A)).toBe(false);
    for (let i = 0; i < LIMIT; i++) expect(await allowed('10.0.0.1', KEY_B)).toBe(true);
    expect(await allowed('10.0.0.1', KEY_B)).toBe(false);
  });

  it('follows a key across addresses', async () => {
    expect(await allowed('10.0.0.1', KEY_A)).toBe(true);
    expect(await allowed('10.0.0.2', KEY_A)).toBe(true);
    expect(await allowed('10.0.0.3', KEY_A)).toBe(false);
  });

  it('counts per address without keys, apart from the keyed budgets', async () => {
    for (let i = 0; i < LIMIT; i++) expect(await allowed('10.0.0.1')).toBe(true);
    expect(await allowed('10.0.0.1')).toBe(false);
    expect(await allowed('10.0.0.2')).toBe(true);
    expect(await allowed('10.0.0.1', KEY_A)).toBe(true);
  });
});
