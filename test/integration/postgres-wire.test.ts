// The wire protocol at its edges, through the real gateway and a real PostgreSQL: strings that do
// not end where their message ends, messages and statements over the limits, client encodings,
// and what the audit records of them. Every refusal is checked against what the server saw (its
// statement log) and what the trail holds.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { psql, startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { loggedIn as rawSession, startupMessage } from '../support/pg-raw.js';

/** Everything but DDL is allowed (DDL waits for a reviewer): what is refused here, the gateway refuses whatever policy says. */
const WIRE_POLICY = `
@id("agents-everything-but-ddl")
permit (principal in Airlock::Group::"agents", action in [Airlock::Action::"connect", Airlock::Action::"read", Airlock::Action::"write", Airlock::Action::"privileged", Airlock::Action::"opaque", Airlock::Action::"destructive"], resource);
@id("ddl-needs-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"ddl", resource);
`;

let server: RunningPostgres;
let gw: TestGateway;
let token: string;

before(async () => {
  server = await startPostgres({ logStatements: true });
  await server.psqlDirect('CREATE TABLE victim (id int); INSERT INTO victim VALUES (1); GRANT ALL ON victim TO app;', server.database);
  await server.psqlDirect(
    "CREATE FUNCTION sneaky_encoding() RETURNS text LANGUAGE sql AS $$ SELECT set_config('client_encoding', 'SJIS', false) $$; GRANT EXECUTE ON FUNCTION sneaky_encoding() TO app;",
    server.database,
  );
  gw = await startTestGateway(server, {
    policy: WIRE_POLICY,
    config: (raw) => {
      const listeners = raw.listeners as { postgres: Record<string, unknown> };
      listeners.postgres.maxMessageBytes = 256 * 1024;
    },
  });
  token = await gw.token();
});

after(async () => {
  await gw?.stop();
  await server?.stop();
});

type AnyEvent = Record<string, any>;

/** Every event of every session in the trail, in file order. */
function auditEvents(): AnyEvent[] {
  return auditEventsOf(gw);
}

function auditEventsOf(g: TestGateway): AnyEvent[] {
  const dir = join(g.dir, 'data', 'audit', 'journal');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AnyEvent));
}

async function eventually<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const serverLog = (): string => readFileSync(server.logFile, 'utf8');

interface Answer {
  name: string;
  code?: string;
  severity?: string;
  message?: string;
}

const loggedIn = (params: Record<string, string> = {}): Promise<net.Socket> => rawSession(gw.port, token, params);

/** Writes bytes and collects the answers until the gateway closes, or until `until` says enough. */
function converse(s: net.Socket, payload: Buffer, until?: (answers: Answer[]) => boolean, ms = 8000): Promise<{ answers: Answer[]; closed: boolean }> {
  return new Promise((resolve) => {
    const parser = new Parser();
    const answers: Answer[] = [];
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.removeAllListeners('data');
      resolve({ answers, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    s.on('data', (d: Buffer) =>
      parser.parse(d, (m) => {
        const e = m as { code?: string; severity?: string; message?: string };
        answers.push({ name: m.name, code: e.code, severity: e.severity, message: e.message });
        if (until?.(answers)) done(false);
      }),
    );
    s.on('error', () => undefined);
    s.once('close', () => done(true));
    s.write(payload);
  });
}

/** A typed frontend message with exactly this body. */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

const errors = (answers: Answer[]) => answers.filter((a) => a.name === 'error').map((a) => `${a.severity} ${a.code}`);

test('a Query whose string does not end at the message end is refused with FATAL 08P01, audited, never forwarded', async () => {
  const variants: [string, Buffer][] = [
    ['embedded NUL', Buffer.from("SELECT 'nul-marker-1' AS a\0; DROP TABLE victim\0", 'utf8')],
    ['trailing bytes after the terminator', Buffer.from("SELECT 'nul-marker-2'\0\0", 'utf8')],
    ['no terminator', Buffer.from("SELECT 'nul-marker-3'", 'utf8')],
  ];
  for (const [what, body] of variants) {
    const before = auditEvents().length;
    const s = await loggedIn();
    const r = await converse(s, message('Q', body));
    assert.ok(r.closed, `${what}: the session must end`);
    assert.deepEqual(errors(r.answers), ['FATAL 08P01'], what);
    const refusal = await eventually(`${what}: the refusal in the trail`, () => auditEvents().slice(before).find((e) => e.type === 'auth.refused' && e.code === 'protocol'));
    assert.match(refusal.reason, /NUL|unterminated/, what);
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.doesNotMatch(serverLog(), /nul-marker/, 'a refused Query reached the server');
  assert.equal(await server.psqlDirect('SELECT count(*) FROM victim', server.database), '1');
});

test('a Parse whose query holds a NUL is refused with FATAL 08P01 and nothing of its batch is forwarded', async () => {
  const parse = (query: Buffer) => message('P', Buffer.concat([Buffer.from('\0'), query, Buffer.from([0, 0, 0])]));
  const s = await loggedIn();
  const batch = Buffer.concat([
    // Read to its first NUL, the string is followed by a zero parameter count: only the bytes left
    // over after that betray it.
    parse(Buffer.from("SELECT 'nul-marker-4'\0\0\0; DROP TABLE victim", 'utf8')),
    serialize.bind({}),
    serialize.execute({}),
    serialize.sync(),
  ]);
  const r = await converse(s, batch);
  assert.ok(r.closed);
  assert.deepEqual(errors(r.answers), ['FATAL 08P01']);
  // A well-formed Parse on a new session still works: the check is exact, not a refusal of Parse.
  const ok = await loggedIn();
  const good = await converse(ok, Buffer.concat([parse(Buffer.from("SELECT 'parse-ok'", 'utf8')), serialize.bind({}), serialize.execute({}), serialize.sync()]), (a) => a.some((m) => m.name === 'readyForQuery'));
  assert.deepEqual(errors(good.answers), []);
  assert.ok(good.answers.some((m) => m.name === 'dataRow'));
  ok.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.doesNotMatch(serverLog(), /nul-marker/);
  assert.equal(await server.psqlDirect('SELECT count(*) FROM victim', server.database), '1');
});

test('psql sending a message over the size limit shows the FATAL 54000, not a lost connection', async () => {
  const big = `SELECT '${'x'.repeat(20 * 1024 * 1024)}' AS too_big;`;
  const file = join(gw.dir, 'too-big.sql');
  writeFileSync(file, big);
  for (const via of ['-f', 'stdin'] as const) {
    const r = await psql(gw.conninfo(), via === '-f' ? ['-f', file] : [], { token, input: via === 'stdin' ? big : undefined });
    assert.match(r.stderr, /FATAL: {2}message of \d+ bytes exceeds the gateway's limit of 262144 bytes/, `${via}: ${r.stderr}`);
    // Real PostgreSQL's FATAL reads the same in psql: the error, then "server closed the connection".
    assert.ok(r.stderr.indexOf('FATAL') < r.stderr.indexOf('closed the connection'), r.stderr);
  }
});

test('an oversized password message gets its FATAL 54000 and a clean close, not a reset', async () => {
  const s = net.connect(gw.port, '127.0.0.1');
  let reset: Error | undefined;
  s.on('error', (err) => (reset = err));
  const parser = new Parser();
  const answers: Answer[] = [];
  const started = Date.now();
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  s.on('data', (d: Buffer) =>
    parser.parse(d, (m) => {
      answers.push({ name: m.name, code: (m as { code?: string }).code, severity: (m as { severity?: string }).severity });
      if (m.name === 'authenticationCleartextPassword') s.write(message('p', Buffer.alloc(20 * 1024 * 1024, 0x61)));
    }),
  );
  s.write(serialize.startup({ user: 'agent', database: 'app' }));
  await closed;
  assert.equal(reset, undefined, 'the connection was reset');
  assert.deepEqual(errors(answers), ['FATAL 54000']);
  assert.ok(Date.now() - started < 5000, 'the close waited for a drain deadline');
});

test('client_encoding at start-up: UTF-8 in any spelling is accepted; anything else is refused with a FATAL that says why', async () => {
  for (const spelling of ['UTF8', 'utf8', 'UTF-8', 'unicode', 'Utf_8']) {
    const s = await loggedIn({ client_encoding: spelling });
    const r = await converse(s, serialize.query('SHOW client_encoding'), (a) => a.some((m) => m.name === 'readyForQuery'));
    assert.deepEqual(errors(r.answers), [], spelling);
    s.destroy();
  }
  // Without one, the upstream session is still UTF8 whatever the database's encoding.
  const c = new pg.Client({ ...gw.pgOptions(token) });
  await c.connect();
  assert.equal((await c.query('SHOW client_encoding')).rows[0].client_encoding, 'UTF8');
  await c.end();
  for (const value of ['SJIS', 'LATIN1', 'sql_ascii', 'no-such-encoding']) {
    const r = await psql(gw.conninfo(), ['-c', 'SELECT 1'], { token, env: { PGCLIENTENCODING: value } });
    assert.notEqual(r.code, 0, value);
    assert.match(r.stderr, /FATAL: {2}(client_encoding ".*" is not supported through Airlock|invalid value for parameter "client_encoding")/, `${value}: ${r.stderr}`);
    assert.match(r.stderr, /UTF8/, value);
    const refusal = await eventually(`${value} refusal audited`, () => auditEvents().find((e) => e.type === 'auth.refused' && e.code === 'client_encoding' && e.reason.includes(value)));
    assert.ok(refusal);
  }
  // The SQLSTATE itself, read off the wire.
  for (const [value, code] of [['SJIS', '0A000'], ['bogus', '22023']] as const) {
    const s = net.connect(gw.port, '127.0.0.1');
    const r = await converse(s, startupMessage({ user: 'agent', database: 'app', client_encoding: value }));
    assert.deepEqual(errors(r.answers), [`FATAL ${code}`], value);
  }
});

test('SET client_encoding, SET NAMES and set_config to another encoding are refused whatever policy allows, and the session stays usable', async () => {
  const c = new pg.Client(gw.pgOptions(token));
  await c.connect();
  const refused = [
    "SET client_encoding = 'SJIS'",
    "SET NAMES 'LATIN1'",
    "SET SESSION client_encoding TO 'GBK'",
    'BEGIN; SET LOCAL client_encoding = big5; COMMIT',
    "SELECT set_config('client_encoding', 'SJIS', false)",
    "SELECT pg_catalog.set_config(U&'client\\005fencoding', 'euc_jp', false)",
    "SELECT set_config('client_' || 'encoding', 'SJIS', false)",
    "SELECT * FROM set_config(lower('CLIENT_ENCODING'), 'SJIS', false)",
  ];
  for (const sql of refused) {
    await assert.rejects(c.query(sql), (err: { code?: string; message: string }) => {
      assert.match(err.code ?? '', /^(0A000|22023)$/, `${sql}: ${err.message}`);
      return true;
    });
    assert.equal((await c.query('SHOW client_encoding')).rows[0].client_encoding, 'UTF8', sql);
  }
  // The extended protocol too.
  await assert.rejects(c.query({ text: "SELECT set_config('client_encoding', $1, false)", values: ['SJIS'] }), /client_encoding/);
  for (const sql of ["SET client_encoding = 'UTF8'", "SET NAMES 'unicode'", 'RESET client_encoding', "SELECT set_config('client_encoding', 'utf-8', false)", "SELECT set_config('work_mem', '8MB', false)"]) {
    await c.query(sql);
  }
  assert.equal((await c.query('SHOW client_encoding')).rows[0].client_encoding, 'UTF8');
  await c.end();
  await new Promise((r) => setTimeout(r, 200));
  const log = serverLog();
  for (const sql of refused) assert.ok(!log.includes(`statement: ${sql}`), `refused, yet it reached the server: ${sql}`);
  assert.doesNotMatch(log, /set_config\('client_encoding', \$1/, 'the refused Parse reached the server');
  const audited = auditEvents().filter((e) => e.type === 'statement' && e.decision?.effect === 'deny' && /client_encoding/.test(e.decision.reason));
  assert.ok(audited.length >= refused.length, `only ${audited.length} refusals audited`);
});

test('a change of encoding no statement showed (a function calling set_config) ends the session', async () => {
  const c = new pg.Client(gw.pgOptions(token));
  const ended = new Promise<Error>((resolve) => c.on('error', resolve));
  await c.connect();
  // The statement ran on the server before the change showed; the session then ends at once.
  await c.query('SELECT sneaky_encoding()').catch(() => undefined);
  const fatal = await ended;
  assert.match(fatal.message, /switched client_encoding to "SJIS"/);
  await assert.rejects(c.query('SELECT 1'));
});

/** SELECT … WHERE id IN (…) of about `bytes` bytes, as the noisy neighbour of the bench sends. */
function inList(bytes: number, seed = 0): string {
  const parts: string[] = [];
  let size = 40;
  for (let i = 0; size < bytes; i++) {
    const n = String(1_000_000 + ((i * 7919 + seed) % 8_999_999));
    parts.push(n);
    size += n.length + 2;
  }
  return `SELECT count(*) AS n FROM victim WHERE id IN (${parts.join(', ')})`;
}

test('large statements: parsed off the event loop; over maxStatementBytes or past the deadline refused, the session kept', async () => {
  const limited = await startTestGateway(server, {
    policy: WIRE_POLICY,
    config: (raw) => {
      const listeners = raw.listeners as { postgres: Record<string, unknown> };
      Object.assign(listeners.postgres, { maxMessageBytes: 8 * 1024 * 1024, maxStatementBytes: 3 * 1024 * 1024, offloadStatementsAboveBytes: 16 * 1024 });
    },
  });
  const hasty = await startTestGateway(server, {
    policy: WIRE_POLICY,
    config: (raw) => {
      const listeners = raw.listeners as { postgres: Record<string, unknown> };
      Object.assign(listeners.postgres, { maxMessageBytes: 8 * 1024 * 1024, offloadStatementsAboveBytes: 16 * 1024, inspectDeadlineMs: 1 });
    },
  });
  try {
    const t = await limited.token();
    const c = new pg.Client(limited.pgOptions(t));
    await c.connect();
    // Warm the pool (its first worker loads the parser), then watch the loop while 2 MiB is parsed.
    assert.equal((await c.query(inList(64 * 1024))).rows[0].n, '0');
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const big = inList(2 * 1024 * 1024, 1);
    assert.equal((await c.query(big)).rows[0].n, '0');
    assert.equal((await c.query({ text: `${big} AND $1::int = 1`, values: [1] })).rows[0].n, '0');
    delay.disable();
    assert.ok(delay.max / 1e6 < 400, `the event loop stalled ${(delay.max / 1e6).toFixed(0)} ms while a 2 MiB statement was inspected`);
    // The trail holds the statement with its long numbers masked, as a small one's would be.
    const recorded = await eventually('the large statement in the trail', () =>
      readdirSync(join(limited.dir, 'data', 'audit', 'journal'))
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) => readFileSync(join(limited.dir, 'data', 'audit', 'journal', f), 'utf8').split('\n').filter(Boolean))
        .map((l) => JSON.parse(l) as AnyEvent)
        .find((e) => e.type === 'statement' && e.text.length > 100_000),
    );
    assert.match(recorded.text, /^SELECT count\(\*\) AS n FROM victim WHERE id IN \(0, 0, 0/);
    assert.doesNotMatch(recorded.text, /\d{6}/);
    // A large text whose record needs escapes (quotes, a newline, non-ASCII) is rendered by the
    // worker: the trail holds it exactly, masked, and its chain verifies (below).
    const tail = (sql: string): string => sql.slice('SELECT count(*) AS n FROM victim WHERE '.length);
    const odd = `SELECT count(*) AS "n ""é""" FROM victim WHERE 'sécret-0042' <> ''\n  AND ${tail(inList(256 * 1024, 7))}`;
    assert.equal((await c.query(odd)).rows[0]['n "é"'], '0');
    const oddRecord = await eventually('the escaped statement in the trail', () =>
      auditEventsOf(limited).find((e) => e.type === 'statement' && String(e.text).startsWith('SELECT count(*) AS "n ""é"""')),
    );
    assert.match(oddRecord.text, /^SELECT count\(\*\) AS "n ""é""" FROM victim WHERE '\*\*\*' <> '\*\*\*'\n {2}AND id IN \(0, 0, /);
    assert.doesNotMatch(oddRecord.text, /sécret|\d{6}/);
    // A statement that would change the client encoding is found in a large text too (parsed in the worker).
    await assert.rejects(c.query(`SELECT set_config('client_encoding', 'SJIS', false) FROM victim WHERE ${tail(inList(64 * 1024))}`), /client_encoding "SJIS" is not supported/);
    // A large text that does not parse is recorded by its size and digest.
    const broken = `SELECT ( FROM victim WHERE ${tail(inList(64 * 1024))}`;
    await assert.rejects(c.query(broken), /cannot parse/);
    const described = `<statement of ${Buffer.byteLength(broken)} bytes, sha256 ${createHash('sha256').update(broken).digest('hex')}>`;
    await eventually('the unparsable statement in the trail', () => auditEventsOf(limited).find((e) => e.type === 'statement' && e.text === described));

    await assert.rejects(c.query(inList(3.5 * 1024 * 1024)), (err: { code?: string; message: string }) => {
      assert.equal(err.code, '54000', err.message);
      assert.match(err.message, /exceeds the gateway's limit of 3145728 bytes/);
      return true;
    });
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    await c.end();

    const h = new pg.Client(hasty.pgOptions(await hasty.token()));
    await h.connect();
    await assert.rejects(h.query(inList(256 * 1024)), (err: { code?: string; message: string }) => {
      assert.equal(err.code, '54001', err.message);
      return true;
    });
    await assert.rejects(h.query({ text: `${inList(256 * 1024)} AND $1::int = 1`, values: [1] }), /could not inspect/);
    assert.equal((await h.query('SELECT 2 AS two')).rows[0].two, 2);
    await h.end();
    await expectAuditVerifies(limited);
  } finally {
    await limited.stop();
    await hasty.stop();
  }
});

test('a PREPARE the server rejects changes nothing: EXECUTE is still decided and audited as what the server prepared', async () => {
  const c = new pg.Client(gw.pgOptions(token));
  await c.connect();
  await c.query('PREPARE prep_dup AS INSERT INTO victim VALUES (2)');
  // The name is taken: the server refuses, and keeps the INSERT.
  await assert.rejects(c.query('PREPARE prep_dup AS SELECT 1'), /already exists/);
  await c.query('EXECUTE prep_dup');
  await c.query('DEALLOCATE prep_dup');
  await c.query('DELETE FROM victim WHERE id = 2');
  await c.end();
  const execute = await eventually('EXECUTE in the trail', () => auditEvents().find((e) => e.type === 'statement' && e.text === 'EXECUTE prep_dup'));
  assert.equal(execute.class, 'write', JSON.stringify(execute));
  assert.deepEqual(execute.tables.map((t: string) => t.replace(/^public\./, '')), ['victim']);
});

test('a Parse the server rejects (name taken) cannot make a held statement run as something harmless', async () => {
  const parse = (name: string, query: string) => message('P', Buffer.concat([Buffer.from(`${name}\0${query}\0`, 'utf8'), Buffer.from([0, 0])]));
  const s = await loggedIn();
  const ready = (a: Answer[]) => a.filter((m) => m.name === 'readyForQuery').length;
  // DDL waits for a reviewer when executed, so its Parse alone is let through.
  let r = await converse(s, Buffer.concat([parse('s_dup', 'CREATE TABLE pwned (x int)'), serialize.sync()]), (a) => ready(a) === 1);
  assert.deepEqual(errors(r.answers), []);
  r = await converse(s, Buffer.concat([parse('s_dup', 'SELECT 1'), serialize.sync()]), (a) => ready(a) === 1);
  assert.deepEqual(errors(r.answers), ['ERROR 42P05']);
  // Bound and executed, s_dup is the CREATE TABLE the server holds: it must wait for approval.
  r = await converse(s, Buffer.concat([serialize.bind({ statement: 's_dup' }), serialize.execute({}), serialize.sync()]), (a) => a.some((m) => m.name === 'notice' || m.name === 'commandComplete' || m.name === 'error'), 8000);
  s.destroy();
  assert.ok(r.answers.some((m) => m.name === 'notice'), `no approval notice: ${JSON.stringify(r.answers)}`);
  assert.equal(await server.psqlDirect("SELECT count(*) FROM pg_tables WHERE tablename = 'pwned'", server.database), '0');
});

test('pipelined: a Bind right after a Parse of the same name in an earlier batch waits for the server, and runs', async () => {
  const parse = (name: string, query: string) => message('P', Buffer.concat([Buffer.from(`${name}\0${query}\0`, 'utf8'), Buffer.from([0, 0])]));
  const s = await loggedIn();
  const r = await converse(
    s,
    Buffer.concat([parse('s_pipe', "SELECT 'pipelined' AS p"), serialize.sync(), serialize.bind({ statement: 's_pipe' }), serialize.execute({}), serialize.sync()]),
    (a) => a.filter((m) => m.name === 'readyForQuery').length === 2,
  );
  s.destroy();
  assert.deepEqual(errors(r.answers), []);
  assert.ok(r.answers.some((m) => m.name === 'dataRow'));
});

test('a held statement is in the trail before the hold, once; its outcome is the approval\'s events', async () => {
  const s = await loggedIn();
  const r = await converse(s, serialize.query('CREATE TABLE held_marker_tbl (x int)'), (a) => a.some((m) => m.name === 'notice'));
  assert.ok(r.answers.some((m) => m.name === 'notice'), JSON.stringify(r.answers));
  // Still held: what was asked is already on disk.
  const held = auditEvents().filter((e) => e.type === 'statement' && /held_marker_tbl/.test(e.text));
  assert.equal(held.length, 1, JSON.stringify(held));
  assert.equal(held[0]!.decision.effect, 'approve');
  s.destroy(); // withdraws the request
  const cancelled = await eventually('the withdrawal in the trail', () =>
    auditEvents().find((e) => e.type === 'approval' && e.statementId === held[0]!.statementId && e.state === 'cancelled'),
  );
  assert.ok(cancelled);
  assert.equal(auditEvents().filter((e) => e.type === 'statement' && e.statementId === held[0]!.statementId).length, 1);
  assert.equal(await server.psqlDirect("SELECT count(*) FROM pg_tables WHERE tablename = 'held_marker_tbl'", server.database), '0');
});

test('extended-protocol parameter values are recorded, masked like literals', async () => {
  const c = new pg.Client(gw.pgOptions(token));
  await c.connect();
  await c.query('SELECT $1::text AS a, $2::int AS b, $3::text AS c, $4::bigint AS d, $5::numeric AS e', ['hunter2-param-secret', 42, null, '4111111111111111', '12.5']);
  await c.query({ text: 'SELECT count(*) FROM victim WHERE id = $1', values: [7], name: 'named_param_stmt' });
  await c.end();
  const withParams = await eventually('parameters in the trail', () => {
    const found = auditEvents().filter((e) => e.type === 'statement' && Array.isArray(e.parameters));
    return found.length >= 2 ? found : undefined;
  });
  const first = withParams.find((e) => e.text.startsWith('SELECT $1::text'))!;
  assert.deepEqual(first.parameters, ["'***'", '42', 'NULL', '0', '12.5']);
  assert.deepEqual(withParams.find((e) => e.text.includes('victim WHERE id = $1'))!.parameters, ['7']);
  const dir = join(gw.dir, 'data', 'audit');
  for (const f of readdirSync(join(dir, 'journal'))) {
    const text = readFileSync(join(dir, 'journal', f), 'utf8');
    assert.ok(!text.includes('hunter2-param-secret') && !text.includes('4111111111111111'), `a parameter value is in ${f}`);
  }
});
