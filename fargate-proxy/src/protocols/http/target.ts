// One configured HTTP target, ready to serve: its policy identity, path rules, route classifier
// and keep-alive pool to the upstream (undici; redirects are never followed).
import { readFileSync } from 'node:fs';
import type { Pool } from 'undici';
import type { TargetInfo } from '../../../../core/model.js';
import { targetInfo } from '../../engine.js';
import type { PathRules } from './canonical-path.js';
import { createClassifier, type Classified } from './classify.js';
import type { HttpTargetConfig } from './config.js';
import { loadOpenApi, type Operation } from './openapi.js';
import { openUpstreamPool } from './upstream-pool.js';

export interface HttpTarget {
  info: TargetInfo;
  config: HttpTargetConfig;
  rules: PathRules;
  /** The base URL's path, without a trailing "/": prefixed to every canonical path. */
  basePath: string;
  classify(method: string, path: string, operationId?: string): Classified | undefined;
  /** The OpenAPI operation a request is (method + canonical path below the base), when the target has a document. */
  operation?(method: string, canonicalPath: string): Operation | undefined;
  pool: Pool;
}

export function createHttpTarget(cfg: HttpTargetConfig): HttpTarget {
  const base = new URL(cfg.baseUrl);
  // Read first: a bad document fails the start before any pool is opened.
  const operations = cfg.openapi && loadOpenApi(cfg.openapi.file, { caseSensitive: cfg.paths.caseSensitive });
  const tls = cfg.tls;
  const pool = openUpstreamPool(base.origin, {
    responseTimeoutMs: cfg.responseTimeoutMs,
    connectTimeoutMs: cfg.connectTimeoutMs,
    ...(tls?.caFile && { ca: readFileSync(tls.caFile) }),
    ...(tls?.serverName && { serverName: tls.serverName }),
    ...(tls?.clientCertFile && { clientCert: { cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile!) } }),
  });
  const basePath = base.pathname.replace(/\/+$/, '');
  return {
    info: targetInfo(cfg),
    config: cfg,
    rules: cfg.paths,
    basePath,
    classify: createClassifier(cfg.routes, cfg.paths.caseSensitive, cfg.openapi?.unmatched === 'opaque'),
    ...(operations && { operation: (method: string, path: string) => operations.match(method, `${basePath}${path === '/' && basePath ? '' : path}`) }),
    pool,
  };
}
