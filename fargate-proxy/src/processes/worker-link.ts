// One gateway process under a supervisor (processes/supervisor.ts): its place in the task, read from
// the environment the supervisor forked it with, and its side of the IPC channel.
import cluster from 'node:cluster';
import type { ProcessSiblings } from '../ports/processes.js';
import { gatewayAddresses, type GatewayAddresses } from '../cli/gateway-record.js';
import { FLEET_TAG_ENV, PROCESS_COUNT_ENV, PROCESS_INDEX_ENV, isMessage, type ToProcess, type ToSupervisor } from './messages.js';

/** Under the scale-in protection's own check interval (5 s by default). */
const SESSIONS_REPORT_MS = 250;

const send = (m: ToSupervisor): void => {
  process.send?.(m);
};

/** This process's siblings port, when it runs under a supervisor; undefined otherwise. */
export function supervisedProcess(): ProcessSiblings | undefined {
  if (!cluster.isWorker || process.env[PROCESS_INDEX_ENV] === undefined) return undefined;
  const cancelListeners: ((processId: number, secretKey: Buffer) => void)[] = [];
  process.on('message', (m: unknown) => {
    if (!isMessage<ToProcess>(m) || m.airlock !== 'cancel') return;
    const key = Buffer.from(m.secretKey, 'base64');
    for (const l of cancelListeners) l(m.processId, key);
  });
  return {
    index: Number(process.env[PROCESS_INDEX_ENV]),
    count: Number(process.env[PROCESS_COUNT_ENV]),
    fleetTag: Number(process.env[FLEET_TAG_ENV] ?? 0),
    forwardCancel: (processId, secretKey) => send({ airlock: 'cancel', processId, secretKey: secretKey.toString('base64') }),
    onCancel: (listener) => void cancelListeners.push(listener),
    reportSessions: (count) => {
      let last = 0;
      const timer = setInterval(() => {
        const now = count();
        if (now !== last) send({ airlock: 'sessions', count: now });
        last = now;
      }, SESSIONS_REPORT_MS);
      timer.unref();
    },
  };
}

export const reportReady = (gw: GatewayAddresses): void => send({ airlock: 'ready', addresses: gatewayAddresses(gw) });

/** Calls `stop` when the supervisor orders a shutdown (it received SIGTERM or SIGINT). */
export function onSupervisorShutdown(stop: (drainMs: number) => void): void {
  process.on('message', (m: unknown) => {
    if (isMessage<ToProcess>(m) && m.airlock === 'shutdown') stop(m.drainMs);
  });
}
