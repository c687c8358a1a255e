// Several gateway processes for one task (`processes` > 1): node:cluster forks them, each runs the
// whole gateway (`startGateway`) on the same listeners, and this supervising process hands each new
// connection to one of them (round robin, in this process). Node's cluster rather than SO_REUSEPORT:
// it runs on Node 20 (reusePort needs 22.12), port 0 resolves to one port for all processes, and its
// IPC channel carries what the processes must share — PostgreSQL cancels.
//
// The supervisor does the task-wide parts once: it creates the shared key files before any process
// reads them, holds the fleet tag, routes cancels, writes gateway.json, and passes SIGTERM/SIGINT on
// so that every process drains together.
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AirlockConfig } from '../config/schema.js';
import type { FleetMembership } from '../ports/fleet.js';
import { LOCAL_ISSUER_KEY_FILE, joinConfiguredFleet } from '../gateway.js';
import { loadOrCreateSigningKeys } from '../adapters/local/oidc-signing-keys.js';
import { loadOrCreateTaskKey } from '../tasks/local-task-key.js';
import { fleetTagOf, processIndexOf } from '../protocols/postgres/cancel-registry.js';
import { forwardCancel } from '../protocols/postgres/cancel-forwarding.js';
import { writeGatewayRecord, type GatewayAddresses } from '../cli/gateway-record.js';
import { startTaskProtection, type TaskProtection } from '../adapters/aws/task-protection.js';
import { FLEET_TAG_ENV, PROCESS_COUNT_ENV, PROCESS_INDEX_ENV, isMessage, type ToProcess, type ToSupervisor } from './messages.js';

export interface SupervisorOptions {
  cfg: AirlockConfig;
  count: number;
  /** For gateway.json: the configuration file the processes run with. */
  configFile?: string;
  log: Logger;
  /** SIGTERM's drain bound (AIRLOCK_DRAIN_SECONDS). */
  drainMs: number;
  /** Called once every process is listening. */
  onReady(addresses: GatewayAddresses): void;
}

/** Resolves once every process listens; the supervisor then runs until its processes have exited. */
export async function superviseProcesses(o: SupervisorOptions): Promise<void> {
  const { cfg, log } = o;
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  // Key files every process reads: created here, or each process could generate its own at once.
  if (!cfg.tasks.kmsKeyId) loadOrCreateTaskKey(cfg.dataDir);
  if (cfg.identity.localIssuer) await loadOrCreateSigningKeys(join(cfg.dataDir, LOCAL_ISSUER_KEY_FILE), 'ES256', cfg.identity.localIssuer.keyType);
  const fleet: FleetMembership | undefined = cfg.fleet && (await joinConfiguredFleet(cfg.fleet, log));
  const fleetTag = fleet?.tag ?? 0;

  cluster.schedulingPolicy = cluster.SCHED_RR;
  const workers: (Worker | undefined)[] = [];
  let stopping = false;
  let exitCode = 0;
  let ready: (addresses: GatewayAddresses) => void;
  let failed: (err: Error) => void;
  const allReady = new Promise<GatewayAddresses>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  const readyAt = new Set<number>();
  /** Live sessions per process, as each last reported them. */
  const sessions: number[] = [];
  let started = false;

  const route = (from: number, m: ToSupervisor & { airlock: 'cancel' }) => {
    const tag = fleetTagOf(m.processId);
    if (tag !== fleetTag) {
      if (fleet) void forwardCancel(fleet, m.processId, Buffer.from(m.secretKey, 'base64'), log);
      return;
    }
    const owner = workers[processIndexOf(m.processId)];
    if (!owner) return log.debug({ from }, 'cancel for a process that is not running; dropped');
    owner.send({ airlock: 'cancel', processId: m.processId, secretKey: m.secretKey } satisfies ToProcess);
  };

  const record = (addresses: GatewayAddresses) => writeGatewayRecord(cfg.dataDir, addresses, o.configFile, workers.map((w) => w?.process.pid ?? 0));

  const fork = (index: number): void => {
    const worker = cluster.fork({ [PROCESS_INDEX_ENV]: String(index), [PROCESS_COUNT_ENV]: String(o.count), [FLEET_TAG_ENV]: String(fleetTag) });
    workers[index] = worker;
    worker.on('message', (m: unknown) => {
      if (!isMessage<ToSupervisor>(m)) return;
      if (m.airlock === 'cancel') return route(index, m);
      if (m.airlock === 'sessions') return void (sessions[index] = m.count);
      if (m.airlock === 'ready') {
        readyAt.add(index);
        if (!started && readyAt.size === o.count) ready(m.addresses);
        if (started) record(m.addresses); // a replacement: gateway.json names its pid
      }
    });
    worker.on('exit', (code, signal) => {
      if (workers[index] === worker) workers[index] = undefined;
      sessions[index] = 0;
      if (stopping) return;
      if (!started) return failed(new Error(`gateway process ${index} exited during start-up (${signal ?? `code ${code}`})`));
      // Its sessions are gone with it; a process restarted with the same index closes out its audit trail.
      log.error({ process: index, code, signal }, 'a gateway process ended unexpectedly; starting another in its place');
      // A second apart: a process that fails at once again does not spin the task's CPU.
      setTimeout(() => stopping || fork(index), 1000);
    });
  };
  for (let i = 0; i < o.count; i++) fork(i);

  const stopAll = (drainMs: number) => {
    stopping = true;
    for (const w of workers) if (w?.isConnected()) w.send({ airlock: 'shutdown', drainMs } satisfies ToProcess);
  };
  const whenAllExited = () =>
    new Promise<void>((resolve) => {
      const check = () => (workers.every((w) => !w || w.isDead()) ? resolve() : setTimeout(check, 50));
      check();
    });

  let addresses: GatewayAddresses;
  try {
    addresses = await allReady;
  } catch (err) {
    stopAll(0);
    await whenAllExited();
    await fleet?.close();
    throw err;
  }
  started = true;
  if (fleet && addresses.postgres) await fleet.advertisePostgres(addresses.postgres.port);
  record(addresses);
  // Scale-in protection is the task's: held while any process holds sessions (gateway.ts for one process).
  const protection = cfg.fleet?.scaleInProtection;
  const agentUri = protection && (protection.agentUri ?? process.env.ECS_AGENT_URI);
  let guard: TaskProtection | undefined;
  if (protection && agentUri) {
    const liveSessions = () => sessions.reduce((a, b) => a + (b ?? 0), 0);
    guard = startTaskProtection({ agentUri, liveSessions, checkMs: protection.checkSeconds * 1000, expiresInMinutes: protection.expiresInMinutes, log });
  }

  let signalled = false;
  const onSignal = (drainMs: number) => () => {
    if (signalled) process.exit(1);
    signalled = true;
    log.info({ processes: o.count, drainMs }, 'stopping: every gateway process drains, then closes');
    stopAll(drainMs);
    void whenAllExited()
      .then(() => guard?.close())
      .then(() => fleet?.close())
      .then(() => process.exit(exitCode));
  };
  process.on('SIGTERM', onSignal(o.drainMs));
  process.on('SIGINT', onSignal(0));
  cluster.on('exit', (_w, code) => {
    if (stopping && code !== 0) exitCode = 1;
  });
  o.onReady(addresses);
}
