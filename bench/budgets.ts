// The performance budget of issue 8, checked against the medians of a run. One row per budget item,
// mode and Airlock configuration, so a reader sees exactly which items hold and which do not.
import type { PeerSummary } from './report.js';

export interface BudgetCheck {
  item: string;
  peer: string;
  budget: string;
  measured: string;
  /** Undefined when the run lacks what the item needs (e.g. a peer failed to start). */
  met?: boolean;
}

export const AIRLOCK_PEERS = ['airlock-full', 'airlock-pass-through'];
const MODES = ['simple', 'extended', 'prepared'];

const f = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : '–');
const verdict = (ok: boolean, ...inputs: number[]): boolean | undefined => (inputs.every(Number.isFinite) ? ok : undefined);

export function checkBudgets(summary: Map<string, Map<string, PeerSummary>>): BudgetCheck[] {
  const out: BudgetCheck[] = [];
  const get = (scenario: string, peer: string): PeerSummary | undefined => summary.get(scenario)?.get(peer);
  for (const peer of AIRLOCK_PEERS) {
    if (![...summary.values()].some((m) => m.has(peer))) continue;
    for (const mode of MODES) {
      const s = `select-only ${mode} c=1`;
      const a = get(s, peer);
      const d = get(s, 'postgres');
      if (!a || !d) continue;
      const p50 = (a.p50 - d.p50) * 1000;
      const p99 = (a.p99 - d.p99) * 1000;
      out.push({ item: `added latency p50, ${mode}, 1 client`, peer, budget: '≤ 60 µs', measured: `${f(p50)} µs`, met: verdict(p50 <= 60, p50) });
      out.push({ item: `added latency p99, ${mode}, 1 client`, peer, budget: '≤ 250 µs', measured: `${f(p99)} µs`, met: verdict(p99 <= 250, p99) });
    }
    for (const mode of MODES) {
      const s = `select-only ${mode} c=16`;
      const a = get(s, peer);
      if (!a) continue;
      const relay = a.tps / (get(s, 'node-relay')?.tps ?? NaN);
      const bouncer = a.tps / (get(s, 'pgbouncer')?.tps ?? NaN);
      out.push({ item: `throughput vs node relay, ${mode}, 16 clients`, peer, budget: '≥ 0.90', measured: f(relay, 2), met: verdict(relay >= 0.9, relay) });
      out.push({ item: `throughput vs PgBouncer, ${mode}, 16 clients`, peer, budget: '≥ 0.60', measured: f(bouncer, 2), met: verdict(bouncer >= 0.6, bouncer) });
    }
    const login = get('connection set-up', peer)?.connect;
    const direct = get('connection set-up', 'postgres')?.connect;
    if (login && direct) {
      const added = login.p50Ms - direct.p50Ms;
      out.push({ item: 'connection set-up over direct SCRAM login (p50)', peer, budget: '≤ 5 ms', measured: `${f(added, 2)} ms`, met: verdict(added <= 5, added) });
    }
    const idle = get('idle sessions', peer)?.idle?.rssKiBPerSession;
    if (idle !== undefined) {
      // RSS falls when a collection runs mid-measurement: a negative growth says nothing either way.
      const measured = idle < 0 ? `${f(idle, 1)} KiB (RSS fell: GC during the run, inconclusive)` : `${f(idle, 1)} KiB`;
      out.push({ item: 'memory per idle session', peer, budget: '≤ 64 KiB', measured, met: idle < 0 ? undefined : verdict(idle <= 64, idle) });
    }
    const streamed = [...summary.entries()].filter(([name]) => name.startsWith('streamed result')).map(([name, m]) => ({ name, r: m.get(peer)?.largeResult }));
    if (streamed.length >= 2 && streamed.every((x) => x.r?.peakRssMiB !== undefined)) {
      const small = streamed[0]!;
      const big = streamed.at(-1)!;
      const growth = big.r!.peakRssMiB! / small.r!.peakRssMiB! - 1;
      out.push({
        item: `peak memory flat, ${small.name.replace('streamed result ', '')} vs ${big.name.replace('streamed result ', '')} result`,
        peer,
        budget: '± 10 %',
        measured: `${f(small.r!.peakRssMiB!, 1)} → ${f(big.r!.peakRssMiB!, 1)} MiB (${growth >= 0 ? '+' : ''}${f(growth * 100, 1)} %)`,
        met: verdict(Math.abs(growth) <= 0.1, growth),
      });
    }
  }
  return out;
}
