// The Ed25519 key that signs audit digests: generated on first run into the data directory,
// readable by the gateway's user only.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKeyPem } from '../../../../core/audit/digest.js';

export function signingKeyPaths(dir: string): { privateKey: string; publicKey: string } {
  return { privateKey: join(dir, 'keys', 'audit-signing.key'), publicKey: join(dir, 'keys', 'audit-signing.pub') };
}

export function loadOrCreateSigningKey(dir: string): KeyObject {
  const paths = signingKeyPaths(dir);
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(paths.privateKey, generateSigningKeyPem(), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = createPrivateKey(readFileSync(paths.privateKey, 'utf8'));
  // The public half beside it lets `airlock audit verify` run without the secret; pin it elsewhere too.
  writeFileSync(paths.publicKey, createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString(), { mode: 0o644 });
  return key;
}

export function readPublicKey(path: string): KeyObject {
  return createPublicKey(readFileSync(path, 'utf8'));
}
