// The PostgreSQL engine: a thin adapter from the gateway's shared ports to the PostgreSQL listener
// (session.ts does the protocol, relay.ts the steady state).
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { inspectSql } from '../../../../core/classify/index.js';
import type { AirlockConfig } from '../../config/schema.js';
import type { GatewayContext, PostgresTarget } from '../../context.js';
import { targetInfo, type Engine, type EnginePorts } from '../../engine.js';
import { PostgresSessionHandler } from './session.js';

export type PostgresListenerConfig = NonNullable<AirlockConfig['listeners']['postgres']>;

export async function startPostgresEngine(ports: EnginePorts, cfg: PostgresListenerConfig): Promise<Engine> {
  const postgresTargets = new Map<string, PostgresTarget>();
  for (const t of ports.targets) {
    if (t.kind !== 'postgres') continue;
    postgresTargets.set(t.name, {
      info: targetInfo(t),
      upstream: { host: t.host, port: t.port, database: t.database, user: t.user, tls: t.tls, connectTimeoutMs: t.connectTimeoutMs },
      credentialRef: t.credential,
      readOnly: t.readOnly && { user: t.readOnly.user, credentialRef: t.readOnly.credential },
    });
  }
  const ctx: GatewayContext = { ...ports, sql: { inspect: inspectSql }, postgresTargets };
  const handler = new PostgresSessionHandler(ctx, {
    tls: cfg.tls ? tls.createSecureContext({ cert: readFileSync(cfg.tls.certFile), key: readFileSync(cfg.tls.keyFile) }) : undefined,
    allowPlaintext: cfg.allowPlaintext,
    maxMessageBytes: cfg.maxMessageBytes,
    authTimeoutMs: cfg.authTimeoutMs,
    fleet: ports.fleet,
    siblings: ports.siblings,
    statementLimits: { maxStatementBytes: cfg.maxStatementBytes, offloadAboveBytes: cfg.offloadStatementsAboveBytes, inspectDeadlineMs: cfg.inspectDeadlineMs },
  });
  // Half-open: a client may send its last messages and FIN, and still read the answers.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => handler.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  // Other tasks forward cancels for this task's sessions here (cancel-forwarding.ts).
  await ports.fleet?.advertisePostgres(port).catch((err) => {
    server.close();
    throw err;
  });
  ports.log.info({ host: cfg.host, port, tls: Boolean(cfg.tls) }, 'postgres listener ready');
  return {
    protocol: 'postgres',
    address: { host: cfg.host, port },
    liveSessions: () => handler.liveSessions,
    stopAccepting: () => {
      // Draining: a login that completes from now on is refused (57P03) and audited.
      handler.stopAdmitting();
      server.close();
    },
    close: () =>
      new Promise<void>((resolve) => {
        handler.closeAll('the gateway is shutting down');
        server.close(() => resolve());
      }),
  };
}
