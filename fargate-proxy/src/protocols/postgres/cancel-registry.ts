import { randomInt, timingSafeEqual } from 'node:crypto';
import { FLEET_TAG_BITS, PROCESS_BITS } from '../../ports/fleet.js';

/**
 * Process ids are `tag << LOCAL_BITS | process << RANDOM_BITS | random`: positive int32s, as
 * PostgreSQL's own are. 15 random bits leave room for 32,767 live sessions per gateway process.
 */
const LOCAL_BITS = 31 - FLEET_TAG_BITS;
const RANDOM_BITS = LOCAL_BITS - PROCESS_BITS;

/** The fleet task (0: this gateway alone) whose session a process id names. */
export const fleetTagOf = (processId: number): number => processId >>> LOCAL_BITS;

/** The gateway process within its task (0 when the task runs one) whose session a process id names. */
export const processIndexOf = (processId: number): number => (processId >>> RANDOM_BITS) & (2 ** PROCESS_BITS - 1);

/**
 * The gateway hands clients its own BackendKeyData so they never learn upstream process ids, and a
 * cancel can only reach the session whose key it presents. The process id names the task that issued
 * it (its fleet tag) and is otherwise random; the 32-bit secret is random and compared in constant
 * time, so knowing which task holds a session does not help guess its key.
 */
export class CancelRegistry {
  readonly #sessions = new Map<number, { secret: Buffer; cancel: () => void }>();

  /** `tag`: this task's fleet tag (see ports/fleet.ts), 0 without a fleet; `processIndex`: this process within the task. */
  constructor(
    readonly tag = 0,
    readonly processIndex = 0,
  ) {}

  register(cancel: () => void): { processId: number; secretKey: number; release: () => void } {
    let processId: number;
    do processId = (this.tag << LOCAL_BITS) | (this.processIndex << RANDOM_BITS) | randomInt(1, 2 ** RANDOM_BITS);
    while (this.#sessions.has(processId));
    const secretKey = randomInt(-(2 ** 31), 2 ** 31 - 1);
    const secret = Buffer.alloc(4);
    secret.writeInt32BE(secretKey);
    this.#sessions.set(processId, { secret, cancel });
    return { processId, secretKey, release: () => this.#sessions.delete(processId) };
  }

  /** True when the key names a session another task issued (the cancel is that task's to apply). */
  isForeign(processId: number): boolean {
    return fleetTagOf(processId) !== this.tag;
  }

  /** True when the key names a session another process of this task issued. */
  isSibling(processId: number): boolean {
    return !this.isForeign(processId) && processIndexOf(processId) !== this.processIndex;
  }

  /** True when the key matched a live session (whose cancel was then triggered). */
  cancel(processId: number, secretKey: Buffer): boolean {
    const entry = this.#sessions.get(processId);
    if (!entry || entry.secret.length !== secretKey.length || !timingSafeEqual(entry.secret, secretKey)) return false;
    entry.cancel();
    return true;
  }

  get size(): number {
    return this.#sessions.size;
  }
}
