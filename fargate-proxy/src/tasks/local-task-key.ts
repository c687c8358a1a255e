// The local gateway's task-token key: Ed25519, generated on first run into the data directory,
// readable by the gateway's user only (as the audit signing key). In AWS a KMS key signs instead
// (adapters/aws/kms-task-key.ts).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskTokenKey } from '../../../core/task/token.js';

export function loadOrCreateTaskKey(dataDir: string): TaskTokenKey {
  const file = join(dataDir, 'keys', 'task-signing.key');
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  try {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(file, pem, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const privateKey = createPrivateKey(readFileSync(file, 'utf8'));
  const publicKey = createPublicKey(privateKey);
  const kid = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url').slice(0, 16);
  return { alg: 'EdDSA', kid, publicKey, sign: async (input) => sign(null, input, privateKey) };
}
