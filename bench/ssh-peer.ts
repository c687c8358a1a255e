// The SSH gateway for bench/ssh.ts: `airlock serve` compiled as deployed (bench/build.ts), in its
// own process, so the clients driving it do not share its event loop and its CPU time can be read
// from /proc. Configured like any deployment: an SSH listener with its own host key, one SSH
// target pinned to the test sshd's host key, the embedded issuer, a Cedar policy file.
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { stringify } from 'yaml';
import { compiledScript } from './build.js';
import { freePort, spawnAnnouncing, stopChild } from './peers.js';
import type { RunningSshd } from '../test/support/sshd.js';

const execFileAsync = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;

export interface SshGatewayPeer {
  port: number;
  /** The gateway process, for /proc readings. */
  pid: number;
  /** An access token of the bench client (group `agents`). */
  token: string;
  stop(): Promise<void>;
}

/** Starts the gateway for target `box` (the sshd's user, its key held in the gateway's environment only). */
export async function sshGateway(sshd: RunningSshd, policy: string): Promise<SshGatewayPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-ssh-'));
  const issuerPort = await freePort();
  const clientSecret = `bench-secret-${Math.random().toString(36).slice(2)}-0123456789`;
  const hostKeyFile = join(dir, 'gateway_host_ed25519');
  writeFileSync(hostKeyFile, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
  writeFileSync(join(dir, 'policy.cedar'), policy);
  const config = {
    dataDir: join(dir, 'state'),
    logLevel: 'warn',
    listeners: { ssh: { host: '127.0.0.1', port: 0, hostKeyFiles: [hostKeyFile] } },
    identity: {
      issuer: `http://127.0.0.1:${issuerPort}`,
      audience: 'urn:airlock',
      localIssuer: { port: issuerPort, accessTokenTtlSeconds: 3600, clients: [{ clientId: 'bench', clientSecret, groups: ['agents'] }] },
    },
    targets: [
      { name: 'box', kind: 'ssh', environment: 'bench', host: sshd.host, port: sshd.port, user: sshd.user, credential: 'env:AIRLOCK_BENCH_SSH_KEY', hostKeys: [sshd.hostKeyLine] },
    ],
    policy: { file: join(dir, 'policy.cedar') },
  };
  const configFile = join(dir, 'airlock.yaml');
  writeFileSync(configFile, stringify(config));
  const env = { ...process.env, AIRLOCK_BENCH_SSH_KEY: sshd.clientKey };
  let child: ChildProcess | undefined;
  try {
    const started = await spawnAnnouncing('fargate-proxy/src/cli/main.ts', ['serve', '--config', configFile], /airlock: ssh listening on 127\.0\.0\.1:(\d+)/, 60_000, env);
    child = started.child;
    const { stdout } = await execFileAsync(process.execPath, [compiledScript('fargate-proxy/src/cli/main.ts'), 'token', '--config', configFile, '--client', 'bench'], { cwd: ROOT, env, timeout: 60_000 });
    const c = child;
    return {
      port: started.port,
      pid: c.pid!,
      token: stdout.trim().split('\n').at(-1) ?? '',
      stop: async () => {
        await stopChild(c);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (child) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
