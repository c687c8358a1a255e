import { randomInt, timingSafeEqual } from 'node:crypto';

/**
 * The gateway hands clients its own BackendKeyData so they never learn upstream process ids, and a
 * cancel can only reach the session whose key it presents. Keys are random; lookups are by process id
 * and the secret is compared in constant time.
 */
export class CancelRegistry {
  readonly #sessions = new Map<number, { secret: Buffer; cancel: () => void }>();

  register(cancel: () => void): { processId: number; secretKey: number; release: () => void } {
    let processId: number;
    do processId = randomInt(1, 2 ** 31 - 1);
    while (this.#sessions.has(processId));
    const secretKey = randomInt(-(2 ** 31), 2 ** 31 - 1);
    const secret = Buffer.alloc(4);
    secret.writeInt32BE(secretKey);
    this.#sessions.set(processId, { secret, cancel });
    return { processId, secretKey, release: () => this.#sessions.delete(processId) };
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
