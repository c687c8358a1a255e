import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../../fargate-proxy/src/config/load.js';

const minimal = () => ({
  identity: { issuer: 'https://idp.example.com', audience: 'urn:airlock' },
  targets: [{ name: 'orders', kind: 'postgres', host: 'db.internal', database: 'orders', user: 'agent', credential: 'env:ORDERS_PW' }],
  policy: { file: 'policy.cedar' },
});

test('defaults fill in what a minimal file leaves out', () => {
  const cfg = parseConfig(minimal(), '/etc/airlock');
  assert.equal(cfg.targets[0]!.kind === 'postgres' && cfg.targets[0]!.port, 5432);
  assert.equal(cfg.targets[0]!.environment, 'production');
  assert.equal(cfg.policy.file, '/etc/airlock/policy.cedar', 'relative paths are relative to the config file');
  assert.equal(cfg.masking.enabled, true, 'masking is on unless turned off');
  assert.equal(cfg.approvals.backend, 'local');
  assert.deepEqual(cfg.identity.algorithms, ['RS256', 'ES256', 'EdDSA']);
});

test('an upstream without `tls` is verified TLS; plaintext is only ever an explicit `mode: disable`', () => {
  const t = (tls?: unknown) => {
    const raw = minimal();
    if (tls !== undefined) Object.assign(raw.targets[0]!, { tls });
    const target = parseConfig(raw, '/etc/airlock').targets[0]!;
    assert.equal(target.kind, 'postgres');
    return target.kind === 'postgres' ? target.tls.mode : undefined;
  };
  assert.equal(t(), 'verify-full');
  assert.equal(t({}), 'verify-full');
  assert.equal(t({ caFile: 'ca.pem' }), 'verify-full');
  assert.equal(t({ mode: 'require' }), 'require');
  assert.equal(t({ mode: 'disable' }), 'disable');
});

test('every mistake is reported with the path of its key', () => {
  const raw = minimal() as any;
  raw.targets[0].port = 70000;
  raw.targets[0].credential = 'hunter2';
  raw.identity.algorithms = ['HS256'];
  raw.masking = { detectors: { emial: {} } };
  assert.throws(
    () => parseConfig(raw),
    (err: Error) => {
      assert.ok(err instanceof ConfigError);
      for (const key of ['targets.0.port', 'targets.0.credential', 'identity.algorithms.0', 'masking.detectors']) assert.match(err.message, new RegExp(key.replace(/\./g, '\\.')), key);
      assert.doesNotMatch(err.message, /hunter2/, 'a mistaken secret is not echoed');
      return true;
    },
  );
});

test('agent budgets: each rule names one principal or one group, and only the budgets an agent can have', () => {
  const raw = minimal() as any;
  assert.deepEqual(parseConfig(raw).tasks, { agentBudgets: [], agentBudgetWindowSeconds: 3600, expirySweepSeconds: 60, fleetPollSeconds: 2 });
  raw.tasks = { agentBudgets: [{ group: 'contractors', commands: 2, requestsPerMinute: 60, concurrentSessions: 1 }] };
  assert.equal(parseConfig(raw).tasks.agentBudgets[0]!.requestsPerMinute, 60);
  raw.tasks = { agentBudgets: [{ principal: 'a', group: 'b', commands: 1 }, { commands: 1 }, { group: 'c', rowsAffected: 5 }] };
  assert.throws(() => parseConfig(raw), (err: Error) => {
    assert.match(err.message, /tasks\.agentBudgets\.0: name exactly one of principal or group/);
    assert.match(err.message, /tasks\.agentBudgets\.1: name exactly one of principal or group/);
    assert.match(err.message, /tasks\.agentBudgets\.2: .*rowsAffected/);
    return true;
  });
});

test('duplicate target names and an incomplete Step Functions backend are refused', () => {
  const raw = minimal() as any;
  raw.targets.push({ ...raw.targets[0] });
  raw.approvals = { backend: 'stepfunctions' };
  assert.throws(() => parseConfig(raw), (err: Error) => {
    assert.match(err.message, /targets\.1\.name: duplicate target name "orders"/);
    assert.match(err.message, /approvals\.stepFunctions: required/);
    return true;
  });
});

test('${env:NAME} is expanded in string values, and a missing variable names the key', () => {
  process.env.AIRLOCK_TEST_TABLE = 'airlock-audit';
  const raw = minimal() as any;
  raw.audit = { store: { kind: 'aws', table: '${env:AIRLOCK_TEST_TABLE}', bucket: 'b-${env:AIRLOCK_TEST_TABLE}' } };
  const cfg = parseConfig(raw);
  assert.equal(cfg.audit.store?.table, 'airlock-audit');
  assert.equal(cfg.audit.store?.bucket, 'b-airlock-audit');
  raw.audit.store.table = '${env:AIRLOCK_TEST_UNSET_VARIABLE}';
  assert.throws(() => parseConfig(raw), /audit\.store\.table: environment variable AIRLOCK_TEST_UNSET_VARIABLE is not set/);
});

test('YAML and JSON files load; a broken file says which', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-config-'));
  writeFileSync(join(dir, 'a.json'), JSON.stringify(minimal()));
  assert.equal(loadConfigFile(join(dir, 'a.json')).targets[0]!.name, 'orders');
  writeFileSync(join(dir, 'b.yaml'), 'identity: [unclosed');
  assert.throws(() => loadConfigFile(join(dir, 'b.yaml')), /b\.yaml is not valid YAML/);
  assert.throws(() => loadConfigFile(join(dir, 'missing.yaml')), /cannot read configuration file/);
});

test('SSH targets and the SSH listener are part of the same file', () => {
  const raw = minimal() as any;
  raw.listeners = { ssh: { port: 0, hostKeyFiles: ['keys/host_ed25519'] } };
  raw.targets.push({ name: 'web-1', kind: 'ssh', host: 'web-1.internal', user: 'deploy', credential: 'file:keys/deploy', hostKeys: ['SHA256:abc'] });
  const cfg = parseConfig(raw, '/etc/airlock');
  assert.deepEqual(cfg.listeners.ssh?.hostKeyFiles, ['/etc/airlock/keys/host_ed25519']);
  const ssh = cfg.targets[1]!;
  assert.equal(ssh.kind, 'ssh');
  assert.equal(ssh.credential, 'file:/etc/airlock/keys/deploy');
  raw.targets[1].hostKeys = [];
  assert.throws(() => parseConfig(raw), /targets\.1\.hostKeys/, 'an SSH target must pin its host key');
});

test('the MCP listener: relative TLS files resolve beside the file; plain needs allowPlaintext; defaults', () => {
  const raw = minimal() as any;
  raw.listeners = { mcp: { port: 0, tls: { certFile: 'tls/cert.pem', keyFile: 'tls/key.pem' } } };
  const cfg = parseConfig(raw, '/etc/airlock');
  assert.deepEqual(cfg.listeners.mcp?.tls, { certFile: '/etc/airlock/tls/cert.pem', keyFile: '/etc/airlock/tls/key.pem' });
  assert.equal(cfg.listeners.mcp?.path, '/mcp');
  raw.listeners = { mcp: {} };
  assert.throws(() => parseConfig(raw), /listeners\.mcp.*allowPlaintext/s);
  raw.listeners = { mcp: { allowPlaintext: true } };
  assert.equal(parseConfig(raw).listeners.mcp?.port, 8445);
});
