// `airlock serve --config FILE` in its own OS process, as one task of a fleet runs it: started,
// its real listener addresses read back from <dataDir>/gateway.json (every port may be 0), and
// stopped by a signal. Its stderr is shown when it fails to start.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readLiveGatewayRecord, type GatewayRecord } from '../../fargate-proxy/src/cli/gateway-record.js';

const MAIN = fileURLToPath(new URL('../../fargate-proxy/src/cli/main.ts', import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  record: GatewayRecord;
  /** SIGTERM drains (AIRLOCK_DRAIN_SECONDS), SIGINT closes now; resolves once the process is gone. */
  stop(signal?: 'SIGTERM' | 'SIGINT' | 'SIGKILL'): Promise<void>;
}

export async function startServeProcess(configFile: string, dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AIRLOCK_DRAIN_SECONDS: '0', ...env },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  // The record is written before the readiness lines (`airlock: … listening on …`).
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.includes('airlock: ')) resolve();
    });
    void exited.then(() => reject(new Error(`airlock serve exited (${child.exitCode ?? child.signalCode}): ${stderr.slice(-2000)}`)));
  });
  const record = readLiveGatewayRecord(dataDir);
  if (!record || record.pid !== child.pid) throw new Error(`airlock serve wrote no record in ${dataDir}`);
  return {
    child,
    record,
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
