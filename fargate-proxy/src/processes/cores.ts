// How many gateway processes `processes: auto` means: the CPUs this container may use. Node's
// availableParallelism() reads the CPU affinity mask only; a container's CPU quota (cgroup v2
// `cpu.max`, which is how Fargate sizes a task below the host's CPUs) is read here.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { MAX_PROCESSES } from '../ports/fleet.js';

function cgroupCpuLimit(): number | undefined {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota === undefined || quota === 'max' || !period) return undefined;
    const cpus = Number(quota) / Number(period);
    return Number.isFinite(cpus) && cpus > 0 ? cpus : undefined;
  } catch {
    return undefined;
  }
}

/** Whole CPUs available to this process (at least 1). */
export function availableCores(): number {
  const limit = cgroupCpuLimit();
  const cores = availableParallelism();
  return Math.max(1, limit === undefined ? cores : Math.min(cores, Math.floor(limit)));
}

export function processCount(setting: 'auto' | number): number {
  return Math.min(MAX_PROCESSES, setting === 'auto' ? availableCores() : setting);
}
