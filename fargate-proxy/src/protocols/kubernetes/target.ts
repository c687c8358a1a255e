// One configured Kubernetes target, ready to serve: its policy identity, the API server's URL, a
// keep-alive pool to it (undici; with the client certificate when that is the credential), and the
// credential headers — fetched from the secrets port per request (a cache there absorbs the cost),
// never shown to the agent, scrubbed from anything the API server sends back.
import { readFileSync } from 'node:fs';
import type { Pool } from 'undici';
import type { Principal, TargetInfo } from '../../../../core/model.js';
import { targetInfo } from '../../engine.js';
import type { SecretStore } from '../../ports/secrets.js';
import { openUpstreamPool } from '../http/upstream-pool.js';
import type { KubernetesTargetConfig } from './config.js';

export interface UpstreamCredential {
  /** `authorization` and `impersonate-*` headers for the upstream request. */
  headers: Record<string, string | string[]>;
  /** Strings that would reveal the credential if the agent saw them. */
  revealing: string[];
  /** PEM client certificate and key, when that is the credential. */
  clientCert?: { cert: string; key: string };
}

export interface KubeTarget {
  info: TargetInfo;
  config: KubernetesTargetConfig;
  /** Origin and base path of the API server. */
  origin: string;
  basePath: string;
  ca?: Buffer;
  credential(principal: Principal): Promise<UpstreamCredential>;
  pool(): Promise<Pool>;
  close(): Promise<void>;
}

/** Where an `eks` credential's tokens come from (adapters/aws/eks-token.ts in the gateway). */
export type EksTokenSourceFactory = (c: Extract<KubernetesTargetConfig['credential'], { type: 'eks' }>) => () => Promise<string>;

export function createKubeTarget(cfg: KubernetesTargetConfig, secrets: SecretStore, eksTokens?: EksTokenSourceFactory): KubeTarget {
  const url = new URL(cfg.server);
  const ca = cfg.caFile ? readFileSync(cfg.caFile) : undefined;
  let pool: Promise<Pool> | undefined;
  let current: Pool | undefined;
  let poolCert: string | undefined;
  const eksToken = cfg.credential.type === 'eks' ? eksTokens?.(cfg.credential) : undefined;

  const credential = async (principal: Principal): Promise<UpstreamCredential> => {
    const headers: Record<string, string | string[]> = {};
    const revealing: string[] = [];
    let clientCert: UpstreamCredential['clientCert'];
    if (cfg.credential.type === 'token' || cfg.credential.type === 'eks') {
      const token = cfg.credential.type === 'token' ? (await secrets.get(cfg.credential.secret)).reveal().trim() : await eksTokenOf(eksToken);
      headers.authorization = `Bearer ${token}`;
      revealing.push(token);
    } else {
      const [cert, key] = await Promise.all([secrets.get(cfg.credential.certificate), secrets.get(cfg.credential.key)]);
      clientCert = { cert: cert.reveal(), key: key.reveal() };
      revealing.push(clientCert.key.trim());
    }
    if (cfg.impersonate) {
      headers['impersonate-user'] = cfg.impersonate.user.replaceAll('{principal}', principal.id);
      const groups = [...principal.groups.map((g) => `${cfg.impersonate!.groupPrefix}${g}`), ...cfg.impersonate.groups];
      if (groups.length > 0) headers['impersonate-group'] = groups;
    }
    return { headers, revealing, clientCert };
  };

  const makePool = (clientCert?: { cert: string; key: string }) =>
    openUpstreamPool(url.origin, { responseTimeoutMs: cfg.responseTimeoutMs, connectTimeoutMs: cfg.connectTimeoutMs, ca, serverName: cfg.serverName, clientCert });

  return {
    info: targetInfo(cfg),
    config: cfg,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    ca,
    credential,
    async pool() {
      if (cfg.credential.type !== 'clientCertificate') {
        pool ??= Promise.resolve(makePool());
        return pool;
      }
      // The certificate may rotate in the secrets store: a new one gets a new pool.
      const c = await credential({ id: '', groups: [], issuer: '' });
      if (!current || poolCert !== c.clientCert!.cert) {
        const old = current;
        current = makePool(c.clientCert);
        poolCert = c.clientCert!.cert;
        void old?.close().catch(() => undefined);
      }
      return current;
    },
    async close() {
      const p = await pool?.catch(() => undefined);
      await Promise.all([p?.close(), current?.close()].map((x) => x?.catch(() => undefined)));
    },
  };
}

async function eksTokenOf(source: (() => Promise<string>) | undefined): Promise<string> {
  // Fail closed: without AWS support in this build an EKS target has no identity to present.
  if (!source) throw new Error('an eks credential needs the AWS token source, which this gateway was started without');
  return source();
}
