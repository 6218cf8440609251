import { MESSAGING_SETTINGS, MessagingMetrics, type MessagingSettings } from '@app/messaging';
import { Inject, Injectable } from '@nestjs/common';
import { parsePrometheusText, sumOf, type MetricSample } from './prometheus-text';

/** How long the console waits for the peer's /metrics. */
const PEER_TIMEOUT_MS = 2000;

export interface CounterSource {
  name: string;
  ok: boolean;
  error?: string;
}

export interface Counters {
  accepted: number;
  processed: number;
  duplicates: number;
  retried: number;
  deadLettered: number;
  /** Where the numbers come from: this app's own metrics, and the peer's when CONSOLE_PEER_URL is set. */
  sources: CounterSource[];
}

/**
 * The live counters, summed over this app's own metrics registry and the peer app's GET /metrics
 * (CONSOLE_PEER_URL). Each process counts only its own side (the producer what it accepted, the
 * consumer what it processed), so the sum over the two is the system as these two processes saw it
 * since they started; with several replicas, each console sees its own and its one peer.
 */
@Injectable()
export class ConsoleCounters {
  constructor(
    private readonly metrics: MessagingMetrics,
    @Inject(MESSAGING_SETTINGS) private readonly settings: MessagingSettings,
  ) {}

  async read(): Promise<Counters> {
    const own = parsePrometheusText(await this.metrics.render());
    const sources: CounterSource[] = [{ name: 'this app', ok: true }];
    const samples: MetricSample[] = [...own];
    const peer = this.settings.console.peerUrl;
    if (peer === undefined) {
      sources.push({
        name: 'peer app',
        ok: false,
        error: 'not configured: set CONSOLE_PEER_URL to the other app, e.g. http://consumer:3001',
      });
    } else {
      try {
        samples.push(...parsePrometheusText(await this.fetchPeer(`${peer}/metrics`)));
        sources.push({ name: peer, ok: true });
      } catch (error) {
        sources.push({ name: peer, ok: false, error: (error as Error).message });
      }
    }
    const consumed = (result: string) => sumOf(samples, 'messaging_consumed_total', { result });
    return {
      accepted: sumOf(samples, 'messaging_messages_accepted_total'),
      processed: consumed('processed'),
      duplicates: consumed('duplicate'),
      retried: consumed('retried'),
      deadLettered: consumed('dead_lettered'),
      sources,
    };
  }

  private async fetchPeer(url: string): Promise<string> {
    const key = this.settings.security.apiKeys[0];
    const response = await fetch(url, { signal: AbortSignal.timeout(PEER_TIMEOUT_MS), headers: key ? { 'x-api-key': key } : {} });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return response.text();
  }
}
