// `npx tsx bench/kubernetes.ts [--quick]`: `kubectl get pods`-style list requests (a Table of 500
// pods, as kubectl asks for it) through the Kubernetes gateway and directly to the same test API
// server, sequentially, in interleaved rounds. Reports latency and the gateway's added latency;
// writes bench/results/kubernetes.json. The gateway runs in this process (in-process timing of the
// whole data path: token check, resolution, Cedar, audit, masking every cell, scrubbing).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startKubeTestGateway } from '../test/support/kube-gateway.js';
import { CLUSTER_TOKEN } from '../test/support/kube-gateway.js';
import { machine } from './report.js';

const quick = process.argv.includes('--quick');
const PODS = 500;
const REQUESTS = quick ? 50 : 300;
const ROUNDS = quick ? 2 : 5;
const ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const log = (msg: string): void => console.error(`bench-kubernetes: ${msg}`);
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function main(): Promise<void> {
  const gw = await startKubeTestGateway();
  gw.api.put('namespaces', { metadata: { name: 'bench' } });
  for (let i = 0; i < PODS; i++) {
    gw.api.put('pods', { metadata: { name: `web-${i}`, namespace: 'bench', labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx', env: [{ name: 'OWNER', value: `owner${i}@example.com` }] }] } });
  }
  const token = await gw.token();
  const tls = new Agent({ connect: { ca: gw.ca }, keepAliveTimeout: 10_000 });
  const plain = new Agent({ keepAliveTimeout: 10_000 });
  const path = `/api/v1/namespaces/bench/pods?limit=${PODS}`;
  const peers = {
    direct: { url: `${gw.api.url}${path}`, auth: CLUSTER_TOKEN, dispatcher: plain },
    airlock: { url: `${gw.server}${path}`, auth: token, dispatcher: tls },
  };
  const samples: Record<string, number[]> = { direct: [], airlock: [] };
  let bytes: Record<string, number> = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of (round % 2 ? ['airlock', 'direct'] : ['direct', 'airlock']) as (keyof typeof peers)[]) {
        const p = peers[name];
        for (let i = 0; i < REQUESTS; i++) {
          const t = process.hrtime.bigint();
          const res = await request(p.url, { headers: { authorization: `Bearer ${p.auth}`, accept: ACCEPT }, dispatcher: p.dispatcher });
          const body = await res.body.arrayBuffer();
          samples[name]!.push(Number(process.hrtime.bigint() - t) / 1e6);
          if (res.statusCode !== 200) throw new Error(`${name}: ${res.statusCode} ${Buffer.from(body).toString().slice(0, 200)}`);
          bytes = { ...bytes, [name]: body.byteLength };
        }
        log(`round ${round + 1} ${name}: p50 ${pct(samples[name]!.slice(-REQUESTS), 0.5).toFixed(2)} ms`);
      }
    }
  } finally {
    await gw.stop();
    await tls.close();
    await plain.close();
  }
  const summary = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, { p50Ms: pct(xs, 0.5), p99Ms: pct(xs, 0.99), requests: xs.length, responseBytes: bytes[k] }]));
  const result = {
    startedAt: new Date().toISOString(),
    quick,
    machine: machine(),
    scenario: `GET ${path} as Table (kubectl get pods), ${PODS} pods, sequential, keep-alive`,
    peers: summary,
    addedP50Ms: summary.airlock!.p50Ms - summary.direct!.p50Ms,
    addedP99Ms: summary.airlock!.p99Ms - summary.direct!.p99Ms,
  };
  const dir = new URL('./results/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kubernetes.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `| kubectl get pods (${PODS}-row Table) | p50 ms | p99 ms |\n|---|---|---|\n` +
      `| direct | ${summary.direct!.p50Ms.toFixed(2)} | ${summary.direct!.p99Ms.toFixed(2)} |\n` +
      `| through Airlock | ${summary.airlock!.p50Ms.toFixed(2)} | ${summary.airlock!.p99Ms.toFixed(2)} |\n` +
      `| added | ${result.addedP50Ms.toFixed(2)} | ${result.addedP99Ms.toFixed(2)} |\n`,
  );
}

await main();
