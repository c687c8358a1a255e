// ECS task scale-in protection while the task holds sessions. A scale-in that stopped this task would
// cut every live psql or ssh session it carries (the drain on SIGTERM is bounded); protected tasks are
// skipped by the service scheduler's scale-in. The ECS agent serves the protection state at
// $ECS_AGENT_URI/task-protection/v1/state and calls UpdateTaskProtection with the task role.
// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html
import type { Logger } from 'pino';

export interface TaskProtectionOptions {
  /** The ECS agent's endpoint for this task ($ECS_AGENT_URI). */
  agentUri: string;
  /** Sessions this task holds now. */
  liveSessions: () => number;
  /** How often the session count is looked at. */
  checkMs: number;
  /** Protection lasts this long unless renewed: a task that hangs does not stay protected for ever. */
  expiresInMinutes: number;
  log: Logger;
}

export interface TaskProtection {
  /** True while the agent has confirmed protection. */
  readonly protected: boolean;
  /** Looks at the session count now (also done every `checkMs`). */
  check(): Promise<void>;
  /** Stops looking; protection is dropped so the task can be scaled in. */
  close(): Promise<void>;
}

export function startTaskProtection(opts: TaskProtectionOptions): TaskProtection {
  const url = `${opts.agentUri.replace(/\/+$/, '')}/task-protection/v1/state`;
  let isProtected = false;
  let protectedAt = 0;
  let running: Promise<void> = Promise.resolve();

  const put = async (enabled: boolean): Promise<boolean> => {
    const body = enabled ? { ProtectionEnabled: true, ExpiresInMinutes: opts.expiresInMinutes } : { ProtectionEnabled: false };
    try {
      const response = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
      const answer = (await response.json().catch(() => ({}))) as { protection?: { ProtectionEnabled?: boolean }; failure?: { Reason?: string }; error?: { Message?: string } };
      if (response.status !== 200 || answer.failure || answer.error) {
        opts.log.warn({ status: response.status, reason: answer.failure?.Reason ?? answer.error?.Message }, 'task scale-in protection not updated');
        return false;
      }
      return answer.protection?.ProtectionEnabled === enabled;
    } catch (err) {
      opts.log.warn({ error: (err as Error).message }, 'task scale-in protection endpoint unreachable');
      return false;
    }
  };

  const step = async () => {
    const sessions = opts.liveSessions();
    // Renewed at half its lifetime while sessions last.
    const renewDue = Date.now() - protectedAt > (opts.expiresInMinutes * 60_000) / 2;
    if (sessions > 0 && (!isProtected || renewDue)) {
      if (await put(true)) {
        if (!isProtected) opts.log.info({ sessions }, 'task protected from scale-in while it holds sessions');
        isProtected = true;
        protectedAt = Date.now();
      }
    } else if (sessions === 0 && isProtected) {
      if (await put(false)) {
        isProtected = false;
        opts.log.info('task scale-in protection released: no sessions');
      }
    }
  };
  const check = () => (running = running.then(step));
  const timer = setInterval(() => void check(), opts.checkMs);
  timer.unref();

  return {
    get protected() {
      return isProtected;
    },
    check,
    async close() {
      clearInterval(timer);
      await running;
      if (isProtected && (await put(false))) isProtected = false;
    },
  };
}
