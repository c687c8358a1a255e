// What the HTTP gateway adds to a small JSON request: sequential latency (p50/p99) and throughput at
// 16 concurrent requests, direct to a local upstream and through Airlock (`airlock serve` in its own
// process: plain HTTP/1.1 listener, policy, masking of the JSON body and audit on), both over
// keep-alive undici pools. The client and the upstream share this process.
//   node --import tsx bench/experiments/http-overhead.ts [requests]
// Not part of `npm run bench` (yet): docs/http.md says so.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { startHttpUpstream, UPSTREAM_TOKEN } from '../../test/support/http-upstream.js';

const N = Number(process.argv[2] ?? 3000);
const up = await startHttpUpstream();
const dir = mkdtempSync(join(tmpdir(), 'airlock-http-bench-'));
writeFileSync(join(dir, 'policy.cedar'), `
@id("c") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("r") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_read", resource);
`);
const client = { clientId: 'bench', clientSecret: 'bench-secret-0123456789', groups: ['agents'] };
const free = () => new Promise<number>((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
const [issuerPort, httpPort] = [await free(), await free()];
writeFileSync(join(dir, 'config.json'), JSON.stringify({
  dataDir: join(dir, 'data'),
  logLevel: 'warn',
  listeners: { http: { host: '127.0.0.1', port: httpPort, allowPlaintext: true } },
  identity: { issuer: `http://127.0.0.1:${issuerPort}`, audience: 'urn:airlock', localIssuer: { port: issuerPort, clients: [client] } },
  targets: [{ name: 'crm', kind: 'http', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'env:AIRLOCK_BENCH_UPSTREAM' } }],
  policy: { file: join(dir, 'policy.cedar') },
}));
// The gateway runs in its own process, as in production: it does not share the client's event loop.
const gateway = spawn(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', 'serve', '--config', join(dir, 'config.json')], {
  env: { ...process.env, AIRLOCK_BENCH_UPSTREAM: UPSTREAM_TOKEN },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve, reject) => {
  let out = '';
  gateway.stdout!.on('data', (d) => {
    out += d;
    if (out.includes('airlock: http listening')) resolve();
  });
  gateway.once('exit', (code) => reject(new Error(`the gateway exited (${code})`)));
});
const token = await requestClientCredentialsToken({ tokenEndpoint: `http://127.0.0.1:${issuerPort}/token`, clientId: client.clientId, clientSecret: client.clientSecret, audience: 'urn:airlock' });

async function measure(name: string, origin: string, path: string, headers: Record<string, string>) {
  const pool = new Pool(origin, { connections: 16 });
  const one = async () => {
    const r = await pool.request({ method: 'GET', path, headers });
    await r.body.arrayBuffer();
    if (r.statusCode !== 200) throw new Error(`${name}: status ${r.statusCode}`);
  };
  for (let i = 0; i < 300; i++) await one(); // warm up: JIT, pools, caches
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await one();
    times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  const started = process.hrtime.bigint();
  let left = N;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (left-- > 0) await one();
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await pool.close();
  return { name, p50: times[Math.floor(N * 0.5)]!, p99: times[Math.floor(N * 0.99)]!, rps: N / seconds };
}

const direct = await measure('direct', up.url, '/api/customers', { authorization: `Bearer ${UPSTREAM_TOKEN}` });
const airlock = await measure('airlock', `http://127.0.0.1:${httpPort}`, '/crm/customers', { authorization: `Bearer ${token}` });
for (const r of [direct, airlock]) console.log(`${r.name.padEnd(8)} p50 ${r.p50.toFixed(0).padStart(6)} µs  p99 ${r.p99.toFixed(0).padStart(6)} µs  ${r.rps.toFixed(0).padStart(6)} req/s (16 concurrent)`);
console.log(`added    p50 ${(airlock.p50 - direct.p50).toFixed(0)} µs  p99 ${(airlock.p99 - direct.p99).toFixed(0)} µs  throughput ${(airlock.rps / direct.rps).toFixed(2)}× direct`);
gateway.kill('SIGTERM');
await new Promise((r) => gateway.once('exit', r));
await up.stop();
rmSync(dir, { recursive: true, force: true });
