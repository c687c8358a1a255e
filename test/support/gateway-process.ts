// A gateway in its own process, for tests that kill it (kill -9) and start it again on the same
// data directory. The process is spawned and warmed (modules loaded, the SQL parser's WASM
// compiled) before it is told to start, so a test can spawn the next one while the current one
// still runs: on a loaded CI machine loading the modules takes seconds, starting the gateway does not.
// This file is also the child's entry (see the bottom).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD_ENV = 'AIRLOCK_TEST_GATEWAY_PROCESS_CONFIG';

export interface WarmGateway {
  /** Starts the gateway (`airlock serve` as the CLI would run it); resolves with its PostgreSQL port. */
  start(): Promise<number>;
  /** SIGKILL, or SIGTERM for a graceful stop; resolves once the process is gone. */
  stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  child: ChildProcess;
}

export function spawnWarmGateway(configFile: string): WarmGateway {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, [CHILD_ENV]: configFile },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const lines = createInterface({ input: child.stdout! });
  const next = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const onLine = (line: string) => {
        if (!line.startsWith(prefix)) return;
        lines.off('line', onLine);
        resolve(line.slice(prefix.length));
      };
      lines.on('line', onLine);
      void exited.then(() => reject(new Error('the gateway process exited')));
    });
  const warm = next('warm');
  warm.catch(() => undefined); // stopped before it was used
  return {
    child,
    async start() {
      await warm;
      const port = next('postgres ');
      child.stdin!.write('start\n');
      return Number(await port);
    },
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

if (process.env[CHILD_ENV]) {
  const { startGateway } = await import('../../fargate-proxy/src/gateway.js');
  const { loadConfigFile } = await import('../../fargate-proxy/src/config/load.js');
  const { loadSqlInspector } = await import('../../core/classify/index.js');
  const { createLogger } = await import('../../fargate-proxy/src/log.js');
  await loadSqlInspector();
  process.stdout.write('warm\n');
  createInterface({ input: process.stdin }).once('line', () => {
    void (async () => {
      const cfg = loadConfigFile(process.env[CHILD_ENV]!);
      const gw = await startGateway(cfg, { log: createLogger(cfg.logLevel) });
      process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
      process.stdout.write(`postgres ${gw.postgres!.port}\n`);
    })();
  });
}
