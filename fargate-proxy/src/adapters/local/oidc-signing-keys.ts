import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export const ISSUER_SIGNING_ALGS = ['ES256', 'RS256', 'EdDSA'] as const;
export type IssuerSigningAlg = (typeof ISSUER_SIGNING_ALGS)[number];

export interface SigningKeySet {
  /** Private JWKs (with `kid`, `alg`, `use`), as oidc-provider's `jwks` option wants them. */
  keys: JWK[];
  alg: IssuerSigningAlg;
}

export async function generateSigningKey(alg: IssuerSigningAlg): Promise<JWK> {
  // EdDSA keys are Ed25519.
  const { privateKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

function isIssuerSigningAlg(value: unknown): value is IssuerSigningAlg {
  return (ISSUER_SIGNING_ALGS as readonly unknown[]).includes(value);
}

function isSigningKeySet(value: unknown): value is { keys: JWK[] } {
  if (value === null || typeof value !== 'object') return false;
  const keys = (value as { keys?: unknown }).keys;
  return Array.isArray(keys) && keys.length > 0 && keys.every((k) => typeof k === 'object' && k !== null && 'd' in k);
}

/**
 * Reads the issuer's private JWKS from `keyFile`, or generates one and persists it there (0600),
 * so tokens issued before a restart still verify after it. Without a file, keys live in memory.
 * `required`: the key type the configuration asks for; when the file's newest key is another type,
 * a key of the asked type is added in front (the older keys stay published, so tokens they signed
 * keep verifying until they expire).
 */
export async function loadOrCreateSigningKeys(keyFile: string | undefined, alg: IssuerSigningAlg, required?: IssuerSigningAlg): Promise<SigningKeySet> {
  let keys: JWK[] = [];
  if (keyFile) {
    let text: string | undefined;
    try {
      text = await readFile(keyFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      const parsed: unknown = JSON.parse(text);
      if (!isSigningKeySet(parsed)) throw new Error(`local issuer: ${keyFile} is not a JWKS with private keys`);
      const fileAlg = parsed.keys[0]?.alg;
      if (!required || fileAlg === required) return { keys: parsed.keys, alg: isIssuerSigningAlg(fileAlg) ? fileAlg : alg };
      keys = parsed.keys;
    }
  }
  alg = required ?? alg;
  keys = [await generateSigningKey(alg), ...keys];
  if (keyFile) {
    // Written aside then renamed, so a crash never leaves a half-written key file behind.
    const temp = `${keyFile}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, keyFile);
  }
  return { keys, alg };
}
