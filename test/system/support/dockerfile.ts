import { readFileSync } from 'node:fs';

/** The stage of a Dockerfile that an image is built to (the last one), as far as running it needs. */
export interface DockerfileStage {
  name?: string;
  /** ENV of this stage, in order (later wins). */
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  expose: number[];
  /** CMD in exec form (the shell form becomes `/bin/sh -c <command>`, as Docker runs it). */
  cmd?: string[];
  /** Every instruction line of the stage (continuations joined), for checks on what it copies. */
  instructions: string[];
}

/** Joins `\`-continued lines and drops comments and blank lines. */
function instructionsOf(text: string): string[] {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push((current + line).trim());
    current = '';
  }
  if (current.trim() !== '') lines.push(current.trim());
  return lines;
}

const unquote = (value: string) => (/^"(.*)"$/.test(value) || /^'(.*)'$/.test(value) ? value.slice(1, -1) : value);

function parseEnv(argument: string, into: Record<string, string>): void {
  if (!argument.includes('=')) {
    // Legacy form: ENV NAME value with spaces
    const [name, ...rest] = argument.split(/\s+/);
    into[name] = rest.join(' ');
    return;
  }
  for (const pair of argument.match(/[^\s=]+=("[^"]*"|'[^']*'|\S*)/g) ?? []) {
    const at = pair.indexOf('=');
    into[pair.slice(0, at)] = unquote(pair.slice(at + 1));
  }
}

function execForm(argument: string): string[] {
  const trimmed = argument.trim();
  if (trimmed.startsWith('[')) return (JSON.parse(trimmed) as unknown[]).map(String);
  return ['/bin/sh', '-c', trimmed];
}

/** Parses the last stage of the Dockerfile at `path`. */
export function finalStage(path: string): DockerfileStage {
  let stage: DockerfileStage | undefined;
  for (const instruction of instructionsOf(readFileSync(path, 'utf8'))) {
    const [keyword, ...rest] = instruction.split(/\s+/);
    const argument = instruction.slice(keyword.length).trim();
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const as = rest.findIndex((word) => word.toUpperCase() === 'AS');
      stage = { name: as >= 0 ? rest[as + 1] : undefined, env: {}, expose: [], instructions: [] };
    }
    if (stage === undefined) continue;
    stage.instructions.push(instruction);
    if (upper === 'ENV') parseEnv(argument, stage.env);
    if (upper === 'WORKDIR') stage.workdir = argument;
    if (upper === 'USER') stage.user = argument;
    if (upper === 'EXPOSE') stage.expose.push(...rest.map((port) => Number(port.split('/')[0])));
    if (upper === 'CMD') stage.cmd = execForm(argument);
  }
  if (stage === undefined) throw new Error(`${path} has no FROM`);
  return stage;
}
