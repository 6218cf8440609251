import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { load } from 'js-yaml';
import { REPO_ROOT } from '../system/support/compose-config';

/**
 * deploy/prometheus: the alert rules are valid, their unit tests (alerts.test.yml) pass under
 * `promtool test rules`, the Prometheus config that compose starts loads them, and every alert the
 * on-call engineer needs is there with a runbook line and a test that makes it fire.
 * promtool comes with Debian's `prometheus` package (.ci/run installs it when it is missing).
 */
const DIR = resolve(REPO_ROOT, 'deploy', 'prometheus');
const PAGING_ALERTS = [
  'OutboxParked',
  'OutboxPendingGrowing',
  'DeadLettersGrowing',
  'NoConsumerOnQueue',
  'ConfirmLatencyHigh',
  'MessagesRefused',
];

interface AlertRule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleTest {
  alertname: string;
  exp_alerts: unknown[];
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  if (run.error)
    throw new Error(`promtool ${args.join(' ')}: ${run.error.message} (Debian's prometheus package brings it; .ci/run installs it)`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

const readYaml = <T>(file: string) => load(readFileSync(resolve(DIR, file), 'utf8')) as T;
const rules = readYaml<{ groups: { rules: AlertRule[] }[] }>('alerts.yml').groups.flatMap((group) => group.rules);

describe('deploy/prometheus', () => {
  it('has valid alert rules (promtool check rules)', () => {
    const { status, output } = promtool('check', 'rules', 'alerts.yml');
    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
  });

  it('passes the alerts unit tests (promtool test rules alerts.test.yml)', () => {
    const { status, output } = promtool('test', 'rules', 'alerts.test.yml');
    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('has a Prometheus config that scrapes both apps under the jobs the alerts name, and loads the alerts', () => {
    const { status, output } = promtool('check', 'config', 'prometheus.yml');
    expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS: 1 rule files found') });
    const config = readYaml<{ scrape_configs: { job_name: string }[] }>('prometheus.yml');
    expect(config.scrape_configs.map((job) => job.job_name).sort()).toEqual(['consumer', 'producer']);
  });

  it('pages for each condition the on-call engineer needs, each with a summary and a runbook line', () => {
    expect(rules.map((rule) => rule.alert).sort()).toEqual([...PAGING_ALERTS].sort());
    const described = rules.map((rule) => ({
      alert: rule.alert,
      severity: rule.labels?.severity,
      summary: (rule.annotations?.summary ?? '').length > 0,
      runbook: (rule.annotations?.runbook ?? '').length > 40,
    }));
    expect(described).toEqual(rules.map((rule) => ({ alert: rule.alert, severity: 'page', summary: true, runbook: true })));
  });

  it('tests every alert both firing and staying quiet', () => {
    const cases = readYaml<{ tests: { alert_rule_test: RuleTest[] }[] }>('alerts.test.yml').tests.flatMap((test) => test.alert_rule_test);
    const coverage = PAGING_ALERTS.map((alert) => {
      const own = cases.filter((test) => test.alertname === alert);
      return { alert, fires: own.some((test) => test.exp_alerts.length > 0), quiet: own.some((test) => test.exp_alerts.length === 0) };
    });
    expect(coverage).toEqual(PAGING_ALERTS.map((alert) => ({ alert, fires: true, quiet: true })));
  });
});
