// Audit digests signed by a KMS asymmetric key (ECC_NIST_P256, ECDSA_SHA_256): the fleet may ask
// KMS to sign but never holds the private key, so a compromised task cannot sign a rewritten
// history after the fact once it has lost the role. The public key is KMS's GetPublicKey, which
// `airlock audit verify --signing-key` fetches too.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import { keyIdOf, toPublicKey, type DigestSigner } from '../../../../core/audit/digest.js';

export const KMS_DIGEST_KEY_SPEC = 'ECC_NIST_P256';
export const KMS_DIGEST_ALGORITHM = 'ECDSA_SHA_256';

/** The key's public half (SPKI), as KMS publishes it; refuses keys that cannot sign digests. */
export async function kmsDigestPublicKey(kms: KMSClient, keyId: string): Promise<KeyObject> {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (!out.PublicKey) throw new Error(`KMS returned no public key for ${keyId}`);
  if (out.KeyUsage !== 'SIGN_VERIFY' || !(out.SigningAlgorithms ?? []).includes(KMS_DIGEST_ALGORITHM)) {
    throw new Error(`KMS key ${keyId} is not a ${KMS_DIGEST_KEY_SPEC} signing key (usage ${out.KeyUsage ?? '?'}, spec ${out.KeySpec ?? '?'})`);
  }
  return toPublicKey(createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' }));
}

export async function createKmsDigestSigner(kms: KMSClient, keyId: string): Promise<DigestSigner> {
  const publicKey = await kmsDigestPublicKey(kms, keyId);
  return {
    keyId: keyIdOf(publicKey),
    async sign(message: Buffer): Promise<Buffer> {
      // KMS signs at most 4 KB of raw message: send the SHA-256 instead (what ECDSA_SHA_256 signs anyway).
      const out = await kms.send(
        new SignCommand({
          KeyId: keyId,
          Message: createHash('sha256').update(message).digest(),
          MessageType: 'DIGEST',
          SigningAlgorithm: KMS_DIGEST_ALGORITHM,
        }),
      );
      if (!out.Signature) throw new Error('KMS returned no signature');
      return Buffer.from(out.Signature);
    },
  };
}
