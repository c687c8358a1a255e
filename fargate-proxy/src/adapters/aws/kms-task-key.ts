// Task tokens signed by a KMS asymmetric key (ECC_NIST_P256, ECDSA_SHA_256 → JWS ES256), beside the
// audit digest signer: the fleet may ask KMS to sign but never holds the key, and every task of the
// fleet verifies with the same published public key.
import { createHash } from 'node:crypto';
import { SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { TaskTokenKey } from '../../../../core/task/token.js';
import { KMS_DIGEST_ALGORITHM, kmsDigestPublicKey } from './kms-digest-signer.js';

/** KMS answers ECDSA as DER (SEQUENCE of two INTEGERs); JWS wants r‖s, 32 bytes each. */
export function derToJose(der: Buffer, size = 32): Buffer {
  if (der[0] !== 0x30) throw new Error('not a DER ECDSA signature');
  let pos = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const int = (): Buffer => {
    if (der[pos] !== 0x02) throw new Error('not a DER ECDSA signature');
    const len = der[pos + 1]!;
    let v = der.subarray(pos + 2, pos + 2 + len);
    pos += 2 + len;
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    if (v.length > size) throw new Error('ECDSA integer too long');
    return Buffer.concat([Buffer.alloc(size - v.length), v]);
  };
  return Buffer.concat([int(), int()]);
}

export async function createKmsTaskKey(kms: KMSClient, keyId: string): Promise<TaskTokenKey> {
  const publicKey = await kmsDigestPublicKey(kms, keyId);
  const kid = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url').slice(0, 16);
  return {
    alg: 'ES256',
    kid,
    publicKey,
    async sign(input: Buffer): Promise<Buffer> {
      const out = await kms.send(
        new SignCommand({ KeyId: keyId, Message: createHash('sha256').update(input).digest(), MessageType: 'DIGEST', SigningAlgorithm: KMS_DIGEST_ALGORITHM }),
      );
      if (!out.Signature) throw new Error('KMS returned no signature');
      return derToJose(Buffer.from(out.Signature));
    },
  };
}
