// Reads a V8 .cpuprofile (what `node --cpu-prof` writes) and says where the time went: self time
// per function and per area of the code, restricted to a time window (the pgbench run).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRun {
  /** What drove the gateway, e.g. `pgbench -S -M simple -c 16`. */
  load: string;
  /** Transactions (or logins) per second achieved while profiled. */
  rate: number;
  unit: 'tps' | 'logins/s';
  /** Share of samples in the window that were not (idle). */
  busyPct: number;
  areas: { area: string; pct: number }[];
  top: { fn: string; where: string; pct: number }[];
}

export interface ProfileReport {
  startedAt: string;
  peer: string;
  seconds: number;
  runs: ProfileRun[];
}

const ROOT = new URL('..', import.meta.url).pathname;

/** A script's path in the repository; a compiled one (`dist/core/x.js`) stands for its source (`core/x.ts`). */
function repositoryPath(url: string): string {
  const path = url.replace(/^file:\/\//, '').replace(ROOT, '');
  return path.startsWith('dist/') ? path.slice('dist/'.length).replace(/\.js$/, '.ts') : path;
}

/** Which part of the system a frame belongs to; paths are repository-relative. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return 'garbage collection';
    if (functionName === '(program)') return 'V8 / native, unattributed';
    return 'native builtins (I/O, Buffer, crypto)';
  }
  if (url.startsWith('node:')) return 'Node.js core (net, streams, events)';
  if (url.startsWith('wasm://')) return 'WebAssembly (Cedar, libpg-query)';
  const path = repositoryPath(url);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `npm ${pkg[1]}`;
  const dir = /^(fargate-proxy\/src\/[^/]+(?:\/[^/]+)?|core\/[^/]+)\//.exec(path);
  return dir ? dir[1]! : path;
}

const sources = new Map<string, string[]>();
/**
 * The profiled gateway is tsc's output (bench/build.ts), whose line numbers are not the source's:
 * the function's definition is looked up in the TypeScript source by name instead.
 */
function definitionLine(path: string, fn: string): number | undefined {
  if (!/^(core|fargate-proxy|bench)\//.test(path) || !/^#?[A-Za-z_$][\w$]*$/.test(fn)) return undefined;
  let lines = sources.get(path);
  if (!lines) {
    try {
      lines = readFileSync(join(ROOT, path), 'utf8').split('\n');
    } catch {
      lines = [];
    }
    sources.set(path, lines);
  }
  const def = new RegExp(`(function\\*?\\s+${fn}\\b|\\b${fn}\\s*[=:]\\s*(async\\s*)?(\\(|function)|^\\s*(public |private |static |async |get |\\*)*${fn}\\s*[(<])`);
  const i = lines.findIndex((l) => def.test(l));
  return i >= 0 ? i + 1 : undefined;
}

function where(frame: CallFrame, caller?: CallFrame): string {
  if (!frame.url) return caller ? `native, called from \`${caller.functionName || '(anonymous)'}\` (${where(caller)})` : 'native';
  const path = repositoryPath(frame.url).replace(/^.*node_modules\//, '');
  return `${path}:${definitionLine(path, frame.functionName) ?? frame.lineNumber + 1}`;
}

/** Self time by function and area within [fromMs, toMs] after the profile started. */
export function summariseProfile(file: string, fromMs: number, toMs: number, topN = 20): Omit<ProfileRun, 'load' | 'rate' | 'unit'> {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const parents = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
  // A native function's cost belongs to whoever called it: writeSync in the audit sink is not a socket write.
  const jsCaller = (id: number): CallFrame | undefined => {
    for (let at = parents.get(id); at !== undefined; at = parents.get(at)) {
      const f = frames.get(at)!;
      if (f.url && !f.url.startsWith('node:')) return f;
    }
    return undefined;
  };
  const byFn = new Map<string, { frame: CallFrame; caller?: CallFrame; us: number }>();
  const byArea = new Map<string, number>();
  let total = 0;
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    const dt = p.timeDeltas[i + 1] ?? 0; // a sample's weight is the time until the next one
    if (t / 1000 < fromMs || t / 1000 > toMs) continue;
    const frame = frames.get(p.samples[i]!)!;
    const caller = frame.url || frame.functionName.startsWith('(') ? undefined : jsCaller(p.samples[i]!);
    const key = `${frame.functionName}|${frame.url}|${frame.lineNumber}|${caller ? `${caller.functionName}|${caller.url}` : ''}`;
    const e = byFn.get(key) ?? { frame, caller, us: 0 };
    e.us += dt;
    byFn.set(key, e);
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + dt);
    total += dt;
  }
  const pct = (us: number): number => (total ? (100 * us) / total : 0);
  return {
    busyPct: 100 - pct(byArea.get('(idle)') ?? 0),
    areas: [...byArea].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, pct: pct(us) })),
    top: [...byFn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map(({ frame, caller, us }) => ({ fn: frame.functionName || '(anonymous)', where: where(frame, caller), pct: pct(us) })),
  };
}
