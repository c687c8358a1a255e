// Task tokens: compact JWS signed by the gateway's own key (a local Ed25519 key, or a KMS key in
// AWS), carrying the agent's identity and the task id. The agent presents it where it presented its
// access token (PostgreSQL password, SSH password, HTTP bearer). It proves which task and which agent;
// whether the task is still active is looked up on every use, so closing a task ends its tokens.
import type { KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader } from 'jose';
import type { Principal } from '../model.js';

export const TASK_TOKEN_TYP = 'airlock-task+jwt';
export const TASK_TOKEN_ISSUER = 'airlock:task';

/** The signing half: local key or KMS. `sign` returns a JWS signature (raw r||s for ES256). */
export interface TaskTokenKey {
  readonly alg: 'EdDSA' | 'ES256';
  readonly kid: string;
  readonly publicKey: KeyObject;
  sign(signingInput: Buffer): Promise<Buffer>;
}

export interface TaskTokenClaims {
  taskId: string;
  principal: Pick<Principal, 'id' | 'groups' | 'issuer' | 'clientId'>;
  /** Seconds since epoch. */
  expiresAt: number;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function signTaskToken(key: TaskTokenKey, claims: TaskTokenClaims, now = Date.now()): Promise<string> {
  const header = { alg: key.alg, kid: key.kid, typ: TASK_TOKEN_TYP };
  const payload = {
    iss: TASK_TOKEN_ISSUER,
    sub: claims.principal.id,
    tid: claims.taskId,
    grp: claims.principal.groups,
    idp: claims.principal.issuer,
    ...(claims.principal.clientId !== undefined ? { cid: claims.principal.clientId } : {}),
    iat: Math.floor(now / 1000),
    exp: claims.expiresAt,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = await key.sign(Buffer.from(input, 'ascii'));
  return `${input}.${b64url(sig)}`;
}

/** Cheap test whether a presented secret is a task token (its header says so); nothing is trusted yet. */
export function looksLikeTaskToken(token: string): boolean {
  if (token.split('.').length !== 3 || token.length > 8192) return false;
  try {
    return decodeProtectedHeader(token).typ === TASK_TOKEN_TYP;
  } catch {
    return false;
  }
}

export class TaskTokenRejected extends Error {}

/** Verifies signature and expiry; throws TaskTokenRejected. */
export async function verifyTaskToken(token: string, key: Pick<TaskTokenKey, 'alg' | 'publicKey'>, now = Date.now()): Promise<TaskTokenClaims> {
  let payload: Record<string, unknown>;
  try {
    const out = await compactVerify(token, key.publicKey, { algorithms: [key.alg] });
    if (out.protectedHeader.typ !== TASK_TOKEN_TYP) throw new Error('typ');
    payload = JSON.parse(Buffer.from(out.payload).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new TaskTokenRejected('task token signature does not verify');
  }
  const { iss, sub, tid, grp, idp, cid, exp } = payload;
  if (iss !== TASK_TOKEN_ISSUER || typeof sub !== 'string' || typeof tid !== 'string' || typeof idp !== 'string' || typeof exp !== 'number') {
    throw new TaskTokenRejected('task token claims are malformed');
  }
  if (exp * 1000 <= now) throw new TaskTokenRejected('task token has expired');
  const groups = Array.isArray(grp) ? grp.filter((g): g is string => typeof g === 'string') : [];
  return {
    taskId: tid,
    principal: { id: sub, groups, issuer: idp, ...(typeof cid === 'string' ? { clientId: cid } : {}) },
    expiresAt: exp,
  };
}
