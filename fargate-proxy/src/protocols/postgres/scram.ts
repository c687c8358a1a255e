// SCRAM-SHA-256 client side (RFC 5802 / RFC 7677), as PostgreSQL speaks it: no channel binding
// ("n,,"), user name left empty in the exchange because the server uses the startup user.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export class ScramError extends Error {}

const hmac = (key: Buffer, data: string) => createHmac('sha256', key).update(data).digest();

// PBKDF2 with thousands of iterations dominates connection set-up (milliseconds, on the event loop);
// the derived keys depend only on (password, salt, iterations), so they are kept in memory, keyed by
// a hash of the three — never the password itself. A rotated password or salt simply misses.
const MAX_DERIVED_KEYS = 256;
const derivedKeys = new Map<string, { clientKey: Buffer; serverKey: Buffer }>();

export class ScramClient {
  readonly #nonce = randomBytes(18).toString('base64');
  #clientFirstBare = '';
  #expectedServerSignature: Buffer | undefined;

  constructor(private readonly password: string) {}

  clientFirst(): string {
    this.#clientFirstBare = `n=*,r=${this.#nonce}`;
    return `n,,${this.#clientFirstBare}`;
  }

  clientFinal(serverFirst: string): string {
    const attrs = parseAttributes(serverFirst);
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!nonce || !nonce.startsWith(this.#nonce) || nonce.length === this.#nonce.length) throw new ScramError('server nonce is invalid');
    if (!salt) throw new ScramError('server sent no salt');
    if (!Number.isInteger(iterations) || iterations < 1) throw new ScramError('server sent an invalid iteration count');
    const { clientKey, serverKey } = this.#keys(salt, iterations);
    const clientFinalWithoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
    const storedKey = createHash('sha256').update(clientKey).digest();
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.#expectedServerSignature = hmac(serverKey, authMessage);
    return `${clientFinalWithoutProof},p=${proof.toString('base64')}`;
  }

  /** Verifies the server knew the password too: a rogue upstream must not pass as the real one. */
  verifyServerFinal(serverFinal: string): void {
    const attrs = parseAttributes(serverFinal);
    if (attrs.has('e')) throw new ScramError(`server rejected authentication: ${attrs.get('e')}`);
    const v = attrs.get('v');
    const expected = this.#expectedServerSignature;
    if (!v || !expected) throw new ScramError('server final message has no signature');
    const got = Buffer.from(v, 'base64');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new ScramError('server signature does not match');
  }

  #keys(salt: string, iterations: number): { clientKey: Buffer; serverKey: Buffer } {
    const id = createHash('sha256').update(this.password).update('\0').update(salt).update('\0').update(String(iterations)).digest('base64');
    let keys = derivedKeys.get(id);
    if (!keys) {
      const salted = pbkdf2Sync(this.password.normalize('NFKC'), Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
      keys = { clientKey: hmac(salted, 'Client Key'), serverKey: hmac(salted, 'Server Key') };
      if (derivedKeys.size >= MAX_DERIVED_KEYS) derivedKeys.delete(derivedKeys.keys().next().value!);
      derivedKeys.set(id, keys);
    }
    return keys;
  }
}

function parseAttributes(msg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) out.set(part[0]!, part.slice(2));
  }
  return out;
}
