import { readFile } from 'node:fs/promises';
import { Secret, SecretUnavailableError, type SecretStore } from '../../ports/secrets.js';

/** `env:NAME` — read at each session start, so a changed environment needs no restart logic. */
export class EnvSecretStore implements SecretStore {
  async get(ref: string): Promise<Secret> {
    const value = process.env[ref.slice('env:'.length)];
    if (value === undefined || value === '') throw new SecretUnavailableError(ref, 'environment variable is not set');
    return new Secret(value);
  }
}

/** `file:/path` — the whole file, without its trailing newline (as written by `echo`). */
export class FileSecretStore implements SecretStore {
  async get(ref: string): Promise<Secret> {
    const path = ref.slice('file:'.length);
    try {
      const text = await readFile(path, 'utf8');
      return new Secret(text.replace(/\r?\n$/, ''));
    } catch (err) {
      throw new SecretUnavailableError(ref, (err as NodeJS.ErrnoException).code ?? 'unreadable');
    }
  }
}

/** `memory:NAME` — values the process itself created (the demo database's generated password). */
export class MemorySecretStore implements SecretStore {
  readonly #values = new Map<string, string>();
  set(name: string, value: string): void {
    this.#values.set(name, value);
  }
  async get(ref: string): Promise<Secret> {
    const value = this.#values.get(ref.slice('memory:'.length));
    if (value === undefined) throw new SecretUnavailableError(ref, 'not set');
    return new Secret(value);
  }
}
