// Connection set-up, one at a time: connect, authenticate, first ReadyForQuery, close. Through
// Airlock that is TLS-less login with the token, token verification, the connect grant, the
// credential fetch and the upstream SCRAM exchange; directly it is PostgreSQL's SCRAM login.
import pg from 'pg';
import { percentile, type Endpoint } from './pgbench.js';

export interface ConnectOutcome {
  count: number;
  p50Ms: number;
  p99Ms: number;
}

export async function measureConnects(ep: Endpoint, count: number): Promise<ConnectOutcome> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const client = new pg.Client({ ...ep, ssl: false });
    client.on('error', () => undefined);
    const t0 = performance.now();
    await client.connect();
    ms.push(performance.now() - t0);
    await client.end();
  }
  ms.sort((a, b) => a - b);
  return { count, p50Ms: percentile(ms, 0.5), p99Ms: percentile(ms, 0.99) };
}
