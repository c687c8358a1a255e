// Task lifecycle events in the hash-chained audit trail, through the AuditSink port. A task's events
// go to a log of their own, `task.<id>.<writer>`: a `session.start` (protocol `task`) opens it, so the
// index lists it and `airlock audit verify` checks it like any session; a `session.end` closes it when
// the task ends. `<writer>` is this process: in a fleet a task opened on one proxy task and closed on
// another gets one log per process, and no two writers ever extend the same chain.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { isValidSessionId, type AuditRecord, type TaskEventBody } from '../../../core/audit/events.js';
import type { AuditReader, AuditSink } from '../../../core/audit/ports.js';
import type { TargetKind } from '../../../core/model.js';
import type { Task } from '../../../core/task/types.js';

export type TaskEventName = TaskEventBody['event'];

const ENDS: ReadonlySet<TaskEventName> = new Set(['denied', 'closed', 'expired']);

export function taskLogPrefix(taskId: string): string {
  return `task.${taskId}.`;
}

export class TaskAuditTrail {
  readonly #writer = randomBytes(4).toString('hex');
  /** Task logs this process has opened and not yet closed. */
  readonly #open = new Set<string>();
  /** Appends are chained one after another: a log's start always precedes its events. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly sink: AuditSink,
    private readonly log: Logger,
    private readonly kindOf: (target: string) => TargetKind | undefined,
  ) {}

  /** Appends one lifecycle event (and the log's start or end around it); failures are logged, never thrown. */
  record(event: TaskEventName, task: Task, extra: { by?: string; reason?: string; sessions?: string[] } = {}): Promise<void> {
    const run = this.#queue.then(() => this.#write(event, task, extra));
    this.#queue = run.catch(() => undefined);
    return run.catch((err: Error) => this.log.error({ err: err.message, task: task.id, event }, 'task event could not be audited'));
  }

  async #write(event: TaskEventName, task: Task, extra: { by?: string; reason?: string; sessions?: string[] }): Promise<void> {
    const sessionId = `${taskLogPrefix(task.id)}${this.#writer}`;
    if (!isValidSessionId(sessionId)) throw new Error('task id is not a valid log name');
    if (!this.#open.has(sessionId)) {
      await this.sink.append({
        type: 'session.start',
        sessionId,
        principal: { id: task.principalId, groups: task.groups ?? [], issuer: task.issuer, clientId: task.clientId, taskId: task.id },
        target: task.targets.join(','),
        targetKind: this.kindOf(task.targets[0] ?? '') ?? 'postgres',
        client: { address: 'gateway', port: 0 },
        protocol: 'task',
      });
      this.#open.add(sessionId);
    }
    const body: TaskEventBody = {
      type: 'task',
      event,
      taskId: task.id,
      ...(extra.by !== undefined && { by: extra.by }),
      ...(extra.reason !== undefined && { reason: extra.reason }),
      ...(extra.sessions !== undefined && { sessions: extra.sessions }),
    };
    if (event === 'opened') Object.assign(body, { title: task.title, ...(task.ticket && { ticket: task.ticket }), targets: task.targets, scope: task.scope.entries, budget: { ...task.budget } });
    if (event === 'granted' && task.expiresAt !== undefined) body.expiresAt = new Date(task.expiresAt).toISOString();
    if (task.approvalId && (event === 'granted' || event === 'denied')) body.approvalId = task.approvalId;
    await this.sink.append({ sessionId, ...body });
    if (ENDS.has(event)) {
      this.#open.delete(sessionId);
      const u = task.usage;
      await this.sink.append({ type: 'session.end', sessionId, reason: `task ${event}${extra.reason ? `: ${extra.reason}` : ''}`, statements: u.statements + u.commands + u.requests, bytesIn: 0, bytesOut: u.bytesRead, durationMs: Math.max(0, Date.now() - task.createdAt) });
    }
  }
}

/** The lifecycle events of one task this gateway's audit trail holds, oldest first (`airlock task show`). */
export async function readTaskEvents(reader: AuditReader & { sessionIds(): Promise<string[]> }, taskId: string): Promise<AuditRecord[]> {
  const prefix = taskLogPrefix(taskId);
  const out: AuditRecord[] = [];
  for (const id of (await reader.sessionIds()).filter((s) => s.startsWith(prefix))) {
    for (const e of (await reader.readSession(id)) ?? []) if ((e as AuditRecord).type === 'task') out.push(e as AuditRecord);
  }
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}
