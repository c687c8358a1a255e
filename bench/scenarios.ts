// What is measured. Each scenario is one pgbench invocation, or one of the probes (connection
// set-up, a large streamed result, idle sessions) against a peer.
export interface Scenario {
  name: string;
  /** pgbench arguments (the endpoint is added by the runner). */
  pgbench?: string[];
  /** Sequential logins to time. */
  connects?: number;
  /** Size of one streamed result, bytes. */
  resultBytes?: number;
  /** Idle sessions to open and hold. */
  idleSessions?: number;
  /** Seconds of 1-client `pgbench -S`, quiet and then beside a session sending 2 MiB statements (bench/noisy-neighbour.ts). */
  noisyNeighbourSeconds?: number;
  /** The neighbour streams a masked result of this many bytes, back to back, instead of sending statements. */
  noisyNeighbourStreamBytes?: number;
}

const MiB = 2 ** 20;

/**
 * `pgbench -i -s` for every run: at scale 1 every account id has at most five digits and none is
 * masked by the audit; from scale 10 on most have six, as real ids, amounts and times do.
 */
export const PGBENCH_SCALE = 10;

/** A pgbench script of statements with long numeric and string literals (bench/scripts). */
const LONG_LITERALS = new URL('./scripts/long-literals.pgbench', import.meta.url).pathname;

export function scenarios(quick: boolean): Scenario[] {
  const secs = String(quick ? 2 : 20);
  const clients = quick ? [1, 16] : [1, 16, 64];
  const list: Scenario[] = [];
  for (const mode of ['simple', 'extended', 'prepared'] as const) {
    for (const c of clients) {
      if (quick && mode !== 'simple' && c === 1) continue;
      list.push({ name: `select-only ${mode} c=${c}`, pgbench: ['-S', '-M', mode, '-c', String(c), '-j', String(Math.min(c, 2)), '-T', secs] });
    }
  }
  list.push({ name: 'long literals simple c=16', pgbench: ['-f', LONG_LITERALS, '-s', String(PGBENCH_SCALE), '-M', 'simple', '-c', '16', '-j', '2', '-T', secs] });
  list.push({ name: 'tpc-b writes c=16', pgbench: ['-M', 'extended', '-c', '16', '-j', '2', '-T', secs] });
  list.push({ name: 'noisy neighbour: pgbench -S c=1 beside 2 MiB statements every 100 ms', noisyNeighbourSeconds: quick ? 5 : 20 });
  list.push({ name: `noisy neighbour: pgbench -S c=1 beside a masked ${quick ? '200 MiB' : '1 GiB'} result streamed back to back`, noisyNeighbourSeconds: quick ? 5 : 20, noisyNeighbourStreamBytes: (quick ? 200 : 1024) * MiB });
  list.push({ name: 'connection set-up', connects: quick ? 30 : 300 });
  // Peak memory must not depend on result size: the same query at two sizes, 100x apart in the full run.
  const sizes = quick ? [10 * MiB, 100 * MiB] : [10 * MiB, 1024 * MiB];
  for (const bytes of sizes) list.push({ name: `streamed result ${bytes / MiB} MiB`, resultBytes: bytes });
  list.push({ name: 'idle sessions', idleSessions: quick ? 250 : 1000 });
  return list;
}
