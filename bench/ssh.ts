// `npx tsx bench/ssh.ts [--quick]`: the SSH gateway against a direct connection to the same sshd —
// a large scp download and a burst of short exec commands — in interleaved rounds (medians).
// Writes bench/results/ssh.json and prints a Markdown table. Needs root, sshd, scp and sshpass.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2, { type ConnectConfig } from 'ssh2';
import { startSshd, sshdAvailable } from '../test/support/sshd.js';
import { directSshArgs, gatewaySshArgs, runClient } from '../test/support/ssh-gateway.js';
import { buildGateway } from './build.js';
import { cpuSeconds, peakRssMiB } from './proc-stats.js';
import { machine, sshTable } from './report.js';
import { sshGateway } from './ssh-peer.js';

const quick = process.argv.includes('--quick');
/** 3 rounds of 50 commands (a few hundred ms each) read the exec burst at 0.50–0.96 of direct on one build; 11 of 200 read 0.88–0.90. */
const rounds = quick ? 3 : 11;
const DOWNLOAD_MIB = quick ? 10 : 50;
const EXECS = 200;
/** Well below OpenSSH's MaxSessions (10): sshd frees a session slot a little after the client sees it close. */
const IN_FLIGHT = 4;

const POLICY = `
@id("bench-agents")
permit (principal in Airlock::Group::"agents", action in [Airlock::Action::"connect", Airlock::Action::"command_read", Airlock::Action::"file_read", Airlock::Action::"file_write"], resource);
`;

const log = (msg: string): void => console.error(`bench-ssh: ${msg}`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(run: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** One connection, `EXECS` runs of `true`, at most `IN_FLIGHT` channels at once; seconds from ready to last exit. */
function execBurst(cfg: ConnectConfig): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () => {
      const t = process.hrtime.bigint();
      let started = 0;
      let done = 0;
      const next = (): void => {
        if (started >= EXECS) return;
        started++;
        client.exec('true', (err, ch) => {
          if (err) return reject(err);
          let code: number | null = null;
          ch.on('exit', (c: number | null) => (code = c));
          ch.resume();
          ch.stderr.resume();
          ch.on('close', () => {
            if (code !== 0) return reject(new Error(`true exited ${code}`));
            if (++done === EXECS) {
              client.end();
              resolve(Number(process.hrtime.bigint() - t) / 1e9);
            } else next();
          });
        });
      };
      for (let i = 0; i < IN_FLIGHT; i++) next();
    });
    client.connect(cfg);
  });
}

async function main(): Promise<void> {
  if (!sshdAvailable()) throw new Error('needs root and /usr/sbin/sshd');
  buildGateway(log);
  const sshd = await startSshd();
  const gw = await sshGateway(sshd, POLICY).catch(async (err: Error) => {
    await sshd.stop();
    throw err;
  });
  try {
    const file = join(sshd.workDir, 'large.bin');
    const made = await runClient('ssh', [...directSshArgs(sshd), `head -c ${DOWNLOAD_MIB * 2 ** 20} /dev/urandom > ${file}`]);
    if (made.code !== 0) throw new Error(`could not create the download: ${made.stderr}`);
    const token = gw.token;
    const scpArgs = (args: string[]) => args.slice(0, -3).concat('-q', '-P', args.at(-2)!);
    const scp = {
      direct: async () => {
        const r = await runClient('scp', [...scpArgs(directSshArgs(sshd)), `${sshd.user}@127.0.0.1:${file}`, '/dev/null'], { timeoutMs: 300_000 });
        if (r.code !== 0) throw new Error(`direct scp: ${r.stderr}`);
      },
      gateway: async () => {
        const r = await runClient('scp', [...scpArgs(gatewaySshArgs(gw.port)), `box@127.0.0.1:${file}`, '/dev/null'], { password: token, timeoutMs: 300_000 });
        if (r.code !== 0) throw new Error(`gateway scp: ${r.stderr}`);
      },
    };
    const execCfg = {
      direct: { host: '127.0.0.1', port: sshd.port, username: sshd.user, privateKey: sshd.clientKey },
      gateway: { host: '127.0.0.1', port: gw.port, username: 'box', password: token },
    };
    const s = { scpDirect: [] as number[], scpGateway: [] as number[], execDirect: [] as number[], execGateway: [] as number[] };
    // The gateway's own CPU seconds over each gateway run: what one MiB or one command costs it.
    const cpu = { scp: [] as number[], exec: [] as number[] };
    const gatewayCpu = async <T>(into: number[], run: () => Promise<T>): Promise<T> => {
      const c0 = cpuSeconds(gw.pid);
      const r = await run();
      into.push(cpuSeconds(gw.pid) - c0);
      return r;
    };
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}`);
      s.scpDirect.push(await timed(scp.direct));
      s.scpGateway.push(await gatewayCpu(cpu.scp, () => timed(scp.gateway)));
      s.execDirect.push(await execBurst(execCfg.direct).catch((e: Error) => Promise.reject(new Error(`direct exec burst: ${e.message}`))));
      s.execGateway.push(await gatewayCpu(cpu.exec, () => execBurst(execCfg.gateway).catch((e: Error) => Promise.reject(new Error(`gateway exec burst: ${e.message}`)))));
    }
    const mibps = (sec: number) => DOWNLOAD_MIB / sec;
    const rows = [
      {
        scenario: `scp download ${DOWNLOAD_MIB} MiB (new connection each)`,
        unit: 'MiB/s',
        direct: mibps(median(s.scpDirect)),
        gateway: mibps(median(s.scpGateway)),
        gatewayCpuMs: { value: (median(cpu.scp) * 1000) / DOWNLOAD_MIB, per: 'MiB' },
      },
      {
        scenario: `${EXECS} × exec \`true\` on one connection (${IN_FLIGHT} in flight)`,
        unit: 'commands/s',
        direct: EXECS / median(s.execDirect),
        gateway: EXECS / median(s.execGateway),
        gatewayCpuMs: { value: (median(cpu.exec) * 1000) / EXECS, per: 'command' },
      },
    ].map((r) => ({ ...r, ratio: r.gateway / r.direct }));
    const result = { startedAt: new Date().toISOString(), quick, rounds, machine: machine(), note: 'The gateway is `airlock serve` compiled as deployed, in its own process (masking on, as by default); scp is OpenSSH, the exec bursts an ssh2 client in the bench process.', gatewayPeakRssMiB: peakRssMiB(gw.pid), samplesSeconds: s, gatewayCpuSeconds: cpu, rows };
    mkdirSync(new URL('results/', import.meta.url), { recursive: true });
    writeFileSync(new URL('results/ssh.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
    console.log(sshTable(rows).join('\n'));
  } finally {
    await gw.stop();
    await sshd.stop();
  }
}

main().catch((err) => {
  console.error(`bench-ssh: ${(err as Error).message}`);
  process.exit(1);
});
