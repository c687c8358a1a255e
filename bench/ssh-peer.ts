// The SSH gateway for bench/ssh.ts: `airlock serve` compiled as deployed (bench/build.ts), in its
// own process, so the clients driving it do not share its event loop and its CPU time can be read
// from /proc. Configured like any deployment: an SSH listener with its own host key, one SSH
// target pinned to the test sshd's host key, the embedded issuer, a Cedar policy file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSshHostKey } from '../test/support/ssh-host-key.js';
import { benchConfigBase, serveAirlock, type ServedAirlock } from './peers.js';
import type { RunningSshd } from '../test/support/sshd.js';

/** Starts the gateway for target `box` (the sshd's user, its key held in the gateway's environment only). */
export async function sshGateway(sshd: RunningSshd, policy: string): Promise<ServedAirlock> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-ssh-'));
  const hostKeyFile = join(dir, 'gateway_host_ed25519');
  writeFileSync(hostKeyFile, generateSshHostKey(), { mode: 0o600 });
  const config = {
    ...(await benchConfigBase(dir, policy, ['agents'])),
    listeners: { ssh: { host: '127.0.0.1', port: 0, hostKeyFiles: [hostKeyFile] } },
    targets: [
      { name: 'box', kind: 'ssh', environment: 'bench', host: sshd.host, port: sshd.port, user: sshd.user, credential: 'env:AIRLOCK_BENCH_SSH_KEY', hostKeys: [sshd.hostKeyLine] },
    ],
  };
  return serveAirlock(dir, config, { AIRLOCK_BENCH_SSH_KEY: sshd.clientKey }, 'ssh');
}
