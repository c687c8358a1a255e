// The fleet seen from one task. Behind a network load balancer every TCP connection is routed on its
// own, so a PostgreSQL CancelRequest usually arrives at another task than the session it names. Each
// live task therefore holds a small tag, unique among live tasks, that the PostgreSQL engine writes
// into the process ids it hands out; any task can look up which task holds a tag and where it listens.

/** Tags are 1..MAX_FLEET_TAG; 0 means "no fleet" (a single gateway). */
export const FLEET_TAG_BITS = 12;
export const MAX_FLEET_TAG = 2 ** FLEET_TAG_BITS - 1;
/**
 * A task may run several gateway processes (`processes` in the configuration); the bits after the
 * tag name the process within the task, so a cancel the task receives on any process reaches the
 * one holding the session (ports/processes.ts). 16 processes: Fargate's largest task has 16 vCPUs.
 */
export const PROCESS_BITS = 4;
export const MAX_PROCESSES = 2 ** PROCESS_BITS;

export interface FleetEndpoint {
  host: string;
  port: number;
}

export interface FleetMembership {
  /** This task's tag, held for as long as the task heartbeats. */
  readonly tag: number;
  /**
   * Where the task holding `tag` accepts PostgreSQL connections. Undefined when no live task holds it,
   * or when the registry names this very task's address (a stale entry: forwarding would loop).
   */
  postgresEndpointOf(tag: number): Promise<FleetEndpoint | undefined>;
  /** Publishes where this task's PostgreSQL listener accepts connections. */
  advertisePostgres(port: number): Promise<void>;
  /** Gives the tag back. */
  close(): Promise<void>;
}
