// The configuration `npm start` runs with: everything local, nothing to install.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DemoPorts {
  postgres: number;
  console: number;
  issuer: number;
}

export const DEMO_PORTS: DemoPorts = { postgres: 6432, console: 8080, issuer: 8444 };
/** The folder holding `policies/`: the repository root, found from here whether run from source or from dist/. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'policies', 'demo.cedar'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find policies/demo.cedar above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** Client secrets for the local issuer, generated once and kept (0600) so tokens and scripts keep working. */
function localClients(dataDir: string): { agent: string; reviewer: string } {
  const path = join(dataDir, 'local-clients.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as { agent: string; reviewer: string };
  const secrets = { agent: randomBytes(24).toString('base64url'), reviewer: randomBytes(24).toString('base64url') };
  writeFileSync(path, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

export function demoConfig(
  dataDir: string,
  ports: DemoPorts,
  demoDb: { host: string; port: number; database: string; user: string },
  demoApi?: { url: string; httpPort: number },
  mcpPort?: number,
): Record<string, unknown> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secrets = localClients(dataDir);
  const cfg: Record<string, unknown> = {
    dataDir,
    logLevel: 'info',
    listeners: {
      postgres: { host: '127.0.0.1', port: ports.postgres, allowPlaintext: true },
      console: { host: '127.0.0.1', port: ports.console },
    },
    identity: {
      issuer: `http://127.0.0.1:${ports.issuer}`,
      audience: 'urn:airlock',
      localIssuer: {
        port: ports.issuer,
        clients: [
          { clientId: 'agent', clientSecret: secrets.agent, groups: ['agents'] },
          { clientId: 'reviewer', clientSecret: secrets.reviewer, groups: ['reviewers'] },
        ],
      },
    },
    targets: [
      {
        name: 'demo',
        kind: 'postgres',
        environment: 'demo',
        host: demoDb.host,
        port: demoDb.port,
        database: demoDb.database,
        user: demoDb.user,
        credential: 'memory:demo',
        tls: { mode: 'disable' },
      },
    ],
    policy: { file: join(repoRoot(), 'policies', 'demo.cedar') },
    approvals: { reviewerGroups: ['reviewers'], timeoutSeconds: 900 },
  };
  // --- http (issue 30): the demo HTTP API, reached as http://127.0.0.1:<httpPort>/demo-api/v1/... ---
  if (demoApi) {
    (cfg.listeners as Record<string, unknown>).http = { host: '127.0.0.1', port: demoApi.httpPort, allowPlaintext: true, approvalWaitSeconds: 30 };
    (cfg.targets as Record<string, unknown>[]).push({
      name: 'demo-api',
      kind: 'http',
      environment: 'demo',
      baseUrl: demoApi.url,
      credential: { type: 'header', header: 'X-Api-Key', secret: 'memory:demo-api' },
      routes: [{ id: 'search-is-a-read', methods: ['POST'], path: '/v1/search', action: 'read' }],
    });
  }
  // --- end http ---
  // --- mcp (issue 32): the MCP endpoint for agents configured as remote MCP clients (docs/agents.md) ---
  if (mcpPort !== undefined) (cfg.listeners as Record<string, unknown>).mcp = { host: '127.0.0.1', port: mcpPort, allowPlaintext: true };
  // --- end mcp ---
  return cfg;
}
