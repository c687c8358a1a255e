// `<dataDir>/gateway.json`: what a running gateway tells the CLI about itself — the addresses it
// actually listens on (port 0 picks them at start) and which configuration file it runs with.
// Written at start (0600), removed at exit; a record whose process is gone is ignored.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningGateway } from '../gateway.js';
import { processAlive } from '../process-alive.js';

export interface GatewayRecord {
  pid: number;
  /** The configuration file, absolute; absent for `npm start` (its config is written beside this file). */
  config?: string;
  issuer: string;
  tokenEndpoint?: string;
  consoleUrl?: string;
  postgres?: { host: string; port: number };
  ssh?: { host: string; port: number };
  http?: { host: string; port: number };
  mcpUrl?: string;
  /** issue 31: the Kubernetes listener, for `airlock kubeconfig`. */
  kubernetes?: { host: string; port: number };
  /** With several gateway processes (`processes`), theirs; `pid` is then their supervisor's. */
  processes?: number[];
  startedAt: string;
}

/** What a running gateway (or each process of one, cli/process-supervisor.ts) reports about where it listens. */
export type GatewayAddresses = Pick<RunningGateway, 'issuer' | 'tokenEndpoint' | 'consoleUrl' | 'healthUrl' | 'postgres' | 'ssh' | 'http' | 'mcpUrl' | 'kubernetes'>;

export const gatewayAddresses = (gw: GatewayAddresses): GatewayAddresses => ({
  issuer: gw.issuer,
  tokenEndpoint: gw.tokenEndpoint,
  consoleUrl: gw.consoleUrl,
  healthUrl: gw.healthUrl,
  postgres: gw.postgres,
  ssh: gw.ssh,
  http: gw.http,
  mcpUrl: gw.mcpUrl,
  kubernetes: gw.kubernetes,
});

export const gatewayRecordPath = (dataDir: string): string => join(dataDir, 'gateway.json');

const recorded = new Set<string>();

/** Records the running gateway; the record is removed when this process exits. */
export function writeGatewayRecord(dataDir: string, gw: GatewayAddresses, config?: string, processes?: number[]): void {
  const record: GatewayRecord = {
    pid: process.pid,
    config,
    issuer: gw.issuer,
    tokenEndpoint: gw.tokenEndpoint,
    consoleUrl: gw.consoleUrl,
    postgres: gw.postgres,
    ssh: gw.ssh,
    http: gw.http,
    mcpUrl: gw.mcpUrl,
    kubernetes: gw.kubernetes,
    processes,
    startedAt: new Date().toISOString(),
  };
  const path = gatewayRecordPath(dataDir);
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  if (recorded.has(path)) return; // rewritten (a supervisor's replaced process): removed once
  recorded.add(path);
  process.once('exit', () => {
    if (readLiveGatewayRecord(dataDir)?.pid === process.pid) rmSync(path, { force: true });
  });
}

/** The record of a gateway running with this data directory, or undefined. */
export function readLiveGatewayRecord(dataDir: string): GatewayRecord | undefined {
  let record: GatewayRecord;
  try {
    record = JSON.parse(readFileSync(gatewayRecordPath(dataDir), 'utf8')) as GatewayRecord;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(record.pid)) return undefined;
  return processAlive(record.pid) ? record : undefined;
}
