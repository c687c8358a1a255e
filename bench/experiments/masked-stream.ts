// The bench's masked-stream scenario alone, quickly: `tsx bench/experiments/masked-stream.ts
// [--mib N] [--rounds R] [--modes full,pass-through] [--prof DIR]`. Starts PostgreSQL and the compiled
// gateway (bench/build.ts) once per mode, streams N MiB of the large-result rows (every row's e-mail
// masked in full mode) R times, and prints wall MiB/s and the gateway's own CPU per MiB (the figure
// that survives a loaded machine). With --prof the gateway runs under `node --cpu-prof` and the
// measured rounds' self time is summarised. Never run as a test.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgres } from '../../test/support/pg-server.js';
import { streamLargeResult } from '../large-result.js';
import { airlock, type AirlockMode } from '../peers.js';
import { cpuSeconds } from '../proc-stats.js';
import { summariseProfile } from '../profile-summary.js';

const arg = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const mib = Number(arg('--mib') ?? 100);
const rounds = Number(arg('--rounds') ?? 3);
const modes = (arg('--modes') ?? 'full').split(',') as AirlockMode[];
const prof = arg('--prof');

const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const pg = await startPostgres({ maxConnections: 20 });
try {
  for (const mode of modes) {
    const dir = prof && join(prof, mode);
    if (dir) mkdirSync(dir, { recursive: true });
    const peer = await airlock(pg, mode, dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : []);
    let window: [number, number] = [0, 0];
    try {
      await streamLargeResult(peer.endpoint, 5 * 2 ** 20); // JIT tiers settle before the measured rounds
      window[0] = Date.now() - peer.spawnedAt!;
      for (let r = 0; r < rounds; r++) {
        const cpu0 = cpuSeconds(peer.pid!);
        const out = await streamLargeResult(peer.endpoint, mib * 2 ** 20, peer.pid);
        const cpu = cpuSeconds(peer.pid!) - cpu0;
        const m = out.bytes / 2 ** 20;
        console.log(`${peer.name} round ${r}: ${m.toFixed(0)} MiB in ${out.seconds.toFixed(2)} s = ${(m / out.seconds).toFixed(1)} MiB/s wall; gateway CPU ${cpu.toFixed(2)} s = ${(m / cpu).toFixed(1)} MiB per CPU-s, ${((cpu / out.rows) * 1e6).toFixed(2)} µs/row; peak RSS ${out.peakRssMiB?.toFixed(1)} MiB${out.peakSinceStart ? ' (since start)' : ''}; load ${load()}`);
      }
      window[1] = Date.now() - peer.spawnedAt!;
    } finally {
      await peer.stop();
    }
    const stoppedAt = Date.now() - peer.spawnedAt!;
    if (dir) {
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no .cpuprofile in ${dir}`);
      // The profile starts when the gateway's own process starts, not when it was spawned: line the
      // window up with the profile's end (the gateway stopping).
      const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { startTime: number; endTime: number };
      const shift = (p.endTime - p.startTime) / 1000 - stoppedAt;
      window = [window[0] + shift, window[1] + shift];
      const s = summariseProfile(join(dir, file), window[0], window[1], 30);
      console.log(`profile window ${window[0]}–${window[1]} ms after spawn`);
      console.log(`busy ${s.busyPct.toFixed(1)} %`);
      for (const a of s.areas.slice(0, 12)) console.log(`  area ${a.pct.toFixed(1).padStart(5)} %  ${a.area}`);
      for (const t of s.top) console.log(`  ${t.pct.toFixed(1).padStart(5)} %  ${t.fn}  ${t.where}`);
    }
  }
} finally {
  await pg.stop();
}
