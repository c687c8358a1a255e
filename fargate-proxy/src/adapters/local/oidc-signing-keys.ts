import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export type IssuerSigningAlg = 'ES256' | 'RS256';

export interface SigningKeySet {
  /** Private JWKs (with `kid`, `alg`, `use`), as oidc-provider's `jwks` option wants them. */
  keys: JWK[];
  alg: IssuerSigningAlg;
}

export async function generateSigningKey(alg: IssuerSigningAlg): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

function isIssuerSigningAlg(value: unknown): value is IssuerSigningAlg {
  return value === 'ES256' || value === 'RS256';
}

function isSigningKeySet(value: unknown): value is { keys: JWK[] } {
  if (value === null || typeof value !== 'object') return false;
  const keys = (value as { keys?: unknown }).keys;
  return Array.isArray(keys) && keys.length > 0 && keys.every((k) => typeof k === 'object' && k !== null && 'd' in k);
}

/**
 * Reads the issuer's private JWKS from `keyFile`, or generates one and persists it there (0600),
 * so tokens issued before a restart still verify after it. Without a file, keys live in memory.
 */
export async function loadOrCreateSigningKeys(keyFile: string | undefined, alg: IssuerSigningAlg): Promise<SigningKeySet> {
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
      return { keys: parsed.keys, alg: isIssuerSigningAlg(fileAlg) ? fileAlg : alg };
    }
  }
  const keys = [await generateSigningKey(alg)];
  if (keyFile) {
    // Written aside then renamed, so a crash never leaves a half-written key file behind.
    const temp = `${keyFile}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, keyFile);
  }
  return { keys, alg };
}
