import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Secret, SecretUnavailableError, type SecretStore } from '../../ports/secrets.js';

/**
 * `aws-secretsmanager:<arn-or-name>[#jsonKey]`. Values are cached briefly in memory so a burst of
 * sessions costs one API call; `refresh` (after an authentication failure) bypasses the cache once,
 * which is how a rotated password is picked up.
 */
export class SecretsManagerStore implements SecretStore {
  readonly #cache = new Map<string, { secret: Secret; until: number }>();
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly ttlMs = 60_000,
    private readonly now = () => Date.now(),
  ) {}

  async get(ref: string, opts?: { refresh?: boolean }): Promise<Secret> {
    const cached = this.#cache.get(ref);
    if (cached && !opts?.refresh && cached.until > this.now()) return cached.secret;
    const spec = ref.slice('aws-secretsmanager:'.length);
    const hash = spec.lastIndexOf('#');
    const secretId = hash >= 0 ? spec.slice(0, hash) : spec;
    const jsonKey = hash >= 0 ? spec.slice(hash + 1) : undefined;
    let text: string | undefined;
    try {
      const out = await this.client.send(new GetSecretValueCommand({ SecretId: secretId }));
      text = out.SecretString;
    } catch (err) {
      // The SDK's message names the secret, never its value.
      throw new SecretUnavailableError(ref, (err as Error).name || 'request failed');
    }
    if (text === undefined) throw new SecretUnavailableError(ref, 'secret has no string value');
    let value = text;
    if (jsonKey !== undefined) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new SecretUnavailableError(ref, 'secret is not JSON');
      }
      const field = (doc as Record<string, unknown>)[jsonKey];
      if (typeof field !== 'string') throw new SecretUnavailableError(ref, `JSON key "${jsonKey}" is missing`);
      value = field;
    }
    const secret = new Secret(value);
    this.#cache.set(ref, { secret, until: this.now() + this.ttlMs });
    return secret;
  }
}
