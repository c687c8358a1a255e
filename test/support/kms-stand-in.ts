// A stand-in for KMS's asymmetric signing, for aws-sdk-client-mock (no local KMS server exists on
// npm): GetPublicKey answers with a real P-256 key's SPKI, and Sign with MessageType DIGEST signs
// the given SHA-256 with ECDSA exactly as KMS does (DER signature). Node's crypto always hashes
// what it signs, so signing a prehash is done here with BigInt arithmetic on the curve; the
// signatures are then checked by Node's own verifier, so a mistake here cannot pass a test.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const A = P - 3n;
const G: Point = [0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n, 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n];
type Point = [bigint, bigint] | null;

const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
function inv(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
  }
  return mod(s0, m);
}
function add(p: Point, q: Point): Point {
  if (!p) return q;
  if (!q) return p;
  if (p[0] === q[0] && mod(p[1] + q[1], P) === 0n) return null;
  const l = p[0] === q[0] && p[1] === q[1] ? mod((3n * p[0] * p[0] + A) * inv(2n * p[1], P), P) : mod((q[1] - p[1]) * inv(q[0] - p[0], P), P);
  const x = mod(l * l - p[0] - q[0], P);
  return [x, mod(l * (p[0] - x) - p[1], P)];
}
function mul(k: bigint, p: Point): Point {
  let out: Point = null;
  for (let bit = k, base = p; bit > 0n; bit >>= 1n, base = add(base, base)) if (bit & 1n) out = add(out, base);
  return out;
}
const big = (b: Buffer) => BigInt(`0x${b.toString('hex') || '0'}`);
function derInt(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}

/** ECDSA P-256 over a 32-byte hash, DER-encoded (r, s), as KMS returns for ECDSA_SHA_256. */
export function signPrehashP256(privateKey: KeyObject, hash: Uint8Array): Buffer {
  const d = big(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'));
  const z = big(Buffer.from(hash));
  for (;;) {
    const k = mod(big(randomBytes(40)), N - 1n) + 1n;
    const r = mod(mul(k, G)![0], N);
    const s = mod(inv(k, N) * (z + r * d), N);
    if (r === 0n || s === 0n) continue;
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

export interface KmsStandIn {
  keyArn: string;
  publicKey: KeyObject;
  /** Every Sign request KMS received. */
  signRequests: Array<{ KeyId?: string; MessageType?: string; SigningAlgorithm?: string }>;
  restore(): void;
}

/** Mocks every KMSClient in this process as one ECC_NIST_P256 SIGN_VERIFY key. */
export function standInKms(keyArn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'): KmsStandIn {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const mock = mockClient(KMSClient);
  const signRequests: KmsStandIn['signRequests'] = [];
  mock.on(GetPublicKeyCommand).callsFake((input: { KeyId?: string }) => {
    if (input.KeyId !== keyArn) throw Object.assign(new Error(`Key '${input.KeyId}' does not exist`), { name: 'NotFoundException' });
    return {
      KeyId: keyArn,
      PublicKey: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      SigningAlgorithms: ['ECDSA_SHA_256'],
    };
  });
  mock.on(SignCommand).callsFake((input: { KeyId?: string; Message?: Uint8Array; MessageType?: string; SigningAlgorithm?: string }) => {
    signRequests.push({ KeyId: input.KeyId, MessageType: input.MessageType, SigningAlgorithm: input.SigningAlgorithm });
    if (input.KeyId !== keyArn) throw Object.assign(new Error('not found'), { name: 'NotFoundException' });
    if (input.SigningAlgorithm !== 'ECDSA_SHA_256' || input.MessageType !== 'DIGEST' || input.Message?.length !== 32) {
      throw Object.assign(new Error('stand-in supports ECDSA_SHA_256 over a 32-byte DIGEST only'), { name: 'ValidationException' });
    }
    return { KeyId: keyArn, Signature: new Uint8Array(signPrehashP256(privateKey, input.Message)), SigningAlgorithm: 'ECDSA_SHA_256' };
  });
  return { keyArn, publicKey, signRequests, restore: () => mock.restore() };
}
