import { readFileSync } from 'node:fs';
import { sleep } from './stats';

/** The machine's busiest share of CPU, over one window, that counts as quiet. */
const QUIET_SHARE = 0.2;
const WINDOW_MS = 250;
const MAX_WAIT_MS = 10_000;

/** Jiffies of all cores from /proc/stat: busy (user, nice, system, irq, softirq) and all but steal. */
function cpuJiffies(): { busy: number; total: number } {
  const [user, nice, system, idle, iowait, irq, softirq] = readFileSync('/proc/stat', 'utf8')
    .split('\n', 1)[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy, total: busy + idle + iowait };
}

/**
 * Waits until the whole machine has been quiet (under a fifth of its CPU busy) for one 250 ms window,
 * at most 10 s, and returns how long that took. The drain's stalled project rounds all came right
 * after a baseline round; if the broker's work after that burst (a purge, its log written to segment
 * files) is the cause, this keeps it out of the next side's clock, and the rounds table shows the wait.
 */
export async function untilMachineQuiet(): Promise<number> {
  const started = performance.now();
  let last = cpuJiffies();
  while (performance.now() - started < MAX_WAIT_MS) {
    await sleep(WINDOW_MS);
    const now = cpuJiffies();
    const share = (now.busy - last.busy) / Math.max(1, now.total - last.total);
    last = now;
    if (share < QUIET_SHARE) break;
  }
  return performance.now() - started;
}
