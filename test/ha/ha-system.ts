import { startApp, type AppKind, type AppProcess } from '../support/app-process';
import { getUrl, metricValue } from '../support/http';
import { CHAOS_SETTINGS, type TimelineEntry } from '../chaos/chaos-system';
import type { HaDeployment } from './ha-deployment';

/**
 * The apps of an HA run: producer and consumer instances on the cluster and the Sentinel-watched
 * Redis, with no proxy in between (the faults are crashes of servers and apps). A killed instance is
 * restarted as a supervisor would, again and again until it stays up.
 */
interface Instance {
  name: string;
  kind: AppKind;
  env: Record<string, string>;
  app?: AppProcess;
  logFiles: string[];
  restarting?: Promise<void>;
}

/** The chaos settings (faults heal within a short run), plus replicated Redis writes. */
export const HA_SETTINGS: Record<string, string> = {
  ...CHAOS_SETTINGS,
  REDIS_MIN_REPLICA_ACKS: '1',
  REDIS_REPLICA_ACK_TIMEOUT_MS: '500',
};

const RESTART_PAUSE_MS = 500;
const START_ATTEMPTS = 20;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class HaSystem {
  readonly timeline: TimelineEntry[] = [];
  private readonly instances = new Map<string, Instance>();
  private stopping = false;
  private startedAt = Date.now();
  /** The last /metrics text of every process (by pid), read every second. */
  private readonly metrics = new Map<number, string>();
  private scraper?: NodeJS.Timeout;

  private constructor() {}

  static async start(deployment: HaDeployment, counts: { producers: number; consumers: number }): Promise<HaSystem> {
    const system = new HaSystem();
    const names = [
      ...Array.from({ length: counts.producers }, (_, i) => ['producer', `producer-${i + 1}`] as const),
      ...Array.from({ length: counts.consumers }, (_, i) => ['consumer', `consumer-${i + 1}`] as const),
    ];
    names.forEach(([kind, name], n) => {
      const env = {
        RABBITMQ_URL: deployment.rabbitmqUrl(n),
        REDIS_URL: deployment.appRedisUrl,
        LOG_LEVEL: 'warn',
        ...HA_SETTINGS,
      };
      system.instances.set(name, { name, kind, env, logFiles: [] });
    });
    try {
      await Promise.all([...system.instances.values()].map((instance) => system.launch(instance)));
    } catch (error) {
      await system.shutdown();
      throw error;
    }
    system.scraper = setInterval(() => void system.scrapeMetrics(), 1000);
    return system;
  }

  /** A counter summed over every process of the run (a lower bound: a SIGKILL loses up to a second). */
  counted(sample: string): number {
    let sum = 0;
    for (const text of this.metrics.values()) sum += metricValue(text, sample);
    return sum;
  }

  private async scrapeMetrics(): Promise<void> {
    await Promise.all(
      this.apps().map(async (app) => {
        const response = await getUrl(app.url('/metrics'));
        if (response.status === 200 && typeof response.body === 'string') this.metrics.set(app.pid, response.body);
      }),
    );
  }

  /** Base URLs of the producers that are up now (all of them when none is: the clients' retries cover it). */
  producerUrls(): string[] {
    const producers = this.ofKind('producer');
    const up = producers.filter((instance) => instance.app !== undefined && !instance.restarting);
    return (up.length > 0 ? up : producers).map((instance) => `http://127.0.0.1:${instance.app?.port ?? 1}`);
  }

  /** The time origin of the timeline from now on; what was noted before gets negative times. */
  markLoadStart(): void {
    const now = Date.now();
    for (const entry of this.timeline) entry.atMs -= now - this.startedAt;
    this.startedAt = now;
  }

  /** Milliseconds since the load started. */
  now(): number {
    return Date.now() - this.startedAt;
  }

  note(what: string): void {
    this.timeline.push({ atMs: this.now(), what });
  }

  /** The running apps of a kind (all kinds when none is given). */
  apps(kind?: AppKind): AppProcess[] {
    return [...this.instances.values()]
      .filter((instance) => kind === undefined || instance.kind === kind)
      .flatMap((instance) => (instance.app ? [instance.app] : []));
  }

  count(kind: AppKind): number {
    return this.ofKind(kind).length;
  }

  logFiles(): string[] {
    return [...this.instances.values()].flatMap((instance) => instance.logFiles);
  }

  /** SIGKILLs an instance and restarts it after `downMs`; resolves once it is up again. */
  async killAndRestart(name: string, downMs: number): Promise<void> {
    const instance = this.instance(name);
    if (instance.restarting || !instance.app) {
      this.note(`kill ${name} skipped: it is already down`);
      return;
    }
    const restarting = (async () => {
      const pid = instance.app?.pid;
      await instance.app?.kill();
      instance.app = undefined;
      this.note(`SIGKILL ${name} (pid ${pid}), down for ${downMs} ms`);
      await sleep(downMs);
      await this.launch(instance);
    })();
    instance.restarting = restarting;
    try {
      await restarting;
    } finally {
      instance.restarting = undefined;
    }
  }

  /** Graceful SIGTERM of the given kind's instances. */
  async stop(kind: AppKind): Promise<void> {
    const instances = this.ofKind(kind);
    await Promise.all(instances.map((instance) => instance.restarting ?? Promise.resolve()));
    await this.scrapeMetrics();
    await Promise.all(instances.map((instance) => instance.app?.stop() ?? Promise.resolve()));
    for (const instance of instances) instance.app = undefined;
    this.note(`stopped the ${kind}s (SIGTERM)`);
  }

  /** Starts a stopped instance again. */
  async restart(name: string): Promise<void> {
    await this.launch(this.instance(name));
  }

  /** Waits for instances being restarted. */
  async settled(): Promise<void> {
    await Promise.all([...this.instances.values()].map((instance) => instance.restarting?.catch(() => undefined) ?? Promise.resolve()));
  }

  /** Kills whatever still runs. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.scraper);
    await this.settled();
    await Promise.all([...this.instances.values()].map((instance) => instance.app?.kill() ?? Promise.resolve()));
  }

  private ofKind(kind: AppKind): Instance[] {
    return [...this.instances.values()].filter((instance) => instance.kind === kind);
  }

  private instance(name: string): Instance {
    const instance = this.instances.get(name);
    if (!instance) throw new Error(`no instance ${name}`);
    return instance;
  }

  /** Starts the instance, again after each failed start (a start may fail while a node is down). */
  private async launch(instance: Instance): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        instance.app = await startApp(instance.kind, instance.env, { healthTimeoutMs: 30_000 });
        instance.logFiles.push(instance.app.logFile);
        this.note(`started ${instance.name} (pid ${instance.app.pid})${attempt > 1 ? ` at attempt ${attempt}` : ''}`);
        return;
      } catch (error) {
        this.note(`start of ${instance.name} failed: ${(error as Error).message.split('\n')[0]}`);
        if (attempt >= START_ATTEMPTS) throw error;
        await sleep(RESTART_PAUSE_MS);
      }
    }
  }
}
