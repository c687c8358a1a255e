// Configuration fragments for SSH: one target kind and one listener. The lead merges them into
// the gateway's configuration schema (targets discriminated union, listeners.ssh).
import { z } from 'zod';

export const sshTargetSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'letters, digits, _ . - (at most 63)'),
    kind: z.literal('ssh'),
    environment: z.string().min(1).default('production'),
    tags: z.record(z.string(), z.string()).default({}),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    /** The account on the target the gateway logs in as. */
    user: z.string().min(1),
    /** Secret reference (env:, file:, memory:, aws-secretsmanager:) holding a private key (PEM/OpenSSH) or a password. */
    credential: z.string().regex(/^(env|file|memory|aws-secretsmanager):.+/, 'a credential reference such as env:NAME or aws-secretsmanager:ARN'),
    credentialType: z.enum(['privateKey', 'password']).default('privateKey'),
    /** Pinned host keys of the target: `SHA256:<base64>` fingerprints or OpenSSH public key lines. A mismatch refuses the session. */
    hostKeys: z.array(z.string().min(1)).min(1),
    connectTimeoutMs: z.number().int().positive().default(10_000),
  })
  .strict();

export const sshListenerSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(2222),
    /** The gateway's own host key(s) (PEM or OpenSSH private key files): agents pin them like any SSH server's. */
    hostKeyFiles: z.array(z.string().min(1)).min(1),
    /** Seconds a client may take to authenticate. */
    authTimeoutMs: z.number().int().positive().default(30_000),
    /** Longest line of interactive input held for inspection. */
    maxLineBytes: z.number().int().positive().default(16 * 1024),
  })
  .strict();

export type SshTargetConfig = z.infer<typeof sshTargetSchema>;
export type SshListenerConfig = z.infer<typeof sshListenerSchema>;
