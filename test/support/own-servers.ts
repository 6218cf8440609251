import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';
import { processAlive } from './test-env';

/**
 * Book-keeping shared by the servers a suite starts itself (own-rabbitmq.ts, own-redis.ts): each has
 * a directory under RUN_ROOT named after the test process that owns it, holding a `server.pid`. A
 * directory whose owner died (a killed jest run) is reclaimed, server included, by the next start.
 * Every server is also killed when the owning process exits, so a failing suite leaves nothing behind.
 */
export const RUN_ROOT = join(tmpdir(), 'messaging-test-servers');

const running = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const kill of running) kill();
  });
}

/** Registers a synchronous last-resort kill, run when the test process exits; returns its remover. */
export function killAtExit(kill: () => void): () => void {
  installExitHook();
  running.add(kill);
  return () => running.delete(kill);
}

/** A fresh directory for one server of this process: <RUN_ROOT>/<kind>-<label>-<owner pid>-<n>. */
export function serverDirectory(kind: string, label: string): string {
  reclaimOrphans();
  const dir = join(RUN_ROOT, `${kind}-${label.replace(/[^a-z0-9-]/gi, '')}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  return dir;
}

/** Kills the servers of directories whose owning test process is gone, and removes the directories. */
function reclaimOrphans(): void {
  let entries: string[];
  try {
    entries = readdirSync(RUN_ROOT);
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(RUN_ROOT, entry);
    const owner = readNumber(join(dir, 'owner.pid'));
    if (owner !== undefined && (owner === process.pid || processAlive(owner))) continue;
    const server = readNumber(join(dir, 'server.pid'));
    if (server !== undefined && processAlive(server)) killHard(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function readNumber(file: string): number | undefined {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

export function killHard(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * A free port that is not one the RabbitMQ CLI tools take for their own distribution listener
 * (rabbitmqctl listens on 35672-35682, i.e. 25672 + 10000 and up, while it runs).
 */
export async function serverPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 35_600 || port > 35_700) return port;
  }
}

/** Runs a command and resolves with its stdout; rejects with its stderr. */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(
      command,
      args,
      { env: options.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${(stderr || stdout || error.message).trim()}`));
        else resolve(stdout);
      },
    );
  });
}
