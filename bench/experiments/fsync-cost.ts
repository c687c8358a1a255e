// `tsx bench/experiments/fsync-cost.ts [DIR]`: what one batched audit fsync costs on this machine.
// 16 session files (as at 16 clients) each get the appends of one fsync window (ENTRIES lines of
// 500 B, default 60: 200 ms of 2,400 statements/s with their outcomes over 16 sessions), then every
// file is fsynced the way `audit-file-sink.ts` does it (`fs.fsync`, on libuv's pool). The same
// rounds without the fsyncs are the baseline; the difference in the process's CPU time is reported
// per fsync, in wall time per window. An experiment, not part of `npm run bench`.
import { closeSync, fsync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const FILES = 16;
const ROUNDS = 200;
const ENTRIES = Number(process.env.ENTRIES ?? 60);
const fsyncAsync = promisify(fsync);
const dir = mkdtempSync(join(process.argv[2] ?? tmpdir(), 'airlock-fsync-'));
const fds = Array.from({ length: FILES }, (_, i) => openSync(join(dir, `session-${i}.log`), 'a'));
const line = Buffer.from(`${'x'.repeat(499)}\n`);

async function rounds(withFsync: boolean): Promise<{ cpuUs: number; wallMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) {
    for (const fd of fds) for (let k = 0; k < ENTRIES; k++) writeSync(fd, line);
    if (withFsync) await Promise.all(fds.map((fd) => fsyncAsync(fd)));
  }
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: cpu.user + cpu.system, wallMs: Number(process.hrtime.bigint() - t0) / 1e6 };
}

try {
  for (let i = 0; i < 5; i++) {
    const without = await rounds(false);
    const withFsync = await rounds(true);
    const n = FILES * ROUNDS;
    console.log(
      `fsync of ${((ENTRIES * line.length) / 1024).toFixed(0)} KiB: ${((withFsync.cpuUs - without.cpuUs) / n).toFixed(1)} µs CPU, ` +
        `${((withFsync.wallMs - without.wallMs) / ROUNDS).toFixed(2)} ms wall per window of ${FILES} files`,
    );
  }
} finally {
  fds.forEach((fd) => closeSync(fd));
  rmSync(dir, { recursive: true, force: true });
}
