import { readFileSync } from 'node:fs';
import { placeOf } from './profile-summary';
import { renderTable, type Table } from './report';
import { formatNumber } from './stats';

/** A CPU profile of one side over a phase in which it handled `units` requests or messages. */
export interface ProfiledSide {
  label: string;
  file: string;
  units: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time by place and by function, µs per unit; idle left out. */
function costs(side: ProfiledSide): { places: Map<string, number>; functions: Map<string, number> } {
  const profile = JSON.parse(readFileSync(side.file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const places = new Map<string, number>();
  const functions = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id)!;
    if (frame.functionName === '(idle)') return;
    const us = (profile.timeDeltas[i] ?? 0) / side.units;
    const place = placeOf(frame.url, frame.functionName);
    places.set(place, (places.get(place) ?? 0) + us);
    const file = frame.url.replace(/^.*\/dist[^/]*\/apps\/[^/]+\//, '').replace(/^.*node_modules\//, '');
    const name = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
  });
  return { places, functions };
}

function table(kind: string, sides: ProfiledSide[], maps: Map<string, number>[], top: number): Table {
  const names = new Set(maps.flatMap((map) => [...map.keys()]));
  const first = maps[0];
  const last = maps[maps.length - 1];
  const extra = (name: string) => (first.get(name) ?? 0) - (last.get(name) ?? 0);
  const rows = [...names].sort((a, b) => extra(b) - extra(a)).slice(0, top);
  const total = (map: Map<string, number>) => [...map.values()].reduce((sum, us) => sum + us, 0);
  return {
    header: [kind, ...sides.map((side) => `${side.label} µs`), `${sides[0].label} − ${sides[sides.length - 1].label}`],
    rows: [
      ...rows.map((name) => [`\`${name}\``, ...maps.map((map) => formatNumber(map.get(name) ?? 0, 1)), formatNumber(extra(name), 1)]),
      ['**all busy time**', ...maps.map((map) => formatNumber(total(map), 1)), formatNumber(total(first) - total(last), 1)],
    ],
  };
}

/**
 * Where one side spends more CPU than another, per request (or message): self time by package and by
 * function from each side's profile, divided by what it handled while profiled, sorted by how much
 * more the first side spends than the last. Sampled under the profiler, so the absolute numbers are
 * somewhat above the unprofiled ones; the differences are what it is for.
 */
export function profileDiff(sides: ProfiledSide[], top = 25): { places: Table; functions: Table } {
  const all = sides.map(costs);
  return {
    places: table(
      'package (self time)',
      sides,
      all.map((cost) => cost.places),
      top,
    ),
    functions: table(
      'function (self time)',
      sides,
      all.map((cost) => cost.functions),
      top,
    ),
  };
}

if (require.main === module) {
  // profile-diff.ts label=file.cpuprofile=units ...
  const sides = process.argv.slice(2).map((arg) => {
    const [label, file, units] = arg.split('=');
    return { label, file, units: Number(units) };
  });
  const { places, functions } = profileDiff(sides);
  process.stdout.write(`${renderTable(places)}\n\n${renderTable(functions)}\n`);
}
