// Builds an SSH gateway context the way fargate-proxy/src/gateway.ts builds one (local issuer,
// token verifier, compiled Cedar policy, local audit sink, secrets router, local approvals) and
// starts the SSH listener on a random loopback port, plus helpers to run the real ssh client.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { generateSshHostKey } from './ssh-host-key.js';
import { createTokenVerifier } from '../../core/identity/index.js';
import { compilePolicySet } from '../../core/policy/index.js';
import type { AuditRecord } from '../../core/audit/events.js';
import { createMasker, type MaskingConfig } from '../../core/mask/index.js';
import { startLocalIssuer, requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { createLocalApprovalService, type LocalApprovalDesk } from '../../fargate-proxy/src/adapters/local/approval-service.js';
import { MemorySecretStore } from '../../fargate-proxy/src/adapters/local/secrets.js';
import { SecretRouter } from '../../fargate-proxy/src/ports/secrets.js';
import { startSshListener, type SshGatewayContext, type SshTarget } from '../../fargate-proxy/src/protocols/ssh/index.js';
import type { RunningSshd } from './sshd.js';

export const SSH_AGENT = { clientId: 'ssh-agent', clientSecret: 'ssh-agent-secret-0123456789', groups: ['agents'] };
export const SSH_REVIEWER = { clientId: 'ssh-reviewer', clientSecret: 'ssh-reviewer-secret-0123456789', groups: ['reviewers'] };
const AUDIENCE = 'urn:airlock';

export interface TestSshGateway {
  port: number;
  approvals: LocalApprovalDesk;
  /** The gateway's temporary directory: audit log, recordings, the debug log when `logFile` was asked for. */
  dataDir: string;
  /** Where shell recordings go when `recordings` was asked for. */
  recordingsDir?: string;
  token(client?: { clientId: string; clientSecret: string }): Promise<string>;
  /** Every audit record written so far, all sessions. */
  auditRecords(): Promise<AuditRecord[]>;
  stop(): Promise<void>;
}

export function sshTarget(sshd: RunningSshd, overrides: Partial<SshTarget['upstream']> = {}): SshTarget {
  return {
    info: { name: 'box', kind: 'ssh', environment: 'test', tags: {} },
    upstream: { host: sshd.host, port: sshd.port, user: sshd.user, credentialType: 'privateKey', hostKeys: [sshd.hostKeyLine], connectTimeoutMs: 10_000, ...overrides },
    credentialRef: 'memory:box-key',
  };
}

export interface TestSshGatewayOptions {
  /** Bytes of each response (and shell recording) kept inline in the audit; 0 by default. */
  responseCapBytes?: number;
  /** Keep shell recordings as files under the gateway's temporary directory. */
  recordings?: boolean;
  /** Output masking (the gateway's masker); absent: output passes unchanged. */
  masking?: MaskingConfig;
  /** Write the gateway's log at trace level to `<dataDir>/gateway.log` (default: silent). */
  logFile?: boolean;
  /** More secrets for the memory store, by name (`memory:<name>`). */
  secrets?: Record<string, string>;
}

export async function startTestSshGateway(sshd: RunningSshd, policy: string, targets: SshTarget[] = [sshTarget(sshd)], o: TestSshGatewayOptions = {}): Promise<TestSshGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sshgw-'));
  const log = o.logFile ? pino({ level: 'trace' }, pino.destination({ dest: join(dir, 'gateway.log'), sync: true })) : pino({ level: 'silent' });
  const issuer = await startLocalIssuer({ host: '127.0.0.1', port: 0, audience: AUDIENCE, clients: [SSH_AGENT, SSH_REVIEWER] });
  const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE, jwksUri: issuer.jwksUri });
  const audit = await createLocalAuditSink({ dir: join(dir, 'audit'), ack: 'local', responseCapBytes: o.responseCapBytes ?? 0 });
  const memory = new MemorySecretStore();
  memory.set('box-key', sshd.clientKey);
  for (const [name, value] of Object.entries(o.secrets ?? {})) memory.set(name, value);
  const approvals = createLocalApprovalService({ reviewerGroups: ['reviewers'], timeoutMs: 30_000, reviewBaseUrl: 'http://127.0.0.1/console' });
  const engine = compilePolicySet(policy);
  const ctx: SshGatewayContext = {
    log,
    verifier,
    policy: () => engine,
    secrets: new SecretRouter({ memory }),
    audit,
    approvals,
    sshTargets: new Map(targets.map((t) => [t.info.name, t])),
    recordingsDir: o.recordings ? join(dir, 'recordings') : undefined,
    masker: o.masking ? createMasker(o.masking) : undefined,
  };
  const hostKey = generateSshHostKey();
  const listener = await startSshListener(ctx, { host: '127.0.0.1', port: 0, hostKeys: [hostKey] });
  const reader = createLocalAuditReader(join(dir, 'audit'));
  return {
    port: listener.port,
    dataDir: dir,
    approvals,
    recordingsDir: ctx.recordingsDir,
    token: (client = SSH_AGENT) => requestClientCredentialsToken({ tokenEndpoint: issuer.tokenEndpoint, clientId: client.clientId, clientSecret: client.clientSecret, audience: AUDIENCE }),
    auditRecords: async () => {
      const out: AuditRecord[] = [];
      for (const id of await reader.sessionIds()) for (const e of (await reader.readSession(id)) ?? []) if (!('unparsable' in e)) out.push(e);
      return out;
    },
    stop: async () => {
      await listener.close();
      await approvals.close();
      await audit.close();
      await issuer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a real OpenSSH client program; `password` is fed by sshpass through the environment, never argv. */
export function runClient(program: 'ssh' | 'scp' | 'sftp', args: string[], o: { password?: string; input?: string | Buffer; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  const argv = o.password !== undefined ? ['-e', program, ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(o.password !== undefined ? 'sshpass' : program, argv, {
      env: { ...process.env, ...o.env, ...(o.password !== undefined ? { SSHPASS: o.password } : {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

/** ssh options for the gateway: password only, no host key pinning in tests (the gateway key is fresh). */
export function gatewaySshArgs(port: number, target = 'box'): string[] {
  return ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive', '-o', 'NumberOfPasswordPrompts=1', '-o', 'LogLevel=ERROR', '-p', String(port), `${target}@127.0.0.1`];
}

/** ssh options for a direct connection to the test sshd with the gateway's key. */
export function directSshArgs(sshd: RunningSshd): string[] {
  return ['-i', sshd.clientKeyFile, '-o', `UserKnownHostsFile=${sshd.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-p', String(sshd.port), `${sshd.user}@127.0.0.1`];
}
