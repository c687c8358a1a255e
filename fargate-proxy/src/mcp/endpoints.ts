// Where the MCP server reaches the gateway's own listeners. The MCP tools are clients of those
// listeners (PostgreSQL, SSH, HTTP) with the agent's token, so every tool call takes the one data
// path — inspection, policy, approval, masking, audit — that psql, ssh and curl take.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { AirlockConfig, TargetConfig } from '../config/schema.js';

/** How a client on this machine verifies a gateway listener's TLS certificate: pinned, not merely trusted. */
export interface TlsPin {
  /** The listener's own certificate file, the only trust anchor (partial chains allowed: a CA-signed leaf anchors itself). */
  ca: string[];
  /** SHA-256 fingerprint (node's `AA:BB:…` form) of the listener's certificate: the one we accept. */
  fingerprint256: string;
}

export interface ListenerEndpoint {
  host: string;
  port: number;
  /** Absent: the listener is plain (allowPlaintext). */
  tls?: TlsPin;
}

/** What an agent may know of a target: never its address or credential. */
export interface TargetSummary {
  name: string;
  kind: TargetConfig['kind'];
  environment: string;
  tags: Record<string, string>;
}

export interface GatewayEndpoints {
  postgres?: ListenerEndpoint;
  /** `hostKeys`: the gateway's SSH host public keys (wire blobs), pinned by the client. */
  ssh?: { host: string; port: number; hostKeys: Buffer[] };
  http?: ListenerEndpoint;
  targets: TargetSummary[];
}

/** The addresses a running gateway really listens on (port 0 resolves at start). */
export interface ListenerAddresses {
  postgres?: { host: string; port: number };
  ssh?: { host: string; port: number };
  http?: { host: string; port: number };
}

/** A wildcard bind is reached over loopback. */
const reachable = (host: string): string => (host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host);

/** Pins a listener's certificate file (the console's too). */
export function tlsPin(certFile: string): TlsPin {
  const pem = readFileSync(certFile, 'utf8');
  const leaf = new X509Certificate(pem);
  return { ca: [pem], fingerprint256: leaf.fingerprint256 };
}

function sshHostPublicKey(file: string): Buffer {
  const parsed = ssh2.utils.parseKey(readFileSync(file));
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new Error(`cannot read the SSH host key ${file}`);
  return key.getPublicSSH();
}

/** The endpoints of a gateway running with `cfg` at `addresses`. */
export function gatewayEndpoints(cfg: AirlockConfig, addresses: ListenerAddresses): GatewayEndpoints {
  const l = cfg.listeners;
  const out: GatewayEndpoints = {
    targets: cfg.targets.map((t) => ({ name: t.name, kind: t.kind, environment: t.environment, tags: t.tags })),
  };
  if (l.postgres && addresses.postgres) out.postgres = { host: reachable(addresses.postgres.host), port: addresses.postgres.port, tls: l.postgres.tls && tlsPin(l.postgres.tls.certFile) };
  if (l.ssh && addresses.ssh) out.ssh = { host: reachable(addresses.ssh.host), port: addresses.ssh.port, hostKeys: l.ssh.hostKeyFiles.map(sshHostPublicKey) };
  if (l.http && addresses.http) out.http = { host: reachable(addresses.http.host), port: addresses.http.port, tls: l.http.tls && tlsPin(l.http.tls.certFile) };
  return out;
}

/**
 * TLS options for a pinned listener: the configured certificate is the trust anchor (even when a CA
 * signed it: partial chain) and the one certificate accepted; the host name is not what is checked
 * (the listener is reached at a loopback address), the certificate's fingerprint is.
 */
export function pinnedTls(pin: TlsPin): { ca: string[]; allowPartialTrustChain: true; checkServerIdentity: (host: string, cert: { fingerprint256?: string }) => Error | undefined } {
  return {
    ca: pin.ca,
    allowPartialTrustChain: true,
    checkServerIdentity: (_host, cert) => (cert.fingerprint256 === pin.fingerprint256 ? undefined : new Error('the gateway listener presented a certificate other than the configured one')),
  };
}

/** Compares a presented SSH host key with the pinned ones without leaking timing on partial matches. */
export function sshHostKeyPinned(pinned: Buffer[], presented: Buffer): boolean {
  const h = createHash('sha256').update(presented).digest('hex');
  return pinned.some((k) => createHash('sha256').update(k).digest('hex') === h);
}
