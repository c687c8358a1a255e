// Starts a real OpenSSH server for tests: temporary host and client keys, a dedicated test user,
// a random loopback port. The gateway logs in with the client key; tests compare against direct ssh.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SSH_TEST_USER = 'airlock-sshtest';
const SSHD = '/usr/sbin/sshd';

export interface RunningSshd {
  host: string;
  port: number;
  user: string;
  /** The gateway's credential (OpenSSH private key); tests keep it out of any output. */
  clientKey: string;
  clientKeyFile: string;
  /** `ssh-ed25519 AAAA…` of the server. */
  hostKeyLine: string;
  knownHostsFile: string;
  /** A directory the test user may write, for observing side effects. */
  workDir: string;
  stop(): Promise<void>;
}

export function sshdAvailable(): boolean {
  try {
    execFileSync(SSHD, ['-V'], { stdio: 'ignore' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
  }
  return process.getuid?.() === 0;
}

/** For `test(..., { skip })`: false where the SSH tests can run, else why not (one message for every SSH suite). */
export function sshSkipReason(): false | string {
  return sshdAvailable() ? false : 'needs root and /usr/sbin/sshd with ssh, sshpass, ssh-agent and xauth (apt-get install openssh-server openssh-client sshpass xauth)';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function ensureUser(): { uid: number; gid: number } {
  try {
    execFileSync('id', ['-u', SSH_TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/bash', SSH_TEST_USER], { stdio: 'ignore' });
  }
  // Without PAM, sshd refuses locked accounts ("!" password): "*" is "no password", not locked.
  execFileSync('usermod', ['-p', '*', SSH_TEST_USER], { stdio: 'ignore' });
  const uid = Number(execFileSync('id', ['-u', SSH_TEST_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', SSH_TEST_USER]).toString().trim());
  return { uid, gid };
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen: ${stderr()}`);
}

export interface SshdOptions {
  /** Let clients forward X11 (the target then needs xauth). */
  x11?: boolean;
}

export async function startSshd(o: SshdOptions = {}): Promise<RunningSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sshd-'));
  chmodSync(dir, 0o755);
  const { uid, gid } = ensureUser();
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'airlock-test', '-f', file], { stdio: 'ignore' });
  keygen(join(dir, 'host_ed25519'));
  keygen(join(dir, 'client_ed25519'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')));
  const workDir = join(dir, 'work');
  mkdirSync(workDir);
  chownSync(workDir, uid, gid);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation directory
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AllowUsers ${SSH_TEST_USER}`,
      'PermitRootLogin no',
      'AllowTcpForwarding yes',
      `X11Forwarding ${o.x11 ? 'yes' : 'no'}`,
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  let stderr = '';
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d) => (stderr += d));
  await waitForPort(port, child, () => stderr);
  const hostKeyLine = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim();
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKeyLine}\n`);
  return {
    host: '127.0.0.1',
    port,
    user: SSH_TEST_USER,
    clientKey: readFileSync(join(dir, 'client_ed25519'), 'utf8'),
    clientKeyFile: join(dir, 'client_ed25519'),
    hostKeyLine,
    knownHostsFile,
    workDir,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
