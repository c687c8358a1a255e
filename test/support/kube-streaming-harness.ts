// Plays the Kubernetes engine's part for the streaming handler, through the contract alone: an
// HTTP server on a random loopback port that takes pod exec/attach/portforward upgrades, names the
// principal from the agent's bearer token, and hands the request to handleStreamingUpgrade with a
// real audit sink (adapters/local), a real Cedar evaluation (the Airlock schema, streaming actions
// included), the masker and a recordings directory.
// In front of it sits a byte tap: everything the agent's client received is kept, so a test can
// look for the upstream credential in it.
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import { KubeConfig } from '@kubernetes/client-node';
import { createLocalAuditSink, type LocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { auditPrincipal, newAuditSessionId } from '../../core/audit/events.js';
import type { AuditRecord } from '../../core/audit/events.js';
import { createMasker } from '../../core/mask/index.js';
import { AIRLOCK_SCHEMA } from '../../core/policy/schema.js';
import { analysePolicySet } from '../../core/policy/compile.js';
import { toDecision } from '../../core/policy/decide.js';
import { cedarRequest, type ActionId } from '../../core/policy/request.js';
import type { Principal, TargetInfo } from '../../core/model.js';
import { handleStreamingUpgrade } from '../../fargate-proxy/src/protocols/kubernetes/streaming/index.js';
import type { StreamingContext, StreamingDecisionRequest, StreamingVerdict } from '../../fargate-proxy/src/protocols/kubernetes/streaming/contract.js';
import { startKubeExecUpstream, type KubeExecUpstream } from './kube-exec-upstream.js';
import { makeTestCertificate } from './http-upstream.js';
import { createLocalApprovalService, type LocalApprovalDesk } from '../../fargate-proxy/src/adapters/local/approval-service.js';

/** The gateway's own schema, which declares k8s_exec and k8s_portforward as contract.ts states them. */
export const STREAMING_TEST_SCHEMA = AIRLOCK_SCHEMA;

export interface StreamingHarness {
  /** The tap's URL: what a client connects to. */
  url: string;
  upstream: KubeExecUpstream & { url: string };
  upstreamToken: string;
  /** A kubeconfig file for `kubectl` with this bearer token. */
  kubeconfigFile(token: string): string;
  /** A kubeconfig for the agent with this bearer token. */
  kubeConfig(token: string): KubeConfig;
  /** Every byte the harness sent to any client so far. */
  received(): Buffer;
  auditDir: string;
  recordingsDir: string;
  sink: LocalAuditSink;
  /** The reviewers' desk (group "reviewers"). */
  approvals: LocalApprovalDesk;
  /** The events of every session so far, in order. */
  events(): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  policy: string;
  /** Agent bearer token → principal. */
  agents: Record<string, Principal>;
  target?: TargetInfo;
  masking?: boolean;
  /** Serve HTTPS (a throwaway CA, in the kubeconfig): kubectl sends no bearer token over plain HTTP. The tap then sees ciphertext. */
  tls?: boolean;
}

export async function startStreamingHarness(o: HarnessOptions): Promise<StreamingHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-streaming-'));
  const auditDir = join(dir, 'audit');
  const recordingsDir = join(dir, 'recordings');
  const upstreamToken = `up-${Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString('base64url')}`;
  const upstream = await startKubeExecUpstream({ token: upstreamToken });
  const sink = await createLocalAuditSink({ dir: auditDir, ack: 'local', responseCapBytes: 1024 * 1024 });
  const analysis = analysePolicySet(o.policy, STREAMING_TEST_SCHEMA);
  if (!analysis.ok) throw new Error(`test policy: ${analysis.errors.join('; ')}`);
  // Preparsed once, as the gateway's policy engine does (parsing the schema per decision costs ~100 ms).
  const schemaName = `k8s-streaming-test-schema:${createHash('sha256').update(STREAMING_TEST_SCHEMA).digest('hex')}`;
  const policySetId = `k8s-streaming-test-policy:${createHash('sha256').update(o.policy).digest('hex')}`;
  for (const r of [cedar.preparseSchema(schemaName, STREAMING_TEST_SCHEMA), cedar.preparsePolicySet(policySetId, { staticPolicies: analysis.policies })]) {
    if (r.type === 'failure') throw new Error(`test policy: ${r.errors.map((e) => e.message).join('; ')}`);
  }
  const target: TargetInfo = o.target ?? { name: 'cluster', kind: 'kube', environment: 'test', tags: {} };
  const masker = o.masking === false ? undefined : createMasker({ enabled: true, detectors: {}, columnRules: [] });
  const log = pino({ level: 'silent' });

  const approvals = createLocalApprovalService({ reviewerGroups: ['reviewers'] });
  // The engine's decide: Cedar, then a reviewer when policy asks (the stream stays open meanwhile).
  const decide = (principal: Principal, sessionId: string) => async (r: StreamingDecisionRequest): Promise<StreamingVerdict> => {
    const request = cedarRequest(principal, target, r.action as ActionId, r.context as unknown as cedar.Context);
    const answer = cedar.statefulIsAuthorized({ ...request, preparsedSchemaName: schemaName, preparsedPolicySetId: policySetId, validateRequest: true });
    const d = toDecision(answer, analysis.info, 'test-policy', `${r.action} on target "${target.name}"`);
    if (d.effect !== 'approve') return { ...d, effect: d.effect };
    const pending = await approvals.request(
      { requester: principal, target, sessionId, statementId: r.statementId, statementText: r.text, statementClass: r.class, policyIds: d.policyIds, shape: r.shape },
      (e) => void sink.append({ type: 'approval', sessionId, statementId: r.statementId, approvalId: e.approvalId, state: e.state as 'pending', reviewer: e.reviewer, reason: e.reason }).catch(() => undefined),
    );
    r.notify?.(`airlock: waiting for approval ${pending.id} (${pending.reviewUrl})`);
    const abort = () => void pending.cancel('the agent went away');
    r.signal?.addEventListener('abort', abort, { once: true });
    const outcome = await pending.outcome;
    r.signal?.removeEventListener('abort', abort);
    if (outcome.state === 'approved') return { ...d, effect: 'allow', reason: `approved by ${outcome.reviewer}`, approvalId: pending.id };
    return { ...d, effect: 'deny', reason: `approval ${outcome.state}: ${outcome.reason}`, approvalId: pending.id };
  };

  const live = new Set<Promise<void>>();
  // kubectl exec/attach first reads the pod (its containers, whether it runs): the one plain request
  // this stand-in answers, with a running pod of one container named "main".
  // kubectl exec/attach resolve "pods" through discovery first: the legacy (unaggregated) documents.
  const discovery: Record<string, unknown> = {
    '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] },
    '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
    '/api/v1': {
      kind: 'APIResourceList',
      groupVersion: 'v1',
      resources: [
        { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
        { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
        { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
        { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      ],
    },
  };
  const cert = o.tls ? makeTestCertificate() : undefined;
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET' && discovery[path]) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(discovery[path]));
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/?]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (req.method !== 'GET' || !m || !o.agents[String(req.headers.authorization ?? '').replace(/^Bearer /, '')]) return void res.writeHead(404).end();
    const pod = {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: decodeURIComponent(m[2]!), namespace: decodeURIComponent(m[1]!), uid: '00000000-0000-0000-0000-000000000001', resourceVersion: '1' },
      spec: { containers: [{ name: 'main', image: 'busybox' }] },
      status: { phase: 'Running', containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'busybox', imageID: '', state: { running: {} } }] },
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(pod));
  };
  const server = cert ? createHttpsServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) }, answer) : createServer(answer);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    const principal = o.agents[token];
    if (!m || !principal) return void socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    const sessionId = newAuditSessionId();
    let n = 0;
    let statements = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    const started = Date.now();
    const ctx: StreamingContext = {
      requestId: `req-${sessionId}`,
      principal,
      target,
      attributes: { resource: 'pods', subresource: m[3]!, namespace: decodeURIComponent(m[1]!), name: decodeURIComponent(m[2]!) },
      decide: decide(principal, sessionId),
      upstream: { baseUrl: upstream.url, headers: { authorization: `Bearer ${upstreamToken}` }, revealing: [upstreamToken] },
      audit: {
        sessionId,
        sink,
        nextStatementId: () => `${sessionId}/${++n}`,
        onBytes: (d, k) => (d === 'in' ? (bytesIn += k) : (bytesOut += k)),
        onStatement: () => statements++,
      },
      masker,
      recordingsDir,
      log,
    };
    const run = (async () => {
      await sink.append({ type: 'session.start', sessionId, principal: auditPrincipal(principal), target: target.name, targetKind: 'kube', client: { address: '127.0.0.1', port: 0 }, protocol: 'kubernetes' });
      await handleStreamingUpgrade(ctx, req, socket, head);
      await sink.append({ type: 'session.end', sessionId, reason: 'request ended', statements, bytesIn, bytesOut, durationMs: Date.now() - started });
    })();
    live.add(run);
    void run.finally(() => live.delete(run));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const gatewayPort = (server.address() as AddressInfo).port;

  // The tap: a plain TCP relay that keeps what the gateway sent to clients.
  const seen: Buffer[] = [];
  const tapSockets = new Set<Socket>();
  const tap = createTcpServer((client) => {
    const gw = connect(gatewayPort, '127.0.0.1');
    tapSockets.add(client).add(gw);
    client.pipe(gw);
    gw.on('data', (d: Buffer) => seen.push(Buffer.from(d)));
    gw.pipe(client);
    const end = () => {
      client.destroy();
      gw.destroy();
      tapSockets.delete(client);
      tapSockets.delete(gw);
    };
    client.on('close', end).on('error', end);
    gw.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => tap.listen(0, '127.0.0.1', resolve));
  const url = `${cert ? 'https' : 'http'}://127.0.0.1:${(tap.address() as AddressInfo).port}`;

  const reader = createLocalAuditReader(auditDir);
  return {
    url,
    upstream,
    upstreamToken,
    auditDir,
    recordingsDir,
    sink,
    approvals,
    received: () => Buffer.concat(seen),
    kubeconfigFile(token) {
      const file = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'gw', cluster: { server: url, ...(cert && { 'certificate-authority-data': cert.ca.toString('base64') }) } }],
          users: [{ name: 'agent', user: { token } }],
          contexts: [{ name: 'gw', context: { cluster: 'gw', user: 'agent' } }],
          'current-context': 'gw',
        }),
        { mode: 0o600 },
      );
      return file;
    },
    kubeConfig(token) {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'gw', server: url, skipTLSVerify: true }],
        users: [{ name: 'agent', token }],
        contexts: [{ name: 'gw', cluster: 'gw', user: 'agent' }],
        currentContext: 'gw',
      });
      return kc;
    },
    async events() {
      const out: AuditRecord[] = [];
      for (const id of await reader.sessionIds()) out.push(...((await reader.readSession(id)) ?? []).filter((e): e is AuditRecord => 'type' in e));
      return out;
    },
    async close() {
      for (const s of tapSockets) s.destroy();
      tap.close();
      server.closeAllConnections();
      server.close();
      upstream.close();
      await Promise.race([Promise.allSettled([...live]), new Promise((r) => setTimeout(r, 2000))]);
      await approvals.close();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
      if (cert) rmSync(cert.dir, { recursive: true, force: true });
    },
  };
}
