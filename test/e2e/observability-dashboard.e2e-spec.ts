import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { load } from 'js-yaml';
import { startApp, stopAll, waitForReady, type AppProcess } from '../support/app-process';
import { getUrl, metricValue, postMessage } from '../support/http';
import { processedCounts } from '../support/processed';
import { appEnv, createTestEnv, type TestEnv } from '../support/test-env';
import { waitFor } from '../support/wait-for';
import { REPO_ROOT } from '../system/support/compose-config';

/**
 * deploy/grafana's dashboard and deploy/prometheus's alerts query only metrics the apps export: every
 * metric name in every PromQL expression is declared (`# TYPE`) on the /metrics of a running producer
 * or consumer (the built dist/, real RabbitMQ and Redis). The dashboard reads the datasource Grafana
 * is provisioned with.
 */
const GRAFANA = resolve(REPO_ROOT, 'deploy', 'grafana');
const QUEUE = 'messaging.consumer';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

const PROMQL_WORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression selects: identifiers that are not functions, keywords, labels or durations. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges and subqueries, Grafana's $__rate_interval included
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names = [...bare.matchAll(/(?<![\w:$.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)].map((match) => match[1]);
  return [...new Set(names.filter((name) => !PROMQL_WORDS.has(name.toLowerCase())))];
}

/** Every sample name a /metrics text can carry: the `# TYPE` families, with a histogram's and a summary's series. */
function exposedNames(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

const dashboard = JSON.parse(readFileSync(resolve(GRAFANA, 'dashboards', 'messaging.json'), 'utf8')) as { uid: string; panels: Panel[] };
const queryPanels = dashboard.panels.filter((panel) => panel.type !== 'row');
const alertRules = (
  load(readFileSync(resolve(REPO_ROOT, 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  }
).groups.flatMap((group) => group.rules);

const BROKER_DEAD_LETTERS = 3;

let env: TestEnv;
let producer: AppProcess;
let consumer: AppProcess;
const exported = { producer: '', consumer: '' };

beforeAll(async () => {
  env = await createTestEnv('observability-dashboard');
  [producer, consumer] = await Promise.all([startApp('producer', appEnv(env)), startApp('consumer', appEnv(env))]);
  await Promise.all([waitForReady(producer), waitForReady(consumer)]);
  const sent = await postMessage(producer.url(''), { type: 'dashboard.check', payload: { n: 1 } });
  expect(sent.status).toBe(202);
  await waitFor(async () => (await processedCounts(env.redis)).get(sent.body.id) === 1, {
    timeoutMs: 15_000,
    description: 'the message processed',
  });
  // Three letters the broker dead-lettered by itself, as it does past a delivery limit: through the
  // dead-letter exchange straight into the DLQ, past every counter of the consumer.
  const amqp = await env.amqp();
  const channel = await amqp.createConfirmChannel();
  for (let n = 0; n < BROKER_DEAD_LETTERS; n++) {
    channel.publish('messaging.dead-letter', QUEUE, Buffer.from(JSON.stringify({ n })), {
      persistent: true,
      messageId: `broker-dead-${n}`,
    });
  }
  await channel.waitForConfirms();
  await amqp.close();
  exported.producer = (await getUrl(producer.url('/metrics'))).body as string;
  exported.consumer = (await getUrl(consumer.url('/metrics'))).body as string;
}, 60_000);

afterAll(async () => {
  await stopAll();
  await env?.cleanup();
});

describe('the metric names of the dashboard and the alerts', () => {
  it('are read from PromQL the way Prometheus reads them (functions, keywords, labels and ranges are not metrics)', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{outcome="x", y=~"b.c"}[$__rate_interval]))) > 1 or absent(up_total{job="c"}) and on (job) c:d offset 5m',
      ),
    ).toEqual(['a_seconds_bucket', 'up_total', 'c:d']);
    expect(metricNames('delta(max(messaging_outbox_pending)[10m:1m]) > 0')).toEqual(['messaging_outbox_pending']);
  });

  it('are all exported by the running apps, for every dashboard panel', () => {
    const names = new Set([...exposedNames(exported.producer), ...exposedNames(exported.consumer)]);
    expect(names.has('messaging_consumed_total') && names.has('messaging_publish_confirm_seconds_bucket')).toBe(true);
    const missing = queryPanels.flatMap((panel) =>
      (panel.targets ?? []).flatMap((target) => {
        const used = metricNames(target.expr);
        return used.length === 0
          ? [`${panel.title}: no metric in ${target.expr}`]
          : used.filter((name) => !names.has(name)).map((name) => `${panel.title}: ${name}`);
      }),
    );
    expect(missing).toEqual([]);
    expect(queryPanels.every((panel) => (panel.targets ?? []).length > 0)).toBe(true);
  });

  it('are all exported by the running apps, for every alert', () => {
    const names = new Set([...exposedNames(exported.producer), ...exposedNames(exported.consumer)]);
    const missing = alertRules.flatMap((rule) => {
      const used = metricNames(rule.expr);
      return used.length === 0
        ? [`${rule.alert}: no metric`]
        : used.filter((name) => !names.has(name)).map((name) => `${rule.alert}: ${name}`);
    });
    expect(missing).toEqual([]);
  });

  it('include the depth of each queue on the consumer (messaging_queue_messages): the DLQ holds the letters no counter saw', () => {
    expect(metricValue(exported.consumer, `messaging_queue_messages{queue="${QUEUE}.dlq",role="dead letters"}`)).toBe(BROKER_DEAD_LETTERS);
    expect(exported.consumer).toContain(`\nmessaging_queue_messages{queue="${QUEUE}",role="work"} 0\n`);
    expect(exported.consumer).toMatch(/^messaging_queue_messages\{queue="[^"]+",role="retry delay"\} 0$/m);
    expect(metricValue(exported.consumer, 'messaging_consumed_total{result="dead_lettered"}')).toBe(0);
    expect(exported.producer).not.toMatch(/^messaging_queue_messages\{/m);
  });

  it('include an active consumer per queue on the consumer (messaging_queue_consumers), and none on the producer', () => {
    expect(metricValue(exported.consumer, `messaging_queue_consumers{queue="${QUEUE}"}`)).toBe(1);
    expect(exported.producer).not.toMatch(/^messaging_queue_consumers\{/m);
  });
});

describe('deploy/grafana', () => {
  it('points every panel at the datasource Grafana is provisioned with, and loads the dashboards folder', () => {
    const datasources = (
      load(readFileSync(resolve(GRAFANA, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as {
        datasources: { uid: string; type: string; url: string }[];
      }
    ).datasources;
    expect(datasources).toEqual([expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' })]);
    const uids = new Set(
      queryPanels.flatMap((panel) => [panel.datasource?.uid, ...(panel.targets ?? []).map((target) => target.datasource?.uid)]),
    );
    expect([...uids]).toEqual(['prometheus']);
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const providers = (
      load(readFileSync(resolve(GRAFANA, 'provisioning', 'dashboards', 'messaging.yml'), 'utf8')) as {
        providers: { options: { path: string } }[];
      }
    ).providers;
    expect(providers.map((provider) => provider.options.path)).toEqual(['/var/lib/grafana/dashboards']);
  });
});
