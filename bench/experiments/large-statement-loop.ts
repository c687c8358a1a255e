// `tsx bench/experiments/large-statement-loop.ts [N]`: what the event loop itself still does for each
// 2 MiB statement of the noisy neighbour once the worker has parsed and masked it (frame, decode,
// bytes to the worker, its answer, names, the audit record, the writes, the forward), each step
// timed on its own, min and median of N (the min holds on a loaded machine). An experiment, not
// part of `npm run bench`.
import net from 'node:net';
import { openSync, writeSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
const { noisyStatement } = await import('../noisy-neighbour.js');
const { FrameReader } = await import('../../fargate-proxy/src/protocols/postgres/framer.js');
const { decodeQuery } = await import('../../fargate-proxy/src/protocols/postgres/frontend.js');
const { inspectOffLoop } = await import('../../fargate-proxy/src/protocols/postgres/off-loop-inspection.js');
const { SessionChains, rememberJsonRendering } = await import('../../core/audit/chain.js');
const { SqlSessionScope } = await import('../../core/classify/session-scope.js');
const { loadSqlInspector } = await import('../../core/classify/index.js');
const { serialize } = await import('pg-protocol');
await loadSqlInspector();

const N = Number(process.argv[2] ?? 15);
const results: Record<string, number[]> = {};
const time = (name: string, ms: number) => (results[name] ??= []).push(ms);
const timed = <T,>(name: string, fn: () => T): T => {
  const t0 = performance.now();
  const r = fn();
  time(name, performance.now() - t0);
  return r;
};

// a loopback pair that reads everything
const server = net.createServer((s) => s.on('data', () => undefined).on('error', () => undefined));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
await new Promise((r) => sock.once('connect', r));
const dir = mkdtempSync(`${tmpdir()}/steps-`);
const fd1 = openSync(`${dir}/a.jsonl`, 'a');
const fd2 = openSync(`${dir}/b.jsonl`, 'a');
const chains = new SessionChains();
const scope = new SqlSessionScope({ searchPath: '"$user", public', catalog: () => undefined, user: 'app' } as never);

for (let i = 0; i < N; i++) {
  const sql = noisyStatement(2 * 1024 * 1024, i + 1);
  const raw = serialize.query(sql);
  const reader = new FrameReader(16 * 1024 * 1024);
  reader.startup = false;
  for (let o = 0; o < raw.length; o += 65536) reader.push(raw.subarray(o, o + 65536));
  const frame = timed('frame take (copy)', () => reader.next()!);
  const text = timed('decodeQuery', () => decodeQuery(frame.body));
  timed('copy bytes for transfer', () => new Uint8Array(frame.body.subarray(0, -1)));
  const t0 = performance.now();
  const res = await inspectOffLoop(frame.body.subarray(0, -1), [], 60_000);
  time('worker round trip (wall, not loop)', performance.now() - t0);
  timed('structuredClone(result) ~ reply', () => structuredClone(res));
  const inspection = timed('slice texts + resolve', () => {
    if (res.inspection.ok) res.inspection.statements.forEach((s, i) => { const at = res.textAt[i]; if (at) s.text = text.slice(at[0], at[1]); });
    return scope.apply(res.inspection);
  });
  if (!inspection.ok) throw new Error('no');
  const s = inspection.statements[0]!;
  const masked = res.maskedTexts[0]!;
  rememberJsonRendering(masked, res.maskedJson[0] ?? `"${masked}"`);
  const e = { approvalId: undefined, class: s.class, decision: Object.freeze({ effect: 'allow', policyIds: Object.freeze(['x']), policyVersion: 'v', reason: 'r' }), functions: s.functions, parameters: undefined, sessionId: 's1', statementId: `s1/${i}`, statementTypes: s.statementTypes, tables: s.tables, text: masked, type: 'statement' };
  const { record, line, bytes } = timed('nextWithLine', () => chains.nextWithLine(e as never));
  chains.commit(record);
  timed('write line (session log)', () => writeSync(fd1, `${line}\n`));
  timed('write bytes (spool)', () => writeSync(fd2, bytes));
  timed('socket.write 2 MiB', () => sock.write(frame.raw));
  await new Promise((r) => setTimeout(r, 100));
}
for (const [k, v] of Object.entries(results)) {
  v.sort((a, b) => a - b);
  console.log(`${k.padEnd(40)} min ${v[0]!.toFixed(2)}  median ${v[v.length >> 1]!.toFixed(2)} ms`);
}
sock.destroy();
server.close();
process.exit(0);
