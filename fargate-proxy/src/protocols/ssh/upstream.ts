// The gateway's SSH client to a target: logs in with the credential from the secrets port (held in
// memory for this connection only) and refuses any host key that is not pinned in configuration.
import { createHash } from 'node:crypto';
import ssh2, { type Client, type ConnectConfig } from 'ssh2';
import type { Secret } from '../../ports/secrets.js';

export interface UpstreamSshSpec {
  host: string;
  port: number;
  user: string;
  credentialType: 'privateKey' | 'password';
  /** `SHA256:<base64>` fingerprints or OpenSSH public key lines (`ssh-ed25519 AAAA… comment`). */
  hostKeys: string[];
  connectTimeoutMs: number;
}

export class HostKeyMismatchError extends Error {
  constructor(readonly presented: string) {
    super(`the target presented host key ${presented}, which is not pinned in configuration: refusing to connect`);
  }
}

export class UpstreamAuthError extends Error {}

export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Whether the raw public key blob matches one of the pins. */
export function hostKeyPinned(key: Buffer, pins: readonly string[]): boolean {
  const fingerprint = hostKeyFingerprint(key);
  const blob = key.toString('base64');
  return pins.some((pin) => {
    const p = pin.trim();
    if (p.startsWith('SHA256:')) return p.replace(/=+$/, '') === fingerprint;
    return p.split(/\s+/)[1] === blob;
  });
}

export function connectUpstream(spec: UpstreamSshSpec, credential: Secret): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let presented: string | undefined;
    const cfg: ConnectConfig = {
      host: spec.host,
      port: spec.port,
      username: spec.user,
      readyTimeout: spec.connectTimeoutMs,
      keepaliveInterval: 30_000,
      hostVerifier: (key: Buffer) => {
        if (hostKeyPinned(key, spec.hostKeys)) return true;
        presented = hostKeyFingerprint(key);
        return false;
      },
    };
    if (spec.credentialType === 'password') cfg.password = credential.reveal();
    else cfg.privateKey = credential.reveal();
    const fail = (err: Error & { level?: string }) => {
      client.removeAllListeners('ready');
      client.end();
      if (presented) reject(new HostKeyMismatchError(presented));
      else if (err.level === 'client-authentication') reject(new UpstreamAuthError('the target rejected the gateway credential'));
      // ssh2's messages carry no secret material, but keep only the message.
      else reject(new Error(err.message));
    };
    client.once('error', fail);
    client.once('ready', () => {
      client.off('error', fail);
      client.on('error', () => undefined); // reported through the channels that fail
      resolve(client);
    });
    // Nagle's algorithm on this leg holds each small SFTP request or channel message until the
    // previous one is acknowledged: scp through the gateway ran at half its speed (docs/benchmarks.md).
    client.once('connect', () => client.setNoDelay(true));
    client.connect(cfg);
  });
}
