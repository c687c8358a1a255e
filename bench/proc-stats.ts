// What a peer process costs, read from Linux's /proc: CPU time (user + system) and peak RSS.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
}

/**
 * CPU seconds of the process and its child processes alive now (a gateway with `processes` > 1:
 * the supervisor and the gateway processes it forked). Threads are in each process's own figure.
 */
export function treeCpuSeconds(pid: number): number {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // no such file (kernel without CONFIG_PROC_CHILDREN): the process alone
  }
  return cpuSeconds(pid) + children.reduce((sum, child) => sum + treeCpuSeconds(child), 0);
}

function statusKb(pid: number, key: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${key}:`));
  return line ? Number(line.split(/\s+/)[1]) : NaN;
}

/** Peak resident set size in MiB (VmHWM). */
export const peakRssMiB = (pid: number): number => statusKb(pid, 'VmHWM') / 1024;
/** Current resident set size in MiB (VmRSS). */
export const rssMiB = (pid: number): number => statusKb(pid, 'VmRSS') / 1024;

/**
 * Resets the process's VmHWM to its current RSS (clear_refs value 5, Linux ≥ 4.0) so a peak can be
 * attributed to one scenario. False when not permitted; the peak then covers the process's life.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
