import { readFileSync } from 'node:fs';

/** The parts of a V8 .cpuprofile read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  name: string;
  /** Share of all samples, 0..1. */
  share: number;
}

export interface ProfileSummary {
  /** Self time by function (file:line). */
  functions: HotSpot[];
  /** Self time by where the code lives: a package under node_modules, node's own code, the project, GC, idle. */
  places: HotSpot[];
  /** Inclusive time of functions whose name matches one of the given patterns. */
  inclusive: HotSpot[];
}

export function placeOf(url: string, functionName: string): string {
  if (functionName === '(garbage collector)') return '(gc)';
  if (functionName === '(idle)' || functionName === '(program)') return functionName;
  if (url === '') return '(native)';
  if (/\/dist[^/]*\/apps\//.test(url)) return '(project)';
  if (url.includes('/bench/')) return '(bench script)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return '(node core)';
  return url;
}

/** Sums a .cpuprofile: where the process spent its time. */
export function summarizeProfile(file: string, top = 25, inclusivePatterns: RegExp[] = []): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + delta);
    total += delta;
  });

  const functions = new Map<string, number>();
  const places = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, time] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.replace(/^.*\/dist[^/]*\/apps\//, 'dist/apps/').replace(/^.*node_modules\//, '');
    const name = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + time);
    const place = placeOf(url, functionName);
    places.set(place, (places.get(place) ?? 0) + time);
    // Inclusive: every matching frame on the stack counts once per sample.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame.functionName;
      for (const pattern of inclusivePatterns) {
        if (pattern.test(frame) && !seen.has(pattern.source)) {
          seen.add(pattern.source);
          inclusive.set(pattern.source, (inclusive.get(pattern.source) ?? 0) + time);
        }
      }
    }
  }
  const ranked = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, time]) => ({ name, share: time / total }));
  return { functions: ranked(functions), places: ranked(places), inclusive: ranked(inclusive) };
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  const summary = summarizeProfile(file, Number(top ?? 30));
  const print = (title: string, spots: HotSpot[]) => {
    process.stdout.write(`\n${title}\n`);
    for (const spot of spots) process.stdout.write(`${(spot.share * 100).toFixed(1).padStart(5)}%  ${spot.name}\n`);
  };
  print('self time by place', summary.places);
  print('self time by function', summary.functions);
}
