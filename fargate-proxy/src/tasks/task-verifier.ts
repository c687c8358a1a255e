// The gateway's token check with tasks: a task token (signed by the gateway's task key) yields the
// agent it was issued to, carrying the live task; any other token goes to the OIDC verifier.
// Every engine verifies through this one port, so PostgreSQL passwords, SSH passwords and HTTP
// bearers all accept task tokens without protocol changes.
import type { Principal } from '../../../core/model.js';
import { TokenRejectedError } from '../../../core/identity/errors.js';
import { looksLikeTaskToken, verifyTaskToken, TaskTokenRejected, type TaskTokenKey } from '../../../core/task/token.js';
import { taskUsable } from '../../../core/task/service.js';
import type { Task } from '../../../core/task/types.js';
import type { TokenVerifierPort } from '../context.js';

export function withTaskTokens(inner: TokenVerifierPort, key: Pick<TaskTokenKey, 'alg' | 'publicKey'>, task: (id: string) => Promise<Task | undefined>): TokenVerifierPort {
  return {
    async verify(token: string): Promise<Principal> {
      if (!looksLikeTaskToken(token)) return inner.verify(token);
      let claims;
      try {
        claims = await verifyTaskToken(token, key);
      } catch (err) {
        if (err instanceof TaskTokenRejected) {
          throw err.message.includes('expired') ? new TokenRejectedError('expired', { detail: 'task token; code=task_expired' }) : new TokenRejectedError('bad_signature', { detail: 'task token' });
        }
        throw err;
      }
      const found = await task(claims.taskId);
      // Bound to the agent it was issued to: the token's subject must be the task's owner.
      if (!found || found.principalId !== claims.principal.id || found.issuer !== claims.principal.issuer) {
        throw new TokenRejectedError('bad_signature', { detail: 'task token names no task of this agent' });
      }
      const usable = taskUsable(found);
      if (!usable.ok) throw new TokenRejectedError('expired', { detail: `code=task_expired task=${found.id}` });
      return {
        id: claims.principal.id,
        groups: claims.principal.groups,
        issuer: claims.principal.issuer,
        ...(claims.principal.clientId !== undefined ? { clientId: claims.principal.clientId } : {}),
        tokenId: `task:${found.id}`,
        expiresAt: claims.expiresAt,
        task: found,
      };
    },
  };
}
