// The SSH engine: a thin adapter from the gateway's shared ports to the SSH listener.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMasker } from '../../../../core/mask/index.js';
import { targetInfo, type Engine, type EnginePorts } from '../../engine.js';
import type { SshListenerConfig } from './config.js';
import type { SshTarget } from './context.js';
import { startSshListener } from './listener.js';

export async function startSshEngine(ports: EnginePorts, cfg: SshListenerConfig): Promise<Engine> {
  const sshTargets = new Map<string, SshTarget>();
  for (const t of ports.targets) {
    if (t.kind !== 'ssh') continue;
    sshTargets.set(t.name, {
      info: targetInfo(t),
      upstream: { host: t.host, port: t.port, user: t.user, credentialType: t.credentialType, hostKeys: t.hostKeys, connectTimeoutMs: t.connectTimeoutMs },
      credentialRef: t.credential,
    });
  }
  const { log, verifier, policy, secrets, audit, approvals } = ports;
  const listener = await startSshListener(
    { log, verifier, policy, secrets, audit, approvals, sshTargets, sessions: ports.sessions, masker: ports.masking.enabled ? createMasker(ports.masking) : undefined,
      // Interactive shells are recorded as asciicast v2 files; their SHA-256 is in the audit chain.
      recordingsDir: join(ports.dataDir, 'recordings'), maxLineBytes: cfg.maxLineBytes },
    { host: cfg.host, port: cfg.port, hostKeys: cfg.hostKeyFiles.map((f) => readFileSync(f)), authTimeoutMs: cfg.authTimeoutMs },
  );
  return {
    protocol: 'ssh',
    address: { host: cfg.host, port: listener.port },
    // The SSH listener keeps no public count; metrics count its sessions from the audit trail.
    stopAccepting: () => undefined,
    close: () => listener.close(),
  };
}
