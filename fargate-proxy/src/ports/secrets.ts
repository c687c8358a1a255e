/**
 * Where backend credentials come from. Values live in memory only: callers must never log,
 * persist or echo them, and `Secret` keeps them out of accidental serialisation.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[secret]';
  }
}

export interface SecretStore {
  /** `refresh` bypasses any cache: used once after the backend rejected a cached credential (rotation). */
  get(ref: string, opts?: { refresh?: boolean }): Promise<Secret>;
}

export class SecretUnavailableError extends Error {
  constructor(ref: string, why: string) {
    // The reference names where the secret lives, never its value.
    super(`credential ${ref} is unavailable: ${why}`);
  }
}

/** Routes each reference to the store for its scheme (`env:`, `file:`, `aws-secretsmanager:`, `memory:`). */
export class SecretRouter implements SecretStore {
  constructor(private readonly stores: Record<string, SecretStore>) {}
  get(ref: string, opts?: { refresh?: boolean }): Promise<Secret> {
    const scheme = ref.slice(0, ref.indexOf(':'));
    const store = this.stores[scheme];
    if (!store) return Promise.reject(new SecretUnavailableError(ref, `no secret store for "${scheme}:"`));
    return store.get(ref, opts);
  }
}
