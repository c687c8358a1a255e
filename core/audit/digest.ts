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
  /** Ed25519 signature (base64) over the canonical JSON of every other field. */
  sig: string;
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
  if (pub.asymmetricKeyType !== 'ed25519') throw new Error('audit verification key must be Ed25519');
  return pub;
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

export function digestSignatureValid(d: SignedDigest, publicKey: KeyObject): boolean {
  const { sig, ...body } = d;
  try {
    return verify(null, Buffer.from(canonicalJson(body)), publicKey, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}
