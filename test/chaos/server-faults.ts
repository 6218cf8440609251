import type { OwnServersEnv } from '../support/own-env';

/**
 * Faults of a whole server of the run's own, as opposed to one app's link: the broker's memory alarm
 * (flow control blocks every publishing connection) and Redis refusing every write (maxmemory of one
 * byte under noeviction: OOM, while reads still answer). Faults of one kind can overlap; the server
 * heals when the last one ends.
 */
export type ServerFault = 'alarm-broker' | 'refuse-redis-writes';

export class ServerFaults {
  private readonly active: Record<ServerFault, number> = { 'alarm-broker': 0, 'refuse-redis-writes': 0 };

  constructor(private readonly env: OwnServersEnv) {}

  /** Raises the fault, or joins one already raised. */
  async begin(fault: ServerFault): Promise<void> {
    if (this.active[fault]++ === 0) await this.set(fault, true);
  }

  /** Lifts the fault once no other of its kind is still on. */
  async end(fault: ServerFault): Promise<void> {
    this.active[fault] = Math.max(0, this.active[fault] - 1);
    if (this.active[fault] === 0) await this.set(fault, false);
  }

  /** Lifts every fault, whatever is still on. */
  async healAll(): Promise<void> {
    for (const fault of Object.keys(this.active) as ServerFault[]) {
      this.active[fault] = 0;
      await this.set(fault, false);
    }
  }

  private async set(fault: ServerFault, on: boolean): Promise<void> {
    if (fault === 'alarm-broker') {
      await this.env.rabbit.setMemoryAlarm(on);
      return;
    }
    if (on) await this.env.redis.config('SET', 'maxmemory-policy', 'noeviction');
    await this.env.redis.config('SET', 'maxmemory', on ? '1' : '0');
  }
}
