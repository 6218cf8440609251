import { startApp, type AppKind, type AppProcess } from '../support/app-process';
import { getUrl, metricValue } from '../support/http';
import { FaultProxy } from '../support/fault-proxy';
import type { OwnServersEnv } from '../support/own-env';
import { appEnv } from '../support/test-env';
import type { FaultEvent, FaultKind } from './chaos-schedule';
import { ServerFaults, type ServerFault } from './server-faults';

/**
 * The system under chaos: producer and consumer instances, each behind a RabbitMQ proxy and a Redis
 * proxy of its own, so a fault can hit one instance or all of them. A killed instance is restarted as a
 * supervisor would (Kubernetes, systemd): again and again until it stays up.
 */
export interface TimelineEntry {
  atMs: number;
  what: string;
}

interface Instance {
  name: string;
  kind: AppKind;
  env: Record<string, string>;
  amqp: FaultProxy;
  redis: FaultProxy;
  app?: AppProcess;
  /** Pids of every process this instance has been, for reading their logs after a failure. */
  logFiles: string[];
  /** Refusals and stalls can overlap; the link heals when the last one ends. */
  refusedAmqp: number;
  refusedRedis: number;
  stalledAmqp: number;
  restarting?: Promise<void>;
}

/** Settings that make faults heal within a short run; everything else is the apps' defaults. */
export const CHAOS_SETTINGS: Record<string, string> = {
  PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
  OUTBOX_REPLAY_INTERVAL_MS: '250',
  OUTBOX_LEASE_MS: '5000',
  OUTBOX_BACKOFF_BASE_MS: '100',
  OUTBOX_BACKOFF_MAX_MS: '2000',
  CONSUMER_RETRY_BASE_DELAY_MS: '200',
  CONSUMER_RETRY_MAX_DELAY_MS: '2000',
  SHUTDOWN_TIMEOUT_MS: '5000',
  RATE_LIMIT_PER_MINUTE: '0',
};

const RESTART_PAUSE_MS = 500;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class ChaosSystem {
  readonly timeline: TimelineEntry[] = [];
  /** Faults carried out, by kind (a kill of an instance that is already down is skipped). */
  readonly injected = new Map<FaultKind, number>();
  private readonly instances = new Map<string, Instance>();
  private stopping = false;
  private readonly serverFaults: ServerFaults;

  private constructor(env: OwnServersEnv) {
    this.serverFaults = new ServerFaults(env);
  }

  private startedAt = Date.now();
  /** The last /metrics text of every process (by pid), read every second: a SIGKILL loses at most a second of counts. */
  private readonly metrics = new Map<number, string>();
  private scraper?: NodeJS.Timeout;

  static async start(env: OwnServersEnv, counts: { producers: number; consumers: number }): Promise<ChaosSystem> {
    const system = new ChaosSystem(env);
    const names = [
      ...Array.from({ length: counts.producers }, (_, i) => ['producer', `producer-${i + 1}`] as const),
      ...Array.from({ length: counts.consumers }, (_, i) => ['consumer', `consumer-${i + 1}`] as const),
    ];
    for (const [kind, name] of names) {
      const amqp = await FaultProxy.start(env.amqpPort, env.amqpHost);
      const redis = await FaultProxy.start(env.redisPort, env.redisHost);
      const instanceEnv = { ...appEnv(env, { amqpPort: amqp.port, redisPort: redis.port }), ...CHAOS_SETTINGS };
      system.instances.set(name, {
        name,
        kind,
        env: instanceEnv,
        amqp,
        redis,
        logFiles: [],
        refusedAmqp: 0,
        refusedRedis: 0,
        stalledAmqp: 0,
      });
    }
    try {
      await Promise.all([...system.instances.values()].map((instance) => system.launch(instance)));
    } catch (error) {
      await system.shutdown();
      throw error;
    }
    system.scraper = setInterval(() => void system.scrapeMetrics(), 1000);
    return system;
  }

  /**
   * A counter summed over every process the run started, e.g. `messaging_consumed_total{result="duplicate"}`.
   * A lower bound: what a process counted in its last second before a SIGKILL is not seen.
   */
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

  /** Base URLs of the producers that are up now (all of them when none is: the client's retries cover it). */
  producerUrls(): string[] {
    const producers = [...this.instances.values()].filter((instance) => instance.kind === 'producer');
    const up = producers.filter((instance) => instance.app !== undefined && !instance.restarting);
    return (up.length > 0 ? up : producers).map((instance) => `http://127.0.0.1:${instance.app?.port ?? 1}`);
  }

  /** The time origin for the timeline: the load's start. */
  markLoadStart(): void {
    this.startedAt = Date.now();
  }

  note(what: string): void {
    this.timeline.push({ atMs: Date.now() - this.startedAt, what });
  }

  /** Carries out one fault; a refusal, stall or restart heals in the background after its duration. */
  inject(event: FaultEvent): Promise<void> | undefined {
    const targets = this.targets(event.target);
    if (!event.kind.startsWith('kill-')) this.count(event.kind);
    switch (event.kind) {
      case 'cut-broker':
        this.note(`cut broker connections of ${event.target}`);
        for (const instance of targets) instance.amqp.cut();
        return undefined;
      case 'cut-redis':
        this.note(`cut Redis connections of ${event.target}`);
        for (const instance of targets) instance.redis.cut();
        return undefined;
      case 'refuse-broker':
        return this.window(
          event,
          targets,
          'refusedAmqp',
          (instance) => instance.amqp.refuse(),
          (instance) => instance.amqp.accept(),
        );
      case 'refuse-redis':
        return this.window(
          event,
          targets,
          'refusedRedis',
          (instance) => instance.redis.refuse(),
          (instance) => instance.redis.accept(),
        );
      case 'stall-broker':
        return this.window(
          event,
          targets,
          'stalledAmqp',
          (instance) => instance.amqp.stall(),
          (instance) => instance.amqp.resume(),
        );
      case 'alarm-broker':
      case 'refuse-redis-writes':
        return this.serverWindow(event, event.kind);
      case 'kill-producer':
      case 'kill-consumer':
        return this.killAndRestart(event.kind, targets[0], event.durationMs);
    }
  }

  private async serverWindow(event: FaultEvent, fault: ServerFault): Promise<void> {
    this.note(`${event.kind} for ${event.durationMs} ms`);
    await this.serverFaults.begin(fault);
    await sleep(event.durationMs);
    await this.serverFaults.end(fault);
    this.note(`${event.kind} healed`);
  }

  private count(kind: FaultKind): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
  }

  /** Every link healed and every instance up, for the drain. */
  async heal(): Promise<void> {
    await this.serverFaults.healAll();
    for (const instance of this.instances.values()) {
      instance.refusedAmqp = instance.refusedRedis = instance.stalledAmqp = 0;
      instance.amqp.accept();
      instance.amqp.resume();
      instance.redis.accept();
    }
    await Promise.all([...this.instances.values()].map((instance) => instance.restarting ?? Promise.resolve()));
    this.note('all links healed');
  }

  /** Graceful SIGTERM of the given kind's instances (producers first at the end of a run: no more replays). */
  async stop(kind: AppKind): Promise<void> {
    const instances = [...this.instances.values()].filter((instance) => instance.kind === kind);
    await Promise.all(instances.map((instance) => instance.restarting ?? Promise.resolve()));
    await this.scrapeMetrics();
    await Promise.all(instances.map((instance) => instance.app?.stop() ?? Promise.resolve()));
    for (const instance of instances) instance.app = undefined;
    this.note(`stopped the ${kind}s (SIGTERM)`);
  }

  /** Starts a stopped instance again (a consumer, to take what the stopped consumers handed back). */
  async restart(name: string): Promise<AppProcess> {
    const instance = this.instances.get(name);
    if (!instance) throw new Error(`no instance ${name}`);
    await this.launch(instance);
    return instance.app as AppProcess;
  }

  /** The instances running now. */
  apps(): AppProcess[] {
    return [...this.instances.values()].flatMap((instance) => (instance.app ? [instance.app] : []));
  }

  logFiles(): string[] {
    return [...this.instances.values()].flatMap((instance) => instance.logFiles);
  }

  /** Kills whatever is still running and closes the proxies. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.scraper);
    await Promise.all([...this.instances.values()].map((instance) => instance.restarting?.catch(() => undefined) ?? Promise.resolve()));
    await Promise.all([...this.instances.values()].map((instance) => instance.app?.kill() ?? Promise.resolve()));
    await Promise.all([...this.instances.values()].flatMap((instance) => [instance.amqp.stop(), instance.redis.stop()]));
  }

  private targets(target: string): Instance[] {
    if (target === 'all') return [...this.instances.values()];
    const instance = this.instances.get(target);
    if (!instance) throw new Error(`no instance ${target}`);
    return [instance];
  }

  private async window(
    event: FaultEvent,
    targets: Instance[],
    counter: 'refusedAmqp' | 'refusedRedis' | 'stalledAmqp',
    begin: (instance: Instance) => void,
    end: (instance: Instance) => void,
  ): Promise<void> {
    this.note(`${event.kind} ${event.target} for ${event.durationMs} ms`);
    for (const instance of targets) {
      instance[counter]++;
      begin(instance);
    }
    await sleep(event.durationMs);
    for (const instance of targets) {
      instance[counter] = Math.max(0, instance[counter] - 1);
      if (instance[counter] === 0) end(instance);
    }
    this.note(`${event.kind} ${event.target} healed`);
  }

  private async killAndRestart(kind: FaultKind, instance: Instance, downMs: number): Promise<void> {
    if (instance.restarting || !instance.app) {
      this.note(`kill ${instance.name} skipped: it is already down`);
      return;
    }
    this.count(kind);
    const restarting = (async () => {
      const pid = instance.app?.pid;
      await instance.app?.kill();
      instance.app = undefined;
      this.note(`SIGKILL ${instance.name} (pid ${pid}), down for ${downMs} ms`);
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

  /** Starts the instance, again after each failed start (a start may fail while its links are down). */
  private async launch(instance: Instance): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        instance.app = await startApp(instance.kind, instance.env);
        instance.logFiles.push(instance.app.logFile);
        this.note(`started ${instance.name} (pid ${instance.app.pid})${attempt > 1 ? ` at attempt ${attempt}` : ''}`);
        return;
      } catch (error) {
        this.note(`start of ${instance.name} failed: ${(error as Error).message.split('\n')[0]}`);
        if (attempt >= 10) throw error;
        await sleep(RESTART_PAUSE_MS);
      }
    }
  }
}
