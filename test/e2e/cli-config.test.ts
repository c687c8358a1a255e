// Which configuration the CLI uses, and a gateway whose every port is 0: `serve` records the ports
// it got in <dataDir>/gateway.json, so `token` and `approvals` reach it; a leftover
// `.airlock/config.yaml` from an earlier `npm start` is never used silently.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

const MAIN = resolve('fargate-proxy/src/cli/main.ts');
const TSX = import.meta.resolve('tsx');
const work = mkdtempSync(join(tmpdir(), 'airlock-cli-config-'));
const served = join(work, 'elsewhere');
const serveConfig = join(served, 'airlock.yaml');
let child: ChildProcess | undefined;
let stdout = '';

function configFile(dir: string, dataDir: string, ports: { pg: number; console: number; issuer: number }, secret: string): Record<string, unknown> {
  return {
    dataDir,
    logLevel: 'warn',
    listeners: { postgres: { host: '127.0.0.1', port: ports.pg, allowPlaintext: true }, console: { host: '127.0.0.1', port: ports.console } },
    identity: {
      issuer: `http://127.0.0.1${ports.issuer ? `:${ports.issuer}` : ''}`,
      audience: 'urn:airlock',
      localIssuer: { port: ports.issuer, clients: [{ clientId: 'agent', clientSecret: secret, groups: ['agents'] }] },
    },
    targets: [{ name: 'db', kind: 'postgres', host: '127.0.0.1', port: 9, database: 'd', user: 'u', credential: 'env:UNUSED', tls: { mode: 'disable' } }],
    policy: { file: resolve('policies/demo.cedar') },
  };
}

/** The CLI run from `cwd`, as a user in that directory would. */
function cli(args: string[], cwd = work, env: NodeJS.ProcessEnv = {}) {
  const e = { ...process.env, ...env };
  delete e.AIRLOCK_CONFIG_FILE;
  if (env.AIRLOCK_CONFIG_FILE) e.AIRLOCK_CONFIG_FILE = env.AIRLOCK_CONFIG_FILE;
  return spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: e });
}

before(async () => {
  // What an earlier `npm start` in `work` left behind: its config, no gateway running.
  mkdirSync(join(work, '.airlock', 'audit'), { recursive: true });
  writeFileSync(join(work, '.airlock', 'config.yaml'), stringify(configFile(work, join(work, '.airlock'), { pg: 6432, console: 8080, issuer: 8444 }, 'leftover-secret-0123456789')));
  // The gateway the user runs now, elsewhere, every port chosen at start.
  mkdirSync(served);
  writeFileSync(serveConfig, stringify(configFile(served, 'data', { pg: 0, console: 0, issuer: 0 }, 'served-secret-0123456789')));
  child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '-c', serveConfig], { cwd: served, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((res, rej) => {
    child!.stdout!.on('data', (d) => {
      stdout += d;
      if (/local issuer at/.test(stdout)) res();
    });
    child!.once('exit', (code) => rej(new Error(`serve exited (${code})`)));
  });
});
after(() => {
  child?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

test('serve prints readiness lines with the ports it got', () => {
  assert.match(stdout, /^airlock: postgres listening on 127\.0\.0\.1:(\d+)$/m);
  assert.doesNotMatch(stdout, /:0$/m);
  assert.match(stdout, /^airlock: console at http:\/\/127\.0\.0\.1:\d+$/m);
  assert.match(stdout, /^airlock: local issuer at http:\/\/127\.0\.0\.1:\d+$/m);
});

test('a leftover .airlock/config.yaml is refused for commands that need its gateway, with what to do', () => {
  const r = cli(['token', '--client', 'agent']);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /\.airlock\/config\.yaml is left from an earlier `npm start` and no gateway is running with it: pass -c FILE/);
});

test('with -c or AIRLOCK_CONFIG_FILE, token reaches a local issuer on port 0 through the running gateway record', () => {
  for (const r of [cli(['token', '--client', 'agent', '-c', serveConfig]), cli(['token', '--client', 'agent'], work, { AIRLOCK_CONFIG_FILE: serveConfig })]) {
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(r.stderr, '', 'an explicit configuration needs no note');
  }
});

test('approvals finds the console on its chosen port', () => {
  const r = cli(['approvals', 'list', '-c', serveConfig, '--token', 'not-a-token']);
  assert.doesNotMatch(r.stderr, /cannot reach the console/);
  assert.match(r.stderr, /401|token|unauthori[sz]ed/i);
});

test('reading the trail with the implicit configuration says which one on stderr', () => {
  const r = cli(['sessions']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /using \.airlock\/config\.yaml \(written by `npm start`\); -c FILE or AIRLOCK_CONFIG_FILE picks another/);
  const none = cli(['sessions'], tmpdir());
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no configuration: pass -c FILE/);
});

test('after the gateway stops, its record is gone and token says why it cannot reach a port-0 issuer', async () => {
  const record = join(served, 'data', 'gateway.json');
  assert.ok(existsSync(record));
  child!.kill('SIGTERM');
  await new Promise((r) => child!.once('exit', r));
  child = undefined;
  assert.ok(!existsSync(record));
  const r = cli(['token', '--client', 'agent', '-c', serveConfig]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /port chosen at start \(port 0\).*is the gateway running\?/);
});
