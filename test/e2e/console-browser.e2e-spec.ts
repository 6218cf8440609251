/**
 * The operator console in a real browser (Debian's headless Chromium driven by playwright-core)
 * against both running apps on one vhost and Redis database, with API_KEYS set: the key prompt, a
 * dead letter found in its group and retried from the page (processed once), a parked outbox
 * message retried from the page (processed once), search, counters that are the apps' own metrics,
 * a phone-size viewport, keyboard use, no console errors and no request leaving the host.
 *
 * The dead letters are real: the reference handler's XADD fails with WRONGTYPE while its stream key
 * holds a string (a handler failure, retried, then dead-lettered); deleting that key is "the fix".
 * CONSOLE_SCREENSHOTS=<dir> also writes the README's screenshots there.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createEnvelope, toWireMessage } from '@app/messaging/envelope';
import { OutboxStore } from '@app/messaging/outbox';
import { startApp, stopAll, type AppProcess } from '../support/app-process';
import { openBrowser, type TestBrowser } from '../support/browser';
import { getUrl, metricValue, postMessage } from '../support/http';
import { processedCounts } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';

const KEY = `console-key-${randomUUID()}`;
const STREAM = 'messaging:processed';
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS;

describe('operator console in a browser', () => {
  let env: TestEnv;
  let producer: AppProcess;
  let consumer: AppProcess;
  let browser: TestBrowser;

  const shot = async (name: string) => {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await browser.page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  };
  const unlock = async () => {
    await browser.page.getByLabel('API key', { exact: true }).fill(KEY);
    await browser.page.getByRole('button', { name: 'Open the console' }).click();
    await browser.page.locator('#main').waitFor({ state: 'visible' });
  };
  const processedOnce = (id: string) =>
    waitFor(async () => (await processedCounts(env.redis)).get(id) === 1, { timeoutMs: 20_000, description: `${id} processed` });

  beforeAll(async () => {
    env = await createTestEnv('console-browser');
    const common = {
      ...appEnv(env),
      API_KEYS: KEY,
      CONSUMER_MAX_ATTEMPTS: '2',
      CONSUMER_RETRY_BASE_DELAY_MS: '100',
      CONSUMER_RETRY_MAX_DELAY_MS: '100',
      OUTBOX_REPLAY_INTERVAL_MS: '200',
    };
    consumer = await startApp('consumer', common, { ready: true });
    producer = await startApp('producer', { ...common, CONSOLE_PEER_URL: `http://127.0.0.1:${consumer.port}` });
    browser = await openBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await stopAll();
    await env?.cleanup();
  });

  it('asks for a key, and shows nothing but the prompt without one', async () => {
    const { page } = browser;
    await page.goto(producer.url('/console'));
    await page.locator('#key-prompt').waitFor({ state: 'visible' });
    expect(await page.locator('#main').isHidden()).toBe(true);
    expect((await getUrl(producer.url('/console/api/overview'))).status).toBe(401);
    await shot('key-prompt');

    await page.getByLabel('API key', { exact: true }).fill('not-the-right-key-at-all');
    await page.getByRole('button', { name: 'Open the console' }).click();
    await expect(page.locator('#key-error').textContent()).resolves.toBeDefined();
    await waitFor(async () => (await page.locator('#key-error').textContent())?.includes('refused'), {
      timeoutMs: 5000,
      description: 'refusal',
    });
    expect(await page.locator('#main').isHidden()).toBe(true);

    await unlock();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(1);
    await page.locator('[data-counter="accepted"]').waitFor();
  });

  it('shows a dead letter in its group, finds it by correlation id, and retries it from the page: processed once', async () => {
    const { page } = browser;
    await env.redis.set(STREAM, 'a string, so the handler effect fails with WRONGTYPE');
    const correlationId = `order-${randomUUID()}`;
    const sent = await postMessage(
      producer.url(''),
      { type: 'order.created', payload: { orderId: 42, lines: [{ sku: 'A-1', qty: 2 }] } },
      {
        'x-api-key': KEY,
        'x-correlation-id': correlationId,
      },
    );
    expect(sent.status).toBe(202);
    const id = (sent.body as { id: string }).id;

    const group = page.locator('[data-group]', { hasText: 'order.created' });
    await group.waitFor({ timeout: 20_000 });
    await expect(group.textContent()).resolves.toContain('WRONGTYPE');
    await env.redis.del(STREAM); // the fix is deployed

    await page.getByLabel('Message id or correlation id').fill(correlationId);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator(`[data-found-letter="${id}"]`).waitFor();

    await group.getByRole('button', { name: /^Open/ }).click();
    await page.locator(`[data-letter="${id}"]`).waitFor();
    await shot('dead-letter-group');
    await page
      .locator(`[data-letter="${id}"]`)
      .getByRole('button', { name: `Show ${id}` })
      .click();
    await page.locator('#letter-panel').waitFor({ state: 'visible' });
    await expect(page.locator('#letter-fields').textContent()).resolves.toContain(correlationId);
    await expect(page.locator('#letter-body').textContent()).resolves.toContain('"orderId": 42');
    await shot('dead-letter');

    // By keyboard: the retry button, then Tab from Cancel to Confirm in the dialog.
    await page.locator('#retry-letter').focus();
    await page.keyboard.press('Enter');
    await page.locator('#confirm').waitFor({ state: 'visible' });
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await page.locator('#report').textContent())?.includes('Retried 1 dead letter'), {
      timeoutMs: 10_000,
      description: 'retry report',
    });
    await processedOnce(id);
    await page.getByText('No dead letters.').waitFor({ timeout: 10_000 });
  });

  it('retries a parked outbox message from the page (served by the consumer): processed once', async () => {
    const { page } = browser;
    const wire = toWireMessage(createEnvelope('invoice.sent', { invoice: 7 }), 'invoice-7');
    const outbox = new OutboxStore(env.redis, 'messaging');
    await outbox.store(wire, 'test', 60_000);
    await outbox.recordFailures([{ id: wire.id, delayMs: 0, counts: true, error: 'nacked by the broker (test)' }], {
      maxAttempts: 1,
      maxAgeMs: 86_400_000,
    });

    await page.goto(consumer.url('/console'));
    await unlock();
    const row = page.locator(`[data-outbox="${wire.id}"]`);
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain('nacked by the broker (test)');
    await shot('outbox-parked');
    await row.getByRole('button', { name: `Retry ${wire.id}` }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await waitFor(async () => (await page.locator('#report').textContent())?.includes('Put 1 parked message'), {
      timeoutMs: 10_000,
      description: 'outbox retry report',
    });
    await processedOnce(wire.id);
  });

  it("shows counters that are the two apps' own metrics", async () => {
    const { page } = browser;
    const [producerMetrics, consumerMetrics] = await Promise.all([getUrl(producer.url('/metrics')), getUrl(consumer.url('/metrics'))]);
    const sample = (text: unknown, name: string) => metricValue(String(text), name);
    const accepted = sample(producerMetrics.body, 'messaging_messages_accepted_total{status="published"}');
    const processed = sample(consumerMetrics.body, 'messaging_consumed_total{result="processed"}');
    expect(accepted).toBeGreaterThan(0);
    // This page is the consumer's; its peer is not configured, so only the consumer's side is counted and it says so.
    await waitFor(async () => (await page.locator('[data-counter="processed"]').textContent()) === String(processed), {
      timeoutMs: 10_000,
      description: 'processed counter',
    });
    await expect(page.locator('#counter-sources').textContent()).resolves.toContain('not configured');
    // The producer's page has the consumer as its peer: both sides.
    await page.goto(producer.url('/console'));
    await page.locator('#main').waitFor({ state: 'visible' });
    await waitFor(async () => (await page.locator('[data-counter="accepted"]').textContent()) === String(accepted), {
      timeoutMs: 10_000,
      description: 'accepted counter',
    });
    await waitFor(async () => (await page.locator('[data-counter="processed"]').textContent()) === String(processed), {
      timeoutMs: 10_000,
      description: 'processed counter from the peer',
    });
    await shot('overview');
  });

  it('is usable on a phone-size viewport, with every control labelled', async () => {
    const { page } = browser;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('[data-counter="accepted"]').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    const unlabelled = await page.evaluate(
      () =>
        Array.from(document.querySelectorAll('button, input')).filter((control) => {
          const input = control as HTMLInputElement;
          const label = control.getAttribute('aria-label') ?? control.textContent?.trim() ?? '';
          return label === '' && (input.labels?.length ?? 0) === 0;
        }).length,
    );
    expect(unlabelled).toBe(0);
    await shot('phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('logged no console errors and made no request outside the app', () => {
    // The prompt's refused calls are the only expected ones: the browser logs each 401 it received.
    expect(browser.errors.filter((error) => !error.includes('status of 401'))).toEqual([]);
    const origins = new Set(browser.requests.map((url) => new URL(url).origin));
    expect([...origins].sort()).toEqual([`http://127.0.0.1:${consumer.port}`, `http://127.0.0.1:${producer.port}`].sort());
  });
});
