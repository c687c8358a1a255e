// Connection set-up, one at a time: connect, authenticate, first ReadyForQuery, close. Through
// Airlock that is TLS-less login with the token, token verification, the connect grant, the
// credential fetch and the upstream SCRAM exchange; directly it is PostgreSQL's SCRAM login.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { percentile, type Endpoint } from './pgbench.js';

export interface ConnectOutcome {
  count: number;
  p50Ms: number;
  p99Ms: number;
}

// A direct client's close waits for the backend to exit; any proxy answers the close itself, so
// the next login would start while PostgreSQL is still tearing the last backend down and queue
// behind it (+8–10 ms measured for the bare relay too). Each login starts with the server quiet.
export const SETTLE_MS = 40;

export async function measureConnects(ep: Endpoint, count: number): Promise<ConnectOutcome> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const client = new pg.Client({ ...ep, ssl: false });
    client.on('error', () => undefined);
    const t0 = performance.now();
    await client.connect();
    ms.push(performance.now() - t0);
    await client.end();
    await sleep(SETTLE_MS);
  }
  ms.sort((a, b) => a - b);
  return { count, p50Ms: percentile(ms, 0.5), p99Ms: percentile(ms, 0.99) };
}
