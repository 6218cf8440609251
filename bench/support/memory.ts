import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** Highest resident set size so far (VmHWM), bytes. */
  peakRssBytes: number;
}

/** A running process's memory from /proc (Linux); undefined elsewhere or once it has exited. */
export function memoryOf(pid: number): ProcessMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
    return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time (user + system) a running process has used so far, in ms, from /proc (Linux; 10 ms
 * resolution); NaN elsewhere. Taken before and after a round, it tells the CPU each side spent per
 * message, which other load on the machine disturbs far less than it disturbs throughput.
 */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (2nd field) may hold spaces; the fields after its closing parenthesis do not.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}
