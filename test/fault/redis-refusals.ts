/**
 * Ways a Redis server refuses writes in production, each made honestly on a redis-server of the
 * suite's own (never the machine's): start() makes the server refuse every write with its code and
 * checks it does; lift() ends it and checks a write goes through again.
 *   OOM         maxmemory set to half the memory in use, policy noeviction (a full Redis)
 *   MISCONF     a snapshot that cannot be written (its file name taken by a directory) with a save point
 *               configured and stop-writes-on-bgsave-error on (the default): a full or broken disk
 *   NOREPLICAS  min-replicas-to-write 1 and no replica
 *   READONLY    REPLICAOF another server (a demoted primary); lifted by REPLICAOF NO ONE. Becoming a
 *               replica replaces the data set with the other server's (empty): start it before the
 *               messages the test counts.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Redis, { ReplyError } from 'ioredis';
import { waitFor } from '../support/wait-for';

export type RefusalCode = 'OOM' | 'MISCONF' | 'NOREPLICAS' | 'READONLY';

export interface Refusal {
  code: RefusalCode;
  start(): Promise<void>;
  lift(): Promise<void>;
}

const PROBE_KEY = 'refusal-probe';

/** The code a write is refused with right now, or 'ok'. */
export async function writeRefusal(admin: Redis): Promise<string> {
  try {
    await admin.set(PROBE_KEY, '1');
    await admin.del(PROBE_KEY);
    return 'ok';
  } catch (error) {
    if (error instanceof ReplyError) return (error as Error).message.split(' ')[0];
    throw error;
  }
}

async function expectWrites(admin: Redis, wanted: string): Promise<void> {
  await waitFor(async () => (await writeRefusal(admin)) === wanted, { timeoutMs: 10_000, description: `Redis writes to answer ${wanted}` });
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** How many replies the server refused with `code` so far (INFO errorstats counts errors inside scripts too). */
export async function refusedCount(admin: Redis, code: string): Promise<number> {
  const count = new RegExp(`^errorstat_${code}:count=(\\d+)`, 'm').exec(await admin.info('errorstats'))?.[1];
  return Number(count ?? 0);
}

export function refusal(code: RefusalCode, admin: Redis, server: { dir: string }, primary?: { port: number }): Refusal {
  switch (code) {
    case 'OOM':
      return {
        code,
        start: async () => {
          const used = Number(infoField(await admin.info('memory'), 'used_memory'));
          await admin.config('SET', 'maxmemory-policy', 'noeviction');
          await admin.config('SET', 'maxmemory', String(Math.floor(used / 2)));
          await expectWrites(admin, code);
        },
        lift: async () => {
          await admin.config('SET', 'maxmemory', '0');
          await expectWrites(admin, 'ok');
        },
      };
    case 'MISCONF': {
      const snapshot = join(server.dir, 'dump.rdb');
      const lastSave = async () => infoField(await admin.info('persistence'), 'rdb_last_bgsave_status');
      const saveNow = async (wanted: string) => {
        await waitFor(async () => infoField(await admin.info('persistence'), 'rdb_bgsave_in_progress') === '0', {
          timeoutMs: 10_000,
          description: 'no snapshot in progress',
        });
        await admin.bgsave();
        await waitFor(async () => (await lastSave()) === wanted, { timeoutMs: 10_000, description: `a snapshot with status ${wanted}` });
      };
      return {
        code,
        start: async () => {
          rmSync(snapshot, { recursive: true, force: true });
          mkdirSync(join(snapshot, 'taken'), { recursive: true });
          await admin.config('SET', 'save', '3600 1');
          await admin.config('SET', 'stop-writes-on-bgsave-error', 'yes');
          await saveNow('err');
          await expectWrites(admin, code);
        },
        lift: async () => {
          rmSync(snapshot, { recursive: true, force: true });
          await saveNow('ok');
          await admin.config('SET', 'save', '');
          await expectWrites(admin, 'ok');
        },
      };
    }
    case 'NOREPLICAS':
      return {
        code,
        start: async () => {
          await admin.config('SET', 'min-replicas-to-write', '1');
          await expectWrites(admin, code);
        },
        lift: async () => {
          await admin.config('SET', 'min-replicas-to-write', '0');
          await expectWrites(admin, 'ok');
        },
      };
    case 'READONLY':
      if (!primary) throw new Error('READONLY needs another server to follow');
      return {
        code,
        start: async () => {
          await admin.replicaof('127.0.0.1', primary.port);
          await waitFor(async () => infoField(await admin.info('replication'), 'master_link_status') === 'up', {
            timeoutMs: 10_000,
            description: 'the demoted server to follow its new primary',
          });
          await expectWrites(admin, code);
        },
        lift: async () => {
          await admin.replicaof('NO', 'ONE');
          await expectWrites(admin, 'ok');
        },
      };
  }
}
