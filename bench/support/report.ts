import { readFileSync, writeFileSync } from 'node:fs';
import type { MachineDescription } from './machine';
import { formatMiB } from './stats';

/** A markdown table: a header row and rows of cells. */
export interface Table {
  header: string[];
  rows: string[][];
}

export interface MemoryReading {
  process: string;
  when: string;
  rssBytes?: number;
  peakRssBytes?: number;
}

/** What one benchmark hands to the report. */
export interface BenchSection {
  title: string;
  /** How it was measured, one paragraph. */
  method: string;
  /** The headline table: project, baseline, ratio against the target. */
  table: Table;
  /** Per-round numbers, to show the spread. */
  rounds?: Table;
  /** The heading of `rounds` when it holds something else than rounds (default 'Rounds:'). */
  roundsTitle?: string;
  notes: string[];
  memory: MemoryReading[];
}

export function renderTable(table: Table): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(table.header), line(table.header.map(() => '---')), ...table.rows.map(line)].join('\n');
}

function renderMachine(machine: MachineDescription): string {
  return renderTable({
    header: ['', ''],
    rows: [
      ['date', machine.date],
      ['CPU', `${machine.cpuModel}, ${machine.cores} cores`],
      ['RAM', machine.ram],
      ['OS', machine.os],
      ['Node.js', machine.node],
      ['RabbitMQ', machine.rabbitmq],
      ['Redis', machine.redis],
      ['load average at start (1/5/15 min)', machine.loadAverage],
    ],
  });
}

/** Writes BENCHMARKS.md: machine and date, a section per benchmark, memory, then the findings (a hand-written file). */
export function writeReport(file: string, machine: MachineDescription, sections: BenchSection[], findingsFile: string, took: string): void {
  const memory = sections.flatMap((section) => section.memory);
  const parts = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (${took}); do not edit by hand: the findings at the end come from` +
      ' `bench/findings.md`. Every project/baseline pair is measured back to back in the same run, in' +
      ' alternating order, against the same RabbitMQ and Redis; absolute numbers depend on the machine,' +
      ' the ratios are what the targets are about.',
    '',
    '## Machine',
    '',
    renderMachine(machine),
    '',
    ...sections.flatMap((section) => [
      `## ${section.title}`,
      '',
      section.method,
      '',
      renderTable(section.table),
      '',
      ...(section.rounds ? [section.roundsTitle ?? 'Rounds:', '', renderTable(section.rounds), ''] : []),
      ...section.notes.map((note) => `- ${note}`),
      ...(section.notes.length > 0 ? [''] : []),
    ]),
    '## Memory',
    '',
    'Resident set size of each process right after its benchmark (peak = highest RSS of its life).',
    '',
    renderTable({
      header: ['process', 'after', 'RSS', 'peak RSS'],
      rows: memory.map((m) => [m.process, m.when, formatMiB(m.rssBytes), formatMiB(m.peakRssBytes)]),
    }),
    '',
    readFileSync(findingsFile, 'utf8').trim(),
    '',
  ];
  writeFileSync(file, parts.join('\n'));
}
