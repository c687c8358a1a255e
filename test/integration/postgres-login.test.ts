// Logging in through the gateway: the token attack matrix, startup parameters, TLS on both sides
// and every upstream authentication method, against a real PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { AUDIENCE, OUTSIDER, pgTarget, psql, startTestGateway, type TestGateway } from '../support/gateway.js';
import { EXPECTED_REJECTION, FORGE_KINDS, forgeToken, loadIssuerSigningKey } from '../support/tokens.js';

let server: RunningPostgres;
let gw: TestGateway;

function auditText(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.jsonl')) out.push(readFileSync(p, 'utf8'));
    }
  };
  walk(join(dir, 'data', 'audit'));
  return out.join('');
}

const connectionsAuthorized = () => (readFileSync(server.logFile, 'utf8').match(/connection authorized: user=app\b/g) ?? []).length;

async function loginError(options: pg.ClientConfig): Promise<pg.DatabaseError | undefined> {
  const c = new pg.Client(options);
  try {
    await c.connect();
    await c.end();
    return undefined;
  } catch (err) {
    return err as pg.DatabaseError;
  }
}

before(async () => {
  server = await startPostgres({ settings: { log_connections: 'on' }, md5Password: 'md5-pass-0123456789', cleartextPassword: 'clear-pass-0123456789', tls: true });
  process.env.AIRLOCK_TEST_MD5_PASSWORD = server.roles.md5!.password;
  process.env.AIRLOCK_TEST_CLEAR_PASSWORD = server.roles.cleartext!.password;
  gw = await startTestGateway(server, {
    targets: [
      pgTarget(server),
      { ...pgTarget(server), name: 'app-md5', user: server.roles.md5!.user, credential: 'env:AIRLOCK_TEST_MD5_PASSWORD' },
      { ...pgTarget(server), name: 'app-clear', user: server.roles.cleartext!.user, credential: 'env:AIRLOCK_TEST_CLEAR_PASSWORD' },
      { ...pgTarget(server), name: 'app-tls', tls: { mode: 'verify-full', caFile: server.caFile, serverName: 'localhost' } },
      { ...pgTarget(server), name: 'app-tls-wrong-ca', tls: { mode: 'verify-full', caFile: '/etc/ssl/certs/ca-certificates.crt', serverName: 'localhost' } },
      { ...pgTarget(server), name: 'app-wrong-secret', credential: 'env:AIRLOCK_TEST_NO_SUCH_VAR' },
    ],
  });
});

after(async () => {
  await gw?.stop();
  await server?.stop();
});

describe('token attack matrix', () => {
  test('every forged or broken token is refused with 28P01 before any upstream connection, and audited', async () => {
    const key = await loadIssuerSigningKey(join(gw.dir, 'data', 'issuer-keys.json'));
    const before = connectionsAuthorized();
    const seen: string[] = [];
    for (const kind of FORGE_KINDS) {
      const token = await forgeToken(kind, { issuer: gw.gw.issuer, audience: AUDIENCE, signingKey: key, subject: 'forger', groups: ['agents'] });
      const err = await loginError(gw.pgOptions(token));
      if (EXPECTED_REJECTION[kind] === null) {
        assert.equal(err, undefined, `${kind} should be accepted: ${err?.message}`);
        continue;
      }
      assert.ok(err, `${kind} was accepted`);
      assert.equal(err.code, '28P01', `${kind}: ${err.message}`);
      assert.match(err.message, /access token rejected/);
      assert.ok(!err.message.includes(token.slice(0, 40)), 'the error echoes the token');
      seen.push(EXPECTED_REJECTION[kind]!);
    }
    for (const garbage of ['', 'not-a-jwt', 'a.b.c', 'x'.repeat(20000)]) {
      const err = await loginError(gw.pgOptions(garbage));
      assert.ok(err && ['28P01', '08P01', '54000'].includes(err.code!), `garbage accepted: ${err?.code}`);
    }
    const accepted = FORGE_KINDS.filter((k) => EXPECTED_REJECTION[k] === null).length;
    assert.equal(connectionsAuthorized() - before, accepted, 'only accepted tokens opened upstream connections');
    const audit = auditText(gw.dir);
    for (const code of new Set(seen)) assert.match(audit, new RegExp(`"code":"token_${code}"`), `refusal ${code} not audited`);
  });

  test('a valid token of a principal no policy lets connect gets 28000', async () => {
    const err = await loginError(gw.pgOptions(await gw.token(OUTSIDER)));
    assert.equal(err?.code, '28000');
    assert.match(err!.message, /may not connect to target "app"/);
  });

  test('an unknown target gets 3D000 after authentication', async () => {
    const err = await loginError({ ...gw.pgOptions(await gw.token()), database: 'nope' });
    assert.equal(err?.code, '3D000');
  });
});

describe('startup packet', () => {
  test('options, replication and unknown parameters are refused', async () => {
    const token = await gw.token();
    for (const extra of ["options='-c search_path=evil'", 'replication=database']) {
      const r = await psql(gw.conninfo(extra), ['-c', 'SELECT 1'], { token });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /startup parameter "(options|replication)" is not allowed/);
    }
  });

  test('application_name is passed upstream', async () => {
    const token = await gw.token();
    const r = await psql(gw.conninfo('application_name=agent-run-7'), ['-At', '-c', 'SHOW application_name'], { token });
    assert.equal(r.stdout.trim(), 'agent-run-7');
  });

  test('GSSENC is declined and the client falls back', async () => {
    const token = await gw.token();
    const r = await psql(gw.conninfo('gssencmode=prefer'), ['-At', '-c', 'SELECT 1'], { token });
    assert.equal(r.stdout.trim(), '1', r.stderr);
  });
});

describe('upstream authentication and TLS', () => {
  for (const [target, label] of [
    ['app', 'SCRAM-SHA-256'],
    ['app-md5', 'md5'],
    ['app-clear', 'cleartext'],
    ['app-tls', 'TLS verify-full'],
  ] as const) {
    test(`${label} upstream login works`, async () => {
      const c = new pg.Client({ ...gw.pgOptions(await gw.token()), database: target });
      await c.connect();
      const r = await c.query('SELECT current_user AS u, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl');
      await c.end();
      assert.ok(r.rows[0].u.startsWith('app'));
      assert.equal(r.rows[0].ssl, target === 'app-tls');
    });
  }

  test('an upstream certificate that does not verify refuses the session (08001), naming no secret', async () => {
    const err = await loginError({ ...gw.pgOptions(await gw.token()), database: 'app-tls-wrong-ca' });
    assert.equal(err?.code, '08001');
    assert.match(err!.message, /TLS/);
  });

  test('a missing credential refuses the session without details of the secret', async () => {
    const err = await loginError({ ...gw.pgOptions(await gw.token()), database: 'app-wrong-secret' });
    assert.equal(err?.code, '08001');
    assert.doesNotMatch(err!.message, new RegExp(server.roles.app.password));
  });
});

describe('TLS towards the client', () => {
  test('with a certificate configured, sslmode=require works and plaintext is refused', async () => {
    const dir = execFileSync('mktemp', ['-d']).toString().trim();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const tlsGw = await startTestGateway(server, {
      config: (raw) => {
        (raw.listeners as Record<string, Record<string, unknown>>).postgres = { host: '127.0.0.1', port: 0, tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') } };
      },
    });
    try {
      const token = await tlsGw.token();
      const ok = await psql(tlsGw.conninfo().replace('sslmode=disable', `sslmode=verify-full sslrootcert=${join(dir, 'cert.pem')}`).replace('host=127.0.0.1', 'host=localhost'), ['-At', '-c', 'SELECT 1'], { token });
      assert.equal(ok.stdout.trim(), '1', ok.stderr);
      const plain = await psql(tlsGw.conninfo(), ['-c', 'SELECT 1'], { token });
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /requires TLS/);
    } finally {
      await tlsGw.stop();
    }
  });
});
