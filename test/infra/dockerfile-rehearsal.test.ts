// Rehearses fargate-proxy/Dockerfile without Docker: the build context is the one CDK stages for
// the image asset (lib/proxy-fleet.ts, IMAGE_CONTEXT, the allow-list .dockerignore repeats); the Dockerfile's own
// COPY and RUN lines are replayed stage by stage into a temporary directory; the task
// definition's entrypoint command (path-relocated: /etc/airlock and /tmp/airlock are task volumes)
// then starts the compiled gateway from the runtime stage's layout, which must answer /healthz
// (through the Dockerfile's own HEALTHCHECK command too) and exit cleanly on SIGTERM.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { CONTAINER_PATHS, CONTAINER_PORTS } from '../../lib/proxy-config.js';
import { ProxyFleet } from '../../lib/proxy-fleet.js';

const REPO = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'airlock-rehearsal-'));
let child: ChildProcess | undefined;

// ---- the Dockerfile, parsed -------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}
interface DockerStage {
  name: string;
  from: string;
  instructions: Instruction[];
}

function parseDockerfile(text: string): DockerStage[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ') // line continuations
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: DockerStage[] = [];
  for (const line of logical) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(m, `FROM ${args}`);
      stages.push({ from: m[1]!, name: m[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

const last = (stage: DockerStage, op: string) => stage.instructions.filter((i) => i.op === op).at(-1)?.args;

// ---- the rehearsal ------------------------------------------------------------------------------

interface Rehearsal {
  stages: DockerStage[];
  /** Directory standing for each stage's filesystem root. */
  fsRoot: Record<string, string>;
  workdir: Record<string, string>;
  /** RUN lines replayed or deliberately not (OS-level user setup in the runtime stage). */
  ran: string[];
  skipped: string[];
  tscMs: number;
}

async function rehearse(dockerfile: string, context: string): Promise<Rehearsal> {
  const stages = parseDockerfile(readFileSync(dockerfile, 'utf8'));
  const r: Rehearsal = { stages, fsRoot: {}, workdir: {}, ran: [], skipped: [], tscMs: 0 };
  for (const [index, stage] of stages.entries()) {
    const fsRoot = join(root, 'stages', stage.name);
    mkdirSync(fsRoot, { recursive: true });
    r.fsRoot[stage.name] = fsRoot;
    let workdir = '/';
    const inStage = (path: string) => join(fsRoot, path.startsWith('/') ? path : join(workdir, path));
    for (const { op, args } of stage.instructions) {
      if (op === 'WORKDIR') {
        workdir = args.startsWith('/') ? args : join(workdir, args);
        mkdirSync(inStage('.'), { recursive: true });
      } else if (op === 'COPY') {
        const words = args.split(/\s+/);
        const from = words[0]!.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
        assert.ok(!words.some((w) => w.startsWith('--')), `COPY flags the rehearsal does not know: ${args}`);
        const dest = words.pop()!;
        const sources = words.map((w) => (from ? join(r.fsRoot[from]!, w) : join(context, w)));
        // Docker: several sources, or a destination ending in /, means "into this directory";
        // a directory source copies its contents.
        const intoDir = sources.length > 1 || dest.endsWith('/');
        for (const src of sources) {
          assert.ok(lstatSync(src, { throwIfNoEntry: false }), `COPY ${args}: ${relative(root, src)} is not in the ${from ? `"${from}" stage` : 'build context'}`);
          const target = intoDir ? join(inStage(dest), src.split('/').at(-1)!) : inStage(dest);
          mkdirSync(dirname(target), { recursive: true });
          // A stage's node_modules is the symlink made for `npm ci` below: copy the link, not the tree.
          if (lstatSync(src).isSymbolicLink()) symlinkSync(resolve(dirname(src), readlinkSync(src)), target);
          else cpSync(src, target, { recursive: true });
        }
      } else if (op === 'RUN') {
        const cwd = inStage('.');
        if (/^npm ci\b/.test(args)) {
          // Instead of `npm ci` (no registry here, and minutes of install), the repository's own
          // node_modules is symlinked in: same lockfile, so the same packages. Because this also
          // holds devDependencies, the `--omit=dev` stage is checked separately: every package the
          // compiled gateway imports must be a production dependency (test below).
          symlinkSync(join(REPO, 'node_modules'), join(cwd, 'node_modules'));
          r.ran.push(`${stage.name}: ${args} → symlinked node_modules`);
        } else if (/^npx tsc\b/.test(args)) {
          const started = Date.now();
          try {
            await run(join(cwd, 'node_modules/.bin/tsc'), args.split(/\s+/).slice(2), { cwd });
          } catch (err) {
            const e = err as { stdout?: string; stderr?: string };
            throw new Error(`the build stage's ${args} fails:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
          }
          r.tscMs = Date.now() - started;
          r.ran.push(`${stage.name}: ${args}`);
        } else if (/^mkdir -p \S+ && node -e /.test(args)) {
          // A build step in Node (the RDS CA bundle): run as written, in the stage's directory.
          await run('sh', ['-c', args], { cwd, env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` } });
          r.ran.push(`${stage.name}: ${args.slice(0, 40)}…`);
        } else if (index === stages.length - 1 && args.split('&&').every((part) => /^(groupadd|useradd|mkdir|chown|chmod)\s/.test(part.trim()))) {
          r.skipped.push(args); // OS user and directory setup: nothing to rehearse outside a container
        } else {
          throw new Error(`the rehearsal does not know how to replay RUN ${args} (stage ${stage.name}): teach it`);
        }
      }
    }
    r.workdir[stage.name] = workdir;
  }
  return r;
}

// ---- the task definition CDK renders for the image ----------------------------------------------

interface Synthesized {
  context: string;
  dockerfile: string;
  command: string;
  healthCheck: string[];
  user: string;
  mounts: string[];
  synthMs: number;
}

function synthFleet(): Synthesized {
  const started = Date.now();
  const outdir = join(root, 'cdk.out');
  const app = new App({ outdir });
  const stack = new Stack(app, 'Rehearsal', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0', vpcCidrBlock: '10.0.0.0/16', availabilityZones: ['eu-west-1a'],
    privateSubnetIds: ['subnet-0123456789abcdef0'], privateSubnetRouteTableIds: ['rtb-0123456789abcdef0'],
  });
  new ProxyFleet(stack, 'Fleet', {
    vpc,
    taskSubnets: { subnets: vpc.privateSubnets },
    key: new kms.Key(stack, 'Key'),
    logRetention: logs.RetentionDays.ONE_WEEK,
    config: {},
    environment: {},
    listenerTlsSecret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Tls', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tls-AbCdEf'),
  });
  app.synth();
  const assets = JSON.parse(readFileSync(join(outdir, 'Rehearsal.assets.json'), 'utf8'));
  const [image] = Object.values(assets.dockerImages) as Array<{ source: { directory: string; dockerFile: string } }>;
  const template = JSON.parse(readFileSync(join(outdir, 'Rehearsal.template.json'), 'utf8'));
  const task = Object.values(template.Resources).find((x: any) => x.Type === 'AWS::ECS::TaskDefinition') as any;
  const container = task.Properties.ContainerDefinitions[0];
  assert.deepEqual(container.EntryPoint, ['sh', '-c']);
  return {
    context: join(outdir, image!.source.directory),
    dockerfile: join(outdir, image!.source.directory, image!.source.dockerFile),
    command: container.Command.join(' '),
    healthCheck: container.HealthCheck.Command,
    user: container.User,
    mounts: container.MountPoints.map((m: any) => m.ContainerPath),
    synthMs: Date.now() - started,
  };
}

// ---- fixtures -----------------------------------------------------------------------------------

let synth: Synthesized;
let rehearsal: Rehearsal;
let runtimeDir: string;

before(async () => {
  synth = synthFleet();
  rehearsal = await rehearse(synth.dockerfile, synth.context);
  const final = rehearsal.stages.at(-1)!;
  runtimeDir = join(rehearsal.fsRoot[final.name]!, rehearsal.workdir[final.name]!);
  process.stdout.write(
    `# rehearsal: synth (build context) ${synth.synthMs} ms; build-stage tsc ${rehearsal.tscMs} ms; ran: ${rehearsal.ran.join('; ')}; skipped: ${rehearsal.skipped.join('; ')}\n`,
  );
});
after(() => {
  child?.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

// ---- tests --------------------------------------------------------------------------------------

test('the Dockerfile: multi-stage, a numeric non-root user, an entrypoint running the compiled CLI', () => {
  const stages = rehearsal.stages;
  assert.ok(stages.length >= 2, `multi-stage (${stages.length} FROM)`);
  const final = stages.at(-1)!;
  const user = last(final, 'USER');
  const m = /^(\d+)(?::(\d+))?$/.exec(user ?? '');
  assert.ok(m, `the final stage's USER is numeric (a name cannot be checked for non-root by the runtime): ${user}`);
  assert.notEqual(Number(m[1]), 0, 'not root');
  if (m[2] !== undefined) assert.notEqual(Number(m[2]), 0, 'not the root group');
  assert.equal(synth.user, user, 'the task definition runs as the image\'s user');
  assert.ok(rehearsal.skipped.some((s) => s.includes(`--uid ${m[1]}`)), 'the user is created with that uid');
  const entrypoint = JSON.parse(last(final, 'ENTRYPOINT') ?? 'null') as string[];
  assert.deepEqual(entrypoint, ['node', 'dist/fargate-proxy/src/cli/main.js']);
  const exposed = (last(final, 'EXPOSE') ?? '').split(/\s+/).map(Number);
  for (const port of Object.values(CONTAINER_PORTS)) assert.ok(exposed.includes(port), `EXPOSE ${port}`);
  assert.ok(final.instructions.some((i) => i.op === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)), 'NODE_ENV=production');
});

test('the build stage compiles only what it copies, and the runtime layout holds what the gateway runs', () => {
  const build = rehearsal.stages.find((s) => s.instructions.some((i) => i.op === 'RUN' && i.args.startsWith('npx tsc')))!;
  const dist = join(rehearsal.fsRoot[build.name]!, rehearsal.workdir[build.name]!, 'dist');
  assert.deepEqual(readdirSync(dist).sort(), ['core', 'fargate-proxy'], 'tests, infrastructure and Lambdas are not in the image');
  assert.deepEqual(readdirSync(join(dist, 'fargate-proxy')), ['src']);
  assert.deepEqual(readdirSync(runtimeDir).sort(), ['certs', 'dist', 'node_modules', 'package.json', 'policies']);
  assert.ok(statSync(join(runtimeDir, 'dist/fargate-proxy/src/cli/main.js')).isFile());
  assert.equal(JSON.parse(readFileSync(join(runtimeDir, 'package.json'), 'utf8')).type, 'module', 'the compiled .js files are ES modules');
  // The stack's default policy file (airlock:policyFile, /app/policies/production-example.cedar) is in the image.
  assert.ok(existsSync(join(runtimeDir, 'policies/production-example.cedar')));
  assert.equal(join(rehearsal.workdir[rehearsal.stages.at(-1)!.name]!, 'policies/production-example.cedar'), '/app/policies/production-example.cedar');
});

test('the image ships the Amazon RDS CA bundle where the rendered targets point, and trusts only those CAs', async () => {
  const bundle = readFileSync(join(runtimeDir, 'certs/rds-ca-bundle.pem'), 'utf8');
  const certs = bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  assert.ok(certs.length >= 100, `the regional RDS roots and RDS Proxy CAs (${certs.length})`);
  const { X509Certificate } = await import('node:crypto');
  const subjects = certs.map((c) => new X509Certificate(c).subject);
  assert.ok(subjects.some((s) => /CN=Amazon RDS eu-west-1 Root CA RSA2048 G1/.test(s)), 'a current (2021+) regional root is in it');
  // Amazon's own CAs; RDS Proxy presents certificates from Amazon Trust Services (Starfield Services root).
  assert.ok(subjects.every((s) => /O=Amazon|CN=Starfield Services Root Certificate Authority - G2/.test(s)), 'nothing but Amazon CAs');
  assert.equal(join(rehearsal.workdir[rehearsal.stages.at(-1)!.name]!, 'certs/rds-ca-bundle.pem'), CONTAINER_PATHS.rdsCaBundle);
});

test('the task\'s writable places are volumes the image owns as the gateway\'s user', () => {
  const final = rehearsal.stages.at(-1)!;
  const volumes = JSON.parse(last(final, 'VOLUME') ?? '[]') as string[];
  assert.deepEqual([...synth.mounts].sort(), [...volumes].sort(), 'every task mount is a declared VOLUME (Fargate seeds it from the image)');
  const setup = final.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
  const uid = /--uid (\d+)/.exec(setup)![1]!;
  assert.equal(synth.user, `${uid}:${uid}`);
  for (const dir of volumes) {
    assert.match(setup, new RegExp(`mkdir -p [^&]*${dir}\\b`), `${dir} is created in the image`);
    assert.match(setup, new RegExp(`chown airlock:airlock [^&]*${dir}\\b`), `${dir} belongs to the gateway's user`);
  }
  const from = rehearsal.stages.map((s) => s.from);
  assert.ok(from.every((f) => f === '${NODE_IMAGE}'), 'one base image for every stage');
  assert.match(readFileSync(join(REPO, 'fargate-proxy/Dockerfile'), 'utf8'), /^ARG NODE_IMAGE=node:24-bookworm-slim$/m, 'Node 24 by default');
});

test('the compiled gateway imports only production dependencies (the runtime stage runs npm ci --omit=dev)', () => {
  const pkg = JSON.parse(readFileSync(join(runtimeDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const builtins = new Set(builtinModules);
  const imported = new Map<string, string>();
  const staticImporters = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.js')) {
        // Static imports and re-exports (tsc keeps them at the start of a line), bare imports, import().
        const js = readFileSync(path, 'utf8');
        const statics = [
          ...js.matchAll(/^(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm),
          ...js.matchAll(/^import\s*['"]([^'"]+)['"]/gm),
        ];
        for (const m of statics) {
          if (m[1]!.startsWith('.') || m[1]!.startsWith('node:')) continue;
          const pkgName = m[1]!.startsWith('@') ? m[1]!.split('/').slice(0, 2).join('/') : m[1]!.split('/')[0]!;
          staticImporters.set(pkgName, [...(staticImporters.get(pkgName) ?? []), path]);
        }
        const specs = [...statics, ...js.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)];
        for (const m of specs) {
          const spec = m[1]!;
          if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          imported.set(name, relative(runtimeDir, path));
        }
      }
    }
  };
  walk(join(runtimeDir, 'dist'));
  assert.ok(imported.size > 5, `found the gateway's imports: ${[...imported.keys()]}`);
  const missing = [...imported].filter(([name]) => !(name in pkg.dependencies)).map(([name, file]) => `${name} (${file})`);
  assert.deepEqual(missing, [], 'imported at run time but not a production dependency');
  // The demo-only packages the runtime stage uninstalls are loaded with import() only, never statically.
  const deps = rehearsal.stages.find((st) => st.instructions.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args)))!;
  const removed = deps.instructions.flatMap((i) => /npm uninstall ((?:--\S+\s+)*)([^&]+)/.exec(i.args)?.[2]?.trim().split(/\s+/) ?? []);
  assert.deepEqual(removed.sort(), ['@electric-sql/pglite', '@electric-sql/pglite-socket', 'oidc-provider']);
  // What loads at start: the entrypoint and every module it reaches by static imports.
  const loaded = new Set<string>();
  const visit = (file: string) => {
    if (loaded.has(file)) return;
    loaded.add(file);
    const js = readFileSync(file, 'utf8');
    for (const m of js.matchAll(/^(?:import|export)\b[^;'"]*?\bfrom\s*['"](\.[^'"]+)['"]|^import\s*['"](\.[^'"]+)['"]/gm)) visit(resolve(dirname(file), m[1] ?? m[2]!));
  };
  visit(join(runtimeDir, 'dist/fargate-proxy/src/cli/main.js'));
  assert.ok(loaded.size > 20, `the start-up graph (${loaded.size} modules)`);
  for (const name of removed) {
    const importers = [...(staticImporters.get(name) ?? [])].filter((f) => loaded.has(f));
    assert.deepEqual(importers.map((f) => relative(runtimeDir, f)), [], `${name} is loaded at start: the image without it would not start`);
  }
});

test('the task\'s entrypoint writes its files to task volumes and starts the gateway from the runtime layout', async () => {
  // Every absolute path the command writes is on a mounted volume (the root filesystem is read-only).
  const written = [...synth.command.matchAll(/(?:>|mkdir -p)\s+((?:\/[\w.-]+)+(?:\s+\/[\w./-]+)*)/g)].flatMap((m) => m[1]!.split(/\s+/));
  assert.ok(written.length >= 4, synth.command);
  for (const path of written) assert.ok(synth.mounts.some((mount) => path === mount || path.startsWith(`${mount}/`)), `${path} is on a task volume (${synth.mounts})`);
  for (const path of synth.command.match(/\bdist\/\S+/g) ?? []) assert.ok(existsSync(join(runtimeDir, path)), `${path} exists in the image`);

  // A throwaway certificate for the HTTPS console, delivered as ECS would: environment → files.
  const certs = join(root, 'certs');
  mkdirSync(certs);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(certs, 'key.pem'), '-out', join(certs, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(join(certs, 'cert.pem'), 'utf8');

  // The task volumes, relocated under the rehearsal directory (one pass: no path is rewritten twice).
  const relocate = (s: string) => s.replace(/\/etc\/airlock|\/tmp\/airlock/g, (p) => `${root}${p}`);
  const at = (path: string) => relocate(path);
  const config = {
    dataDir: at(CONTAINER_PATHS.dataDir),
    logLevel: 'warn',
    listeners: {
      postgres: { host: '127.0.0.1', port: 0, tls: { certFile: at(CONTAINER_PATHS.tlsCert), keyFile: at(CONTAINER_PATHS.tlsKey) } },
      console: { host: '127.0.0.1', port: 0, tls: { certFile: at(CONTAINER_PATHS.tlsCert), keyFile: at(CONTAINER_PATHS.tlsKey) } },
      health: { host: '127.0.0.1', port: 0 },
    },
    identity: {
      issuer: 'http://127.0.0.1',
      audience: 'urn:airlock',
      localIssuer: { port: 0, clients: [{ clientId: 'reviewer', clientSecret: 'reviewer-secret-0123456789', groups: ['reviewers'] }] },
    },
    // Nothing is contacted upstream until an agent connects.
    targets: [{ name: 'app', kind: 'postgres', host: '127.0.0.1', port: 9, database: 'app', user: 'app', credential: 'env:AIRLOCK_UNUSED', tls: { mode: 'disable' } }],
    policy: { file: join(runtimeDir, 'policies/production-example.cedar') },
  };
  const started = Date.now();
  child = spawn('sh', ['-c', relocate(synth.command)], {
    cwd: runtimeDir,
    // The container's environment only: not this test runner's (no tsx loader, no dev settings).
    env: {
      PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      NODE_ENV: 'production',
      AIRLOCK_DRAIN_SECONDS: '110',
      AIRLOCK_CONFIG: JSON.stringify(config),
      AIRLOCK_TLS_CERT: cert,
      AIRLOCK_TLS_KEY: readFileSync(join(certs, 'key.pem'), 'utf8'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no readiness lines after 20 s\nstdout: ${stdout}\nstderr: ${stderr}`)), 20_000);
    child!.stdout!.on('data', (d) => {
      stdout += d;
      if (/airlock: health at /.test(stdout) && /airlock: console at /.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`the gateway exited (${code}) before it was ready\nstdout: ${stdout}\nstderr: ${stderr}`)));
  });
  const readyMs = Date.now() - started;
  const healthUrl = /airlock: health at (\S+)/.exec(stdout)![1]!;
  const consoleUrl = /airlock: console at (\S+)/.exec(stdout)![1]!;

  const health = await fetch(healthUrl);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { ok: boolean }).ok, true);
  // The image's HEALTHCHECK and the task definition's health check, run as written (port aside).
  const final = rehearsal.stages.at(-1)!;
  const dockerCheck = JSON.parse((last(final, 'HEALTHCHECK') ?? '').replace(/^.*?\bCMD\s+/, '')) as string[];
  for (const [who, cmd] of [['Dockerfile HEALTHCHECK', dockerCheck], ['task definition', synth.healthCheck.slice(1)]] as const) {
    assert.equal(cmd[0], 'node', who);
    const script = cmd.slice(1).map((a) => a.replace(`:${CONTAINER_PORTS.health}/`, `:${new URL(healthUrl).port}/`));
    assert.notDeepEqual(script, cmd.slice(1), `${who} checks port ${CONTAINER_PORTS.health}, the rendered health listener's`);
    await run(process.execPath, script, { cwd: runtimeDir, timeout: 10_000 }); // rejects on a non-zero exit
  }
  // The HTTPS console from the compiled code, trusting only the certificate the entrypoint wrote.
  const page = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    https.get(new URL('/', consoleUrl), { ca: cert, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  assert.equal(page.status, 200);
  assert.match(page.body, /Airlock console/);
  // The secrets left the gateway's environment (exec env -u …) once written to the volume.
  const environ = `/proc/${child.pid}/environ`;
  if (existsSync(environ)) {
    const env = readFileSync(environ, 'utf8').split('\0');
    for (const name of ['AIRLOCK_CONFIG', 'AIRLOCK_TLS_CERT', 'AIRLOCK_TLS_KEY']) assert.ok(!env.some((e) => e.startsWith(`${name}=`)), `${name} removed`);
  }
  assert.equal(statSync(at(CONTAINER_PATHS.tlsKey)).mode & 0o077, 0, 'the key file is owner-only');

  // SIGTERM (ECS stopping the task) reaches node itself (exec), which drains and exits 0.
  const stopping = Date.now();
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
  assert.equal(code, 0, `exit code after SIGTERM\nstderr: ${stderr}`);
  child = undefined;
  process.stdout.write(`# rehearsal: gateway ready in ${readyMs} ms, stopped in ${Date.now() - stopping} ms\n`);
  writeFileSync(join(root, 'done'), '');
});
