// Runs pgbench with per-transaction logs (-l) and turns them into latency percentiles and throughput.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Endpoint {
  host: string;
  port: number;
  database: string;
  user: string;
  /** Database password, or for Airlock the access token. */
  password: string;
}

export interface PgbenchResult {
  transactions: number;
  tps: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
}

export async function runPgbench(ep: Endpoint, args: string[]): Promise<PgbenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pgbench-'));
  try {
    const { stdout } = await execFileAsync(
      'pgbench',
      ['-h', ep.host, '-p', String(ep.port), '-U', ep.user, '-n', '-l', '--log-prefix', join(dir, 'tx'), ...args, ep.database],
      { env: { ...process.env, PGPASSWORD: ep.password, PGSSLMODE: 'disable' }, cwd: dir, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
    );
    // Per-transaction log lines: client_id transaction_no latency_us script_no epoch_s epoch_us.
    const latencies: number[] = [];
    for (const f of readdirSync(dir).filter((n) => n.startsWith('tx'))) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        const parts = line.split(' ');
        if (parts.length >= 6 && /^\d+$/.test(parts[2]!)) latencies.push(Number(parts[2]) / 1000);
      }
    }
    // Through a slow peer, logging 16 clients in can take the whole of a short run.
    if (latencies.length === 0) throw new Error(`no transaction completed within the run (pgbench ${args.join(' ')})`);
    latencies.sort((a, b) => a - b);
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? /tps = ([\d.]+)/.exec(stdout)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
    return { transactions: latencies.length, tps, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), failed };
  } catch (err) {
    // pgbench's stderr can echo the connection string, never the password; the token stays out.
    const e = err as { stderr?: string; message: string };
    throw new Error(`pgbench failed: ${(e.stderr ?? e.message).split(ep.password).join('***').trim().slice(0, 600)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
