// The configuration file of a gateway that runs in its own process (`airlock serve`, or
// test/support/gateway-process.ts) and is killed and started again on the same data directory.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RunningPostgres } from './pg-server.js';
import { AGENT, AUDIENCE, TEST_POLICY, pgTarget } from './gateway.js';

export interface ProcessGatewayConfig {
  file: string;
  /** The embedded issuer's port: fixed, so tokens stay valid across restarts. */
  issuerPort: number;
  tokenEndpoint: string;
}

/**
 * Writes `<dir>/config.yaml` (and `<dir>/policy.cedar`, TEST_POLICY): PostgreSQL listener on a free
 * port, data in `<dir>/data`, the embedded issuer serving AGENT on a port picked here, `pg` as the
 * target. `extra` is merged over the top level.
 */
export function writeProcessGatewayConfig(dir: string, pg: RunningPostgres, extra: Record<string, unknown> = {}): ProcessGatewayConfig {
  const issuerPort = 20000 + Math.floor(Math.random() * 20000);
  const policyFile = join(dir, 'policy.cedar');
  writeFileSync(policyFile, TEST_POLICY);
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    stringify({
      dataDir: join(dir, 'data'),
      logLevel: 'error',
      listeners: { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true } },
      identity: { issuer: `http://127.0.0.1:${issuerPort}`, audience: AUDIENCE, localIssuer: { port: issuerPort, clients: [AGENT] } },
      targets: [pgTarget(pg)],
      policy: { file: policyFile },
      ...extra,
    }),
  );
  return { file, issuerPort, tokenEndpoint: `http://127.0.0.1:${issuerPort}/token` };
}
