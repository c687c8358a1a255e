// The gateway with its Kubernetes listener in front of the test API server, and the real kubectl
// run against it with a kubeconfig in a temporary directory.
import { spawn } from 'node:child_process';
import { existsSync as kubectlExists, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from './gateway.js';
import { makeTestCertificate } from './http-upstream.js';
import { startKubeApiServer, type FakeKubeApiServer, type UpgradeHandler } from './kube-apiserver/index.js';

/** The cluster's own credential: it must never reach the agent. */
export const CLUSTER_TOKEN = 'cluster-sa-token-7f3c9a51e2b84d06a1c5';
export const KUBE_POLICY = readFileSync(new URL('../../policies/kubernetes.cedar', import.meta.url), 'utf8');

export interface KubeTestGateway extends TestGateway {
  kubePort: number;
  api: FakeKubeApiServer;
  /** The listener's CA (PEM): kubectl sends bearer tokens over TLS only. */
  ca: Buffer;
  server: string;
  /** Writes a kubeconfig for the target with this bearer token and returns its path. */
  kubeconfig(token: string, name?: string): string;
}

export async function startKubeTestGateway(o: { policy?: string; listener?: Record<string, unknown>; target?: Record<string, unknown>; upgrade?: UpgradeHandler[]; config?: (raw: Record<string, unknown>) => void } = {}): Promise<KubeTestGateway> {
  const api = await startKubeApiServer({ token: CLUSTER_TOKEN, upgrade: o.upgrade });
  const tls = makeTestCertificate();
  const ca = tls.ca;
  const gw = await startTestGateway(undefined, {
    targets: [{ kind: 'kubernetes', name: 'kube', environment: 'test', server: api.url, credential: { type: 'token', secret: 'memory:kube' }, ...o.target }],
    policy: o.policy ?? KUBE_POLICY,
    memorySecrets: { kube: CLUSTER_TOKEN },
    config: (raw) => {
      raw.listeners = {
        postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true },
        console: { host: '127.0.0.1', port: 0 },
        kubernetes: { host: '127.0.0.1', port: 0, tls: { certFile: tls.certFile, keyFile: tls.keyFile }, ...o.listener },
      };
      raw.approvals = { reviewerGroups: ['reviewers'], timeoutSeconds: 120 };
      o.config?.(raw);
    },
  });
  const kubePort = gw.gw.kubernetes!.port;
  let n = 0;
  const server = `https://127.0.0.1:${kubePort}/kube`;
  return {
    ...gw,
    kubePort,
    api,
    ca,
    server,
    kubeconfig(token, name = `kubeconfig-${++n}`) {
      const file = join(gw.dir, name);
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'airlock', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
          users: [{ name: 'agent', user: { token } }],
          contexts: [{ name: 'airlock', context: { cluster: 'airlock', user: 'agent', namespace: 'default' } }],
          'current-context': 'airlock',
        }),
        { mode: 0o600 },
      );
      return file;
    },
    stop: async () => {
      await gw.stop();
      await api.close();
      rmSync(tls.dir, { recursive: true, force: true });
    },
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs /usr/bin/kubectl with a kubeconfig, its caches in the gateway's temporary directory. */
export function kubectl(gw: KubeTestGateway, kubeconfig: string, args: string[], o: { input?: string; timeoutMs?: number; onStdout?: (s: string) => void; signal?: AbortSignal } = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(gw.dir, 'kube-cache'), ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: gw.dir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      o.onStdout?.(stdout);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    o.signal?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

/** kubectl comes with this machine's image, not from Debian: tests that run it skip, saying so, where it is absent. */
export const KUBECTL_MISSING: string | false = kubectlExists('/usr/bin/kubectl') ? false : 'kubectl is not installed at /usr/bin/kubectl (it is not a Debian package)';
