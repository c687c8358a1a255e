// `npm run bench` HTTP scenarios (also alone: `tsx bench/http.ts [--quick]`). nginx serves a small JSON
// document with synthetic PII and a large one; three peers answer the same requests:
//   direct       — nginx as the origin (the ceiling);
//   nginx-proxy  — a second nginx server block reverse-proxying to the origin over keep-alive (the
//                  production reverse proxy from Debian the issue compares against);
//   node-proxy   — node:http + an undici pool, nothing else (bench/http-node-proxy.ts): the Node.js floor;
//   airlock      — `airlock serve` (compiled, as deployed) in its own process, plain HTTP/1.1 listener: token check, canonical
//                  path, Cedar, audit before forwarding, JSON masking, audit of the outcome.
// Each round measures 1 client (sequential: p50/p99) and 16 clients (throughput, p50/p99), interleaved,
// then streams the large JSON (masked MiB/s). Clients are undici keep-alive pools in this process.
// Writes bench/results/http.json; the page is rendered by bench/main.ts. Never run as a test.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { requestClientCredentialsToken } from '../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { CUSTOMERS } from '../test/support/http-upstream.js';
import { compiledScript } from './build.js';
import { cpuSeconds } from './proc-stats.js';
import type { HttpBenchResult, HttpBenchRow } from './report.js';

const ROOT = new URL('..', import.meta.url).pathname;
const quick = process.argv.includes('--quick');
/** `--cpu-prof`: the gateway writes V8 CPU profiles to <tmpdir>/airlock-http-profile/ (with `--no-large`: small requests only). */
const profile = process.argv.includes('--cpu-prof');
const withLarge = !process.argv.includes('--no-large');
const ROUNDS = quick ? 1 : 3;
const SEQUENTIAL = quick ? 1000 : 3000;
const CONCURRENT = quick ? 4000 : 12000;
const LARGE_MIB = 16;
const log = (m: string) => console.error(`bench http: ${m}`);

const free = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode})`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${port}`);
}

/** nginx as a non-root instance: its own prefix, config, pid and logs in `dir`; one worker, like Airlock's one process. */
async function startNginx(dir: string): Promise<{ origin: number; proxy: number; child: ChildProcess }> {
  const [origin, proxy] = [await free(), await free()];
  mkdirSync(join(dir, 'www/api'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  writeFileSync(join(dir, 'www/api/customers'), JSON.stringify({ customers: CUSTOMERS, count: CUSTOMERS.length }));
  const row = JSON.stringify(CUSTOMERS[0]);
  const rows = Math.ceil((LARGE_MIB * 2 ** 20) / (row.length + 1));
  writeFileSync(join(dir, 'www/api/large'), `{"customers":[${Array.from({ length: rows }, () => row).join(',')}]}`);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, 'tmp', t)};`).join('\n    ');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
    access_log off;
    ${temp}
    default_type application/json;
    keepalive_requests 100000;
    upstream origin { server 127.0.0.1:${origin}; keepalive 64; }
    server {
        listen 127.0.0.1:${origin};
        root ${join(dir, 'www')};
        location /api/ { types { } default_type application/json; }
    }
    server {
        listen 127.0.0.1:${proxy};
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`,
  );
  const child = spawn('/usr/sbin/nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(origin, child, 'nginx');
  await waitForPort(proxy, child, 'nginx');
  return { origin, proxy, child };
}

/** node:http + undici, nothing else (bench/http-node-proxy.ts): what any Node.js HTTP gateway costs. */
async function startNodeProxy(origin: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await free();
  const child = spawn(process.execPath, [compiledScript('bench/http-node-proxy.ts'), '--upstream', `http://127.0.0.1:${origin}`, '--port', String(port)], {
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(port, child, 'node proxy');
  return { port, child };
}

async function startAirlock(dir: string, origin: number): Promise<{ port: number; token: string; child: ChildProcess }> {
  writeFileSync(
    join(dir, 'policy.cedar'),
    `@id("c") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("r") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_read", resource);
@id("no-admin") forbid (principal, action in Airlock::Action::"http_request", resource) when { context.path like "/admin*" };
`,
  );
  const client = { clientId: 'bench', clientSecret: 'bench-secret-0123456789', groups: ['agents'] };
  const [issuerPort, port] = [await free(), await free()];
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      dataDir: join(dir, 'data'),
      logLevel: 'warn',
      listeners: { http: { host: '127.0.0.1', port, allowPlaintext: true } },
      identity: { issuer: `http://127.0.0.1:${issuerPort}`, audience: 'urn:airlock', localIssuer: { port: issuerPort, clients: [client] } },
      targets: [{ name: 'crm', kind: 'http', baseUrl: `http://127.0.0.1:${origin}/api`, credential: { type: 'bearer', secret: 'env:AIRLOCK_BENCH_UPSTREAM' } }],
      policy: { file: join(dir, 'policy.cedar') },
    }),
  );
  // As deployed (bench/build.ts): compiled with tsc, NODE_ENV=production — not through tsx.
  const node = profile ? ['--cpu-prof', '--cpu-prof-dir', join(tmpdir(), 'airlock-http-profile')] : [];
  const child = spawn(process.execPath, [...node, compiledScript('fargate-proxy/src/cli/main.ts'), 'serve', '--config', join(dir, 'config.json')], {
    env: { ...process.env, NODE_ENV: 'production', AIRLOCK_BENCH_UPSTREAM: 'bench-upstream-token-not-secret' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(port, child, 'airlock');
  await waitForPort(issuerPort, child, 'airlock issuer');
  const token = await requestClientCredentialsToken({ tokenEndpoint: `http://127.0.0.1:${issuerPort}/token`, clientId: client.clientId, clientSecret: client.clientSecret, audience: 'urn:airlock' });
  return { port, token, child };
}

interface Peer {
  name: string;
  origin: string;
  path: string;
  largePath: string;
  headers: Record<string, string>;
  pid?: number;
}

const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;

async function measure(peer: Peer, clients: number, requests: number): Promise<{ p50Us: number; p99Us: number; rps: number; cpuUsPerRequest?: number }> {
  const pool = new Pool(peer.origin, { connections: clients, pipelining: 1 });
  const one = async () => {
    const r = await pool.request({ method: 'GET', path: peer.path, headers: peer.headers });
    await r.body.arrayBuffer();
    if (r.statusCode !== 200) throw new Error(`${peer.name}: status ${r.statusCode}`);
  };
  try {
    await Promise.all(Array.from({ length: clients }, async () => {
      for (let i = 0; i < 200 / clients + 20; i++) await one(); // warm: JIT, pools, caches
    }));
    const times: number[] = [];
    let left = requests;
    const cpu0 = peer.pid ? cpuSeconds(peer.pid) : 0;
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: clients }, async () => {
      while (left-- > 0) {
        const t = process.hrtime.bigint();
        await one();
        times.push(Number(process.hrtime.bigint() - t) / 1000);
      }
    }));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    times.sort((a, b) => a - b);
    return {
      p50Us: pct(times, 0.5),
      p99Us: pct(times, 0.99),
      rps: requests / seconds,
      ...(peer.pid && { cpuUsPerRequest: ((cpuSeconds(peer.pid) - cpu0) * 1e6) / requests }),
    };
  } finally {
    await pool.close();
  }
}

async function large(peer: Peer): Promise<{ mibPerSecond: number; bytes: number }> {
  const pool = new Pool(peer.origin, { connections: 1 });
  try {
    const t = process.hrtime.bigint();
    const r = await pool.request({ method: 'GET', path: peer.largePath, headers: peer.headers });
    let bytes = 0;
    for await (const c of r.body) bytes += (c as Buffer).length;
    if (r.statusCode !== 200) throw new Error(`${peer.name}: large status ${r.statusCode}`);
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    return { mibPerSecond: LARGE_MIB / seconds, bytes };
  } finally {
    await pool.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-http-'));
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  let airlock: Awaited<ReturnType<typeof startAirlock>> | undefined;
  let nodeProxy: Awaited<ReturnType<typeof startNodeProxy>> | undefined;
  const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' / ');
  try {
    // Run as root, nginx's worker drops to `nobody`: it must be able to read the documents.
    chmodSync(dir, 0o755);
    nginx = await startNginx(join(dir, 'nginx'));
    airlock = await startAirlock(dir, nginx.origin);
    nodeProxy = await startNodeProxy(nginx.origin);
    log(`nginx origin :${nginx.origin}, nginx proxy :${nginx.proxy}, airlock :${airlock.port}`);
    const peers: Peer[] = [
      { name: 'direct', origin: `http://127.0.0.1:${nginx.origin}`, path: '/api/customers', largePath: '/api/large', headers: {} },
      { name: 'nginx-proxy', origin: `http://127.0.0.1:${nginx.proxy}`, path: '/api/customers', largePath: '/api/large', headers: {} },
      { name: 'node-proxy', origin: `http://127.0.0.1:${nodeProxy.port}`, path: '/api/customers', largePath: '/api/large', headers: {}, pid: nodeProxy.child.pid },
      { name: 'airlock', origin: `http://127.0.0.1:${airlock.port}`, path: '/crm/customers', largePath: '/crm/large', headers: { authorization: `Bearer ${airlock.token}` }, pid: airlock.child.pid },
    ];
    const samples = new Map<string, { p50Us: number[]; p99Us: number[]; rps: number[]; cpu: number[]; mib: number[] }>();
    const key = (peer: string, clients: number) => `${peer} c=${clients}`;
    for (let round = 0; round < ROUNDS; round++) {
      const order = peers.map((_, i) => peers[(i + round) % peers.length]!);
      for (const clients of [1, 16]) {
        for (const peer of order) {
          const m = await measure(peer, clients, clients === 1 ? SEQUENTIAL : CONCURRENT);
          const s = samples.get(key(peer.name, clients)) ?? { p50Us: [], p99Us: [], rps: [], cpu: [], mib: [] };
          s.p50Us.push(m.p50Us);
          s.p99Us.push(m.p99Us);
          s.rps.push(m.rps);
          if (m.cpuUsPerRequest !== undefined) s.cpu.push(m.cpuUsPerRequest);
          samples.set(key(peer.name, clients), s);
          log(`round ${round + 1} c=${clients} ${peer.name}: p50 ${m.p50Us.toFixed(0)} µs p99 ${m.p99Us.toFixed(0)} µs ${m.rps.toFixed(0)} req/s${m.cpuUsPerRequest ? ` cpu ${m.cpuUsPerRequest.toFixed(0)} µs/req` : ''}`);
        }
      }
      for (const peer of withLarge ? order : []) {
        const l = await large(peer);
        samples.get(key(peer.name, 1))!.mib.push(l.mibPerSecond);
        log(`round ${round + 1} large JSON ${peer.name}: ${l.mibPerSecond.toFixed(1)} MiB/s`);
      }
    }
    const rows: HttpBenchRow[] = [];
    for (const clients of [1, 16]) {
      for (const peer of peers) {
        const s = samples.get(key(peer.name, clients))!;
        rows.push({
          peer: peer.name,
          clients,
          p50Us: median(s.p50Us),
          p99Us: median(s.p99Us),
          rps: median(s.rps),
          ...(s.cpu.length > 0 && { cpuUsPerRequest: median(s.cpu) }),
          ...(s.mib.length > 0 && { jsonMiBPerSecond: median(s.mib) }),
        });
      }
    }
    const result: HttpBenchResult = { startedAt, quick, rounds: ROUNDS, loadAverage: { before: loadBefore, after: loadavg().map((l) => l.toFixed(2)).join(' / ') }, rows };
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench/results/http.json'), JSON.stringify(result, null, 2) + '\n');
    const { httpTable } = await import('./report.js');
    console.log(httpTable(result).join('\n'));
  } finally {
    airlock?.child.kill('SIGTERM');
    nodeProxy?.child.kill('SIGTERM');
    nginx?.child.kill('SIGQUIT');
    await Promise.all([airlock?.child, nodeProxy?.child, nginx?.child].map((c) => c && c.exitCode === null && new Promise((r) => c.once('exit', r))));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
