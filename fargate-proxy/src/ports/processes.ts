// One gateway process among several of one task (`processes` in the configuration). The listeners
// are shared (node:cluster hands each new connection to one process), so a PostgreSQL CancelRequest
// usually reaches another process than the session it names; the process index in the key
// (ports/fleet.ts) says which one, and the supervising process passes the cancel on.

export interface ProcessSiblings {
  /** This process within the task: 0..count-1. */
  readonly index: number;
  readonly count: number;
  /** The task's fleet tag (held by the supervisor for the whole task); 0 without a fleet. */
  readonly fleetTag: number;
  /**
   * Hands a cancel whose key names another process (or another task of the fleet) to the
   * supervisor, which delivers it to that process or forwards it to that task.
   */
  forwardCancel(processId: number, secretKey: Buffer): void;
  /** Cancels other processes received for sessions of this one. */
  onCancel(listener: (processId: number, secretKey: Buffer) => void): void;
  /**
   * This process's live sessions, which the supervisor sums for task-wide decisions (ECS scale-in
   * protection: one process releasing it while another holds sessions would expose the task).
   */
  reportSessions(count: () => number): void;
}
