// Request rates counted fleet-wide (issue 32): `requestsPerMinute: N` means **no 60 seconds see more
// than N requests**, across every process of the fleet. Time is cut into buckets of 10 s that every
// process names the same way (the epoch divided by 10 s); each bucket is a budget key of the leased
// ledger (core/task/lease.ts). A request in bucket i is admitted only while the buckets i−6 … i hold
// fewer than N together: the current bucket's count is the one conditional lease (`used ≤ limit − n`)
// with its limit lowered by what the six closed buckets before it spent. Any 60 s span lies within 7
// consecutive buckets, so it never sees more than N; the price is that a steady stream at the full
// rate gets N per 70 s, not per 60 s.
// Closed buckets do not change (bar leases given back, which only lower them), so each process reads
// a closed bucket once; one that closed less than a second ago is read again, so a lease in flight
// at the boundary is seen.
// No I/O here: the ledger is the same port as statements and commands.
import type { BudgetLedger } from './lease.js';

export const RATE_BUCKET_MS = 10_000;
/** Closed buckets counted with the current one: 60 s / 10 s. */
export const RATE_BUCKETS_BEHIND = 6;
/** A bucket closed this recently may still receive a lease sent before its end. */
const SETTLE_MS = 1000;

export const rateBucket = (now: number): number => Math.floor(now / RATE_BUCKET_MS);
export const rateKey = (base: string, bucket: number): string => `${base}/${bucket}`;

/**
 * Seconds until a bucket would admit `n` more, if nothing else were spent: `counts[j]` is what bucket
 * `current − RATE_BUCKETS_BEHIND + j` holds (the last one is the current bucket).
 */
export function rateRetryAfter(counts: readonly number[], limit: number, n: number, now: number): number {
  const current = rateBucket(now);
  for (let m = 1; m <= RATE_BUCKETS_BEHIND + 1; m++) {
    // After m buckets have passed, buckets current−6+m … current still count.
    const still = counts.slice(m).reduce((a, b) => a + b, 0);
    if (still + n <= limit) return Math.max(1, Math.ceil(((current + m) * RATE_BUCKET_MS - now) / 1000));
  }
  return Math.ceil(((current + RATE_BUCKETS_BEHIND + 1) * RATE_BUCKET_MS - now) / 1000);
}

/** Closed buckets' counts, read once each per process. */
export class ClosedBuckets {
  readonly #counts = new Map<string, number>();

  constructor(private readonly ledger: BudgetLedger) {}

  /** What buckets current−6 … current−1 of `base` hold, oldest first. */
  async counts(base: string, now: number): Promise<number[]> {
    const current = rateBucket(now);
    const buckets = Array.from({ length: RATE_BUCKETS_BEHIND }, (_, i) => current - RATE_BUCKETS_BEHIND + i);
    // Read at once: a process that starts (or a rate that wakes up) pays one round trip, not six.
    const out = await Promise.all(
      buckets.map(async (b) => {
        const key = rateKey(base, b);
        const known = this.#counts.get(key);
        if (known !== undefined) return known;
        const n = await this.ledger.used(key);
        if (now - (b + 1) * RATE_BUCKET_MS >= SETTLE_MS) this.#counts.set(key, n);
        return n;
      }),
    );
    this.#prune(current);
    return out;
  }

  #prune(current: number): void {
    if (this.#counts.size < 256) return;
    for (const key of this.#counts.keys()) {
      if (Number(key.slice(key.lastIndexOf('/') + 1)) < current - RATE_BUCKETS_BEHIND) this.#counts.delete(key);
    }
  }
}

/**
 * The largest lease of a rate's bucket: about a second's worth at the full rate. What a session
 * leased and did not spend before its bucket closed is lost to the fleet for the next 60 s, so it is
 * kept small (at the full rate a session then asks the ledger about once a second).
 */
export const rateLeaseCap = (limit: number): number => Math.max(1, Math.ceil(limit / 60));

/** The current bucket's key and the limit its lease must respect (N minus what the closed buckets spent). */
export async function rateLease(closed: ClosedBuckets, base: string, limit: number, now: number): Promise<{ key: string; limit: number; behind: number[] }> {
  const behind = await closed.counts(base, now);
  const spent = behind.reduce((a, b) => a + b, 0);
  return { key: rateKey(base, rateBucket(now)), limit: Math.max(0, limit - spent), behind };
}
