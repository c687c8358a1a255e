// Whether a process id is still running: signal 0 checks without delivering anything. EPERM means
// it runs as another user (alive); ESRCH that it is gone.
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
