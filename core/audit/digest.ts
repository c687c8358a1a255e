// Signed digests: a writer periodically signs the heads of the session chains it wrote since the
// last digest. Digests chain among themselves too, so removing one is visible.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, sha256Hex } from './chain.js';

export interface DigestEntry {
  sessionId: string;
  seq: number;
  hash: string;
}

export interface SignedDigest {
  v: 1;
  /** Identifies the writer (gateway instance) whose digests form one chain. */
  writer: string;
  /** 1, 2, 3… per writer. */
  dseq: number;
  at: string;
  /** Hash of the previous digest of this writer (genesis: derived from the writer id). */
  prev: string;
  sessions: DigestEntry[];
  /** sha256 over the signer's public key (SPKI DER), first 32 hex chars. */
  keyId: string;
  /**
   * Signature (base64) over the canonical JSON of every other field: Ed25519 (a local key), or
   * ECDSA P-256 with SHA-256, DER-encoded (a KMS key; see DigestSigner). The key's type says which.
   */
  sig: string;
}

/**
 * Signs digests with a key the writer does not hold (KMS in AWS): asynchronous, and the private
 * half never leaves the signer. `sign` receives the exact bytes to sign (canonical JSON).
 */
export interface DigestSigner {
  /** keyIdOf(the signer's public key). */
  keyId: string;
  sign(message: Buffer): Promise<Buffer>;
}

export function digestGenesis(writer: string): string {
  return sha256Hex(`airlock-audit/v1/digest-genesis/${writer}`);
}

export function digestHash(d: SignedDigest): string {
  return sha256Hex(canonicalJson(d));
}

export function keyIdOf(publicKey: KeyObject): string {
  return sha256Hex(publicKey.export({ type: 'spki', format: 'der' })).slice(0, 32);
}

export function toPrivateKey(key: KeyObject | string): KeyObject {
  const k = typeof key === 'string' ? createPrivateKey(key) : key;
  if (k.type !== 'private' || k.asymmetricKeyType !== 'ed25519') throw new Error('audit signing key must be an Ed25519 private key');
  return k;
}

export function toPublicKey(key: KeyObject | string): KeyObject {
  const k = typeof key === 'string' ? createPublicKey(key) : key;
  const pub = k.type === 'private' ? createPublicKey(k) : k;
  if (!isVerificationKey(pub)) throw new Error('audit verification key must be Ed25519 or ECDSA P-256');
  return pub;
}

function isVerificationKey(k: KeyObject): boolean {
  return k.asymmetricKeyType === 'ed25519' || (k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1');
}

export function generateSigningKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function signDigest(unsigned: Omit<SignedDigest, 'sig' | 'keyId'>, privateKey: KeyObject): SignedDigest {
  const keyId = keyIdOf(createPublicKey(privateKey));
  const body = { ...unsigned, keyId };
  const sig = sign(null, Buffer.from(canonicalJson(body)), privateKey).toString('base64');
  return { ...body, sig };
}

/** Signs with an external signer (KMS): same body and encoding as signDigest. */
export async function signDigestWith(unsigned: Omit<SignedDigest, 'sig' | 'keyId'>, signer: DigestSigner): Promise<SignedDigest> {
  const body = { ...unsigned, keyId: signer.keyId };
  const sig = (await signer.sign(Buffer.from(canonicalJson(body)))).toString('base64');
  return { ...body, sig };
}

export function digestSignatureValid(d: SignedDigest, publicKey: KeyObject): boolean {
  const { sig, ...body } = d;
  if (!isVerificationKey(publicKey)) return false;
  try {
    // Ed25519 hashes internally; ECDSA P-256 signatures (DER) are over SHA-256 of the message.
    const algorithm = publicKey.asymmetricKeyType === 'ec' ? 'sha256' : null;
    return verify(algorithm, Buffer.from(canonicalJson(body)), publicKey, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}
