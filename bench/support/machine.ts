import { cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import { readFileSync } from 'node:fs';
import type Redis from 'ioredis';
import { rabbitmqctl } from '../../test/support/rabbitmqctl';

export interface MachineDescription {
  date: string;
  cpuModel: string;
  cores: number;
  ram: string;
  os: string;
  node: string;
  rabbitmq: string;
  redis: string;
  loadAverage: string;
}

function osName(): string {
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    if (pretty) return `${pretty} (${osType()} ${release()})`;
  } catch {
    // not Linux
  }
  return `${osType()} ${release()}`;
}

async function rabbitmqVersion(): Promise<string> {
  try {
    const status = await rabbitmqctl('status', '--formatter', 'json');
    const parsed = JSON.parse(status.slice(status.indexOf('{'))) as { rabbitmq_version?: string; erlang_version?: string };
    const erlang = parsed.erlang_version ? `, ${parsed.erlang_version.replace(/ \[.*$/, '')}` : '';
    return `${parsed.rabbitmq_version ?? 'unknown'}${erlang}`;
  } catch (error) {
    return `unknown (${(error as Error).message.split('\n')[0]})`;
  }
}

async function redisVersion(redis: Redis): Promise<string> {
  const info = await redis.info('server');
  return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
}

/** The machine the numbers were taken on, and when. */
export async function describeMachine(redis: Redis): Promise<MachineDescription> {
  const processors = cpus();
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    cores: processors.length,
    ram: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: osName(),
    node: process.version,
    rabbitmq: await rabbitmqVersion(),
    redis: await redisVersion(redis),
    loadAverage: loadavg()
      .map((load) => load.toFixed(2))
      .join(' / '),
  };
}
