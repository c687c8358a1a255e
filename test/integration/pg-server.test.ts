// The test PostgreSQL helper: real server, real clients, each upstream auth method really enforced.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { startPostgres } from '../support/pg-server.js';

const execFileAsync = promisify(execFile);

const server = await startPostgres({
  appPassword: 'scram-pw',
  md5Password: 'md5-pw',
  cleartextPassword: 'clear-pw',
  logStatements: true,
  tls: true,
});
after(() => server.stop());

async function query(user: string, password: string, sql: string, ssl?: object): Promise<pg.QueryResult> {
  const client = new pg.Client({ host: server.host, port: server.port, database: server.database, user, password, ssl });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

test('the SCRAM role logs in over TCP and the server stores SCRAM secrets', async () => {
  const r = await query('app', 'scram-pw', 'select current_user as u');
  assert.equal(r.rows[0].u, 'app');
  const method = await server.psqlDirect("select left(rolpassword, 13) from pg_authid where rolname = 'app'");
  assert.equal(method, 'SCRAM-SHA-256');
});

test('a wrong password is refused', async () => {
  await assert.rejects(query('app', 'wrong', 'select 1'), /password authentication failed/);
});

test('md5 and cleartext roles authenticate with their own methods', async () => {
  assert.equal((await query('app_md5', 'md5-pw', 'select 1 as one')).rows[0].one, 1);
  assert.equal((await query('app_cleartext', 'clear-pw', 'select 1 as one')).rows[0].one, 1);
  const md5 = await server.psqlDirect("select left(rolpassword, 3) from pg_authid where rolname = 'app_md5'");
  assert.equal(md5, 'md5');
  const hba = await server.psqlDirect("select string_agg(distinct auth_method, ',' order by auth_method) from pg_hba_file_rules where type = 'host' and ('app_md5' = any(user_name) or 'app_cleartext' = any(user_name))");
  assert.equal(hba, 'md5,password');
});

test('the superuser is only reachable over the unix socket', async () => {
  await assert.rejects(query('postgres', '', 'select 1'), /rejects connection|no pg_hba.conf entry|password/);
  const client = new pg.Client({ connectionString: server.superuser.url });
  await client.connect();
  const r = await client.query('select current_user as u, current_database() as d');
  await client.end();
  assert.deepEqual(r.rows[0], { u: 'postgres', d: server.database });
});

test('TLS connections verify against the exposed CA', async () => {
  assert.ok(server.caFile && existsSync(server.caFile));
  const r = await query('app', 'scram-pw', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()', {
    ca: readFileSync(server.caFile!, 'utf8'),
    rejectUnauthorized: true,
  });
  assert.equal(r.rows[0].ssl, true);
});

test('statements are logged to the exposed log file', async () => {
  await query('app', 'scram-pw', "select 'marker-4711'");
  const deadline = Date.now() + 3000;
  while (!readFileSync(server.logFile, 'utf8').includes('marker-4711') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(readFileSync(server.logFile, 'utf8'), /statement: select 'marker-4711'/);
});

test('the real psql client connects with a password', async () => {
  const { stdout } = await execFileAsync('psql', ['-X', '-A', '-t', '-c', 'select 40 + 2', `host=127.0.0.1 port=${server.port} dbname=${server.database} user=app`], {
    env: { ...process.env, PGPASSWORD: 'scram-pw' },
  });
  assert.equal(stdout.trim(), '42');
});

test('stop() shuts the postmaster down and removes its directory', async () => {
  const other = await startPostgres();
  const dir = other.superuser.host.replace(/\/sock$/, '');
  assert.ok(existsSync(dir));
  await other.stop();
  assert.equal(existsSync(dir), false);
  assert.throws(() => process.kill(other.pid, 0));
});
