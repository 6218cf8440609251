import { matchApiKey } from '@app/http-platform';
import type { MessagingSettings } from '@app/messaging/config';
import { ThrottlerStorageService } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { AccessRefused, SendAccess, type Admission } from './send-access';

const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';

function accessWith(apiKeys: string[], rateLimitPerMinute: number) {
  const storage = new ThrottlerStorageService();
  const settings = { security: { apiKeys, rateLimitPerMinute } } as unknown as MessagingSettings;
  return { access: new SendAccess(settings, storage), storage };
}

const request = (headers: Record<string, string> = {}, ip = '10.0.0.1') => ({ headers, ip }) as unknown as FastifyRequest;

/** What admit gives, sync or not; a refusal comes back as the AccessRefused. */
async function admitted(access: SendAccess, req: FastifyRequest): Promise<Admission | AccessRefused> {
  try {
    return await access.admit(req);
  } catch (error) {
    if (error instanceof AccessRefused) return error;
    throw error;
  }
}

describe('SendAccess', () => {
  let storages: ThrottlerStorageService[] = [];
  const make = (apiKeys: string[], limit: number) => {
    const made = accessWith(apiKeys, limit);
    storages.push(made.storage);
    return made.access;
  };
  afterEach(() => {
    for (const storage of storages) storage.onApplicationShutdown();
    storages = [];
  });

  it('admits at once, without a promise, when neither API keys nor a rate limit are set', () => {
    const admission = make([], 0).admit(request());
    expect(admission).not.toBeInstanceOf(Promise);
    expect(admission).toEqual({ headers: [] });
  });

  it('refuses a request without a valid key with 401 when API keys are set, and keeps the key identity of a valid one', () => {
    const access = make([KEY_A], 0);
    expect(() => access.admit(request())).toThrow(AccessRefused);
    expect(() => access.admit(request({ 'x-api-key': 'wrong' }))).toThrow(/a valid API key is required/);
    const admission = access.admit(request({ authorization: `Bearer ${KEY_A}` })) as Admission;
    expect(admission.apiKeyId).toBe(matchApiKey(KEY_A, [KEY_A]));
    try {
      void access.admit(request());
    } catch (error) {
      expect((error as AccessRefused).status).toBe(401);
    }
  });

  it('counts per client address without keys: the request over the limit is a 429 with Retry-After; the headers count down', async () => {
    const access = make([], 2);
    const first = (await admitted(access, request())) as Admission;
    expect(first.headers).toEqual(['x-ratelimit-limit', '2', 'x-ratelimit-remaining', '1', 'x-ratelimit-reset', expect.any(String)]);
    const second = (await admitted(access, request())) as Admission;
    expect(second.headers[3]).toBe('0');
    const third = await admitted(access, request());
    expect(third).toBeInstanceOf(AccessRefused);
    expect((third as AccessRefused).status).toBe(429);
    const [name, seconds] = (third as AccessRefused).headers;
    expect(name).toBe('retry-after');
    expect(Number(seconds)).toBeGreaterThanOrEqual(1);
    expect(Number(seconds)).toBeLessThanOrEqual(60);
    // Another address has its own budget.
    expect(await admitted(access, request({}, '10.0.0.2'))).not.toBeInstanceOf(AccessRefused);
  });

  it('counts per API key when keys are set: two keys from one address each have the whole budget', async () => {
    const access = make([KEY_A, KEY_B], 1);
    expect(await admitted(access, request({ 'x-api-key': KEY_A }))).not.toBeInstanceOf(AccessRefused);
    expect(await admitted(access, request({ 'x-api-key': KEY_A }))).toBeInstanceOf(AccessRefused);
    const b = (await admitted(access, request({ 'x-api-key': KEY_B }))) as Admission;
    expect(b.apiKeyId).toBe(matchApiKey(KEY_B, [KEY_A, KEY_B]));
  });

  it('checks the key before counting: a request without a valid key does not use up the budget', async () => {
    const access = make([KEY_A], 1);
    for (let i = 0; i < 3; i++) expect(((await admitted(access, request())) as AccessRefused).status).toBe(401);
    expect(await admitted(access, request({ 'x-api-key': KEY_A }))).not.toBeInstanceOf(AccessRefused);
  });
});
