// pods/exec, pods/attach and pods/portforward through the streaming handler, driven by
// @kubernetes/client-node (the WebSocket channel protocol) against a real /bin/sh and real TCP
// servers (test/support/kube-exec-upstream.ts), with a real audit sink and real Cedar decisions.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Attach, Exec, PortForward, type V1Status } from '@kubernetes/client-node';
import type WebSocket from 'ws';
import WebSocketClient from 'ws';
import { startStreamingHarness, type StreamingHarness } from '../support/kube-streaming-harness.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { replayCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import * as spdy from '../../fargate-proxy/src/protocols/kubernetes/streaming/spdy.js';

const POLICY = `
@id("exec-reads")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_exec", resource)
when { context.input == "command" && context.class == "read" && !(context.namespace like "prod-*") };

@id("prod-exec-held") @approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_exec", resource)
when { context.input == "command" && context.namespace like "prod-*" };

@id("exec-shells")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_exec", resource)
when { context.input == "shell" || context.input == "attach" };

@id("exec-lines")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_exec", resource)
when { context.input == "line" && (context.class == "read" || context.class == "write") };

@id("no-destructive")
forbid (principal, action == Airlock::Action::"k8s_exec", resource)
when { context.class == "destructive" };

@id("forward-8080")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_portforward", resource)
when { context.port == 8080 };
`;

const AGENT = 'agent-token-1';
const CARD = '4111 1111 1111 1111';
let h: StreamingHarness;

before(async () => {
  h = await startStreamingHarness({ policy: POLICY, agents: { [AGENT]: { id: 'agent-1', groups: ['agents'], issuer: 'test' } } });
});
after(async () => {
  await h.close();
});

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

const closed = (ws: WebSocket) => new Promise<void>((resolve) => (ws.readyState === 3 ? resolve() : ws.once('close', () => resolve())));

async function exec(ns: string, pod: string, command: string[], opts: { stdin?: PassThrough; tty?: boolean } = {}) {
  const out = new Collect();
  const err = new Collect();
  let status: V1Status | undefined;
  const ws = (await new Exec(h.kubeConfig(AGENT)).exec(ns, pod, '', command, out, err, opts.stdin ?? null, opts.tty ?? false, (s) => (status = s))) as unknown as WebSocket;
  return { ws, out, err, done: closed(ws).then(() => ({ out: out.text, err: err.text, status })) };
}

const waitFor = async (f: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !f(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(f(), `timed out waiting for ${what}`);
};

test('an allowed command runs; its output is masked, recorded and audited', async () => {
  const dir = h.upstream.podDir('default', 'web');
  writeFileSync(join(dir, 'data.txt'), `card ${CARD}\nplain line\n`);
  const r = await (await exec('default', 'web', ['cat', 'data.txt'])).done;
  assert.equal(r.status?.status, 'Success');
  assert.match(r.out, /plain line/);
  assert.ok(!r.out.includes(CARD), `the card number reached the agent: ${r.out}`);
  assert.match(r.out, /card \S/);

  const seen = h.upstream.seen.at(-1)!;
  assert.equal(seen.authorization, `Bearer ${h.upstreamToken}`, 'the upstream got the injected credential');
  assert.equal(seen.protocol, 'v5.channel.k8s.io');
  assert.equal(new URLSearchParams(seen.query).getAll('command').join(' '), 'cat data.txt');
});

test('the recording of an exec is an asciicast file with the masked output, and the outcome names it', async () => {
  const r = await (await exec('default', 'web', ['sh', '-c', 'echo rec-marker; cat data.txt'])).done;
  assert.equal(r.status?.status, 'Success');
  assert.match(r.out, /rec-marker/);
  const events = await h.events();
  const stmt = events.filter((e) => e.type === 'statement' && e.text.includes('rec-marker')).at(-1);
  assert.ok(stmt && stmt.type === 'statement');
  assert.equal(stmt.decision.effect, 'allow');
  assert.deepEqual(stmt.decision.policyIds, ['exec-reads']);
  const [sessionId, n] = stmt.statementId.split('/') as [string, string];
  const file = join(h.recordingsDir, sessionId, `${n}.cast`);
  assert.ok(existsSync(file), `no recording at ${file}`);
  const cast = readFileSync(file, 'utf8');
  const header = JSON.parse(cast.split('\n')[0]!) as { version: number };
  assert.equal(header.version, 2);
  assert.match(cast, /rec-marker/);
  assert.ok(!cast.includes(CARD));
  // `airlock replay SESSION` shows the command, its decision and the recording.
  let outcome = false;
  for (let i = 0; i < 100 && !outcome; i++) {
    outcome = (await h.events()).some((e) => e.type === 'statement.outcome' && e.statementId === stmt.statementId);
    if (!outcome) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(outcome, 'the outcome was not written');
  let replay = '';
  const code = await replayCommand({ dir: h.auditDir, sessionId }, { write: (t: string) => (replay += t) });
  assert.equal(code, 0, replay);
  assert.match(replay, /statement \S+ \[read\] ALLOW by exec-reads/);
  assert.match(replay, /rec-marker/);
  assert.match(replay, /chain: intact/);
});

test('a destructive command inside sh -c is refused; the file is still there and nothing reached the upstream', async () => {
  const dir = h.upstream.podDir('default', 'web');
  writeFileSync(join(dir, 'MARKER'), 'keep me\n');
  const before = h.upstream.seen.length;
  const r = await (await exec('default', 'web', ['sh', '-c', 'rm -f MARKER'])).done;
  assert.equal(r.status?.status, 'Failure');
  assert.match(String(r.status?.message), /airlock: refused/);
  assert.match(String(r.status?.message), /no-destructive/);
  assert.ok(existsSync(join(dir, 'MARKER')), 'the marker file was deleted');
  assert.equal(h.upstream.seen.length, before, 'the refused command reached the upstream');
  const events = await h.events();
  const refused = events.filter((e) => e.type === 'statement' && e.text.includes('rm -f MARKER'));
  assert.equal(refused.length, 1);
  assert.equal(refused[0]!.type === 'statement' && refused[0]!.decision.effect, 'deny');
});

test('an interactive shell (stdin + tty): a refused line is not sent, the agent is told, the session goes on', async () => {
  const dir = h.upstream.podDir('default', 'shell');
  writeFileSync(join(dir, 'MARKER'), 'keep me\n');
  const stdin = new PassThrough();
  const x = await exec('default', 'shell', ['sh'], { stdin, tty: true });
  stdin.write("printf 'first-%s\\n' 42\n");
  await waitFor(() => x.out.text.includes('first-42'), 'the first line to run');
  stdin.write('rm -f MARKER\n');
  await waitFor(() => x.err.text.includes('airlock: refused'), 'the refusal on stderr');
  stdin.write("printf 'second-%s\\n' 55 > out.txt; cat out.txt\n");
  await waitFor(() => x.out.text.includes('second-55'), 'the session to go on');
  stdin.write('exit 0\n');
  stdin.end();
  const r = await x.done;
  assert.equal(r.status?.status, 'Success');
  assert.ok(existsSync(join(dir, 'MARKER')), 'the refused line ran');
  assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8').trim(), 'second-55');
  const lines = (await h.events()).filter((e) => e.type === 'statement' && e.statementTypes.includes('k8s.exec.line'));
  assert.deepEqual(
    lines.map((e) => e.type === 'statement' && [e.text, e.decision.effect]),
    [
      ["printf 'first-%s\\n' 42", 'allow'],
      ['rm -f MARKER', 'deny'],
      ["printf 'second-%s\\n' 55 > out.txt; cat out.txt", 'allow'],
      ['exit 0', 'allow'],
    ],
  );
});

test('an exec in prod-* is held for a reviewer while the stream stays open: approved, it runs; denied, it does not', async () => {
  const dir = h.upstream.podDir('prod-x', 'api');
  const reviewer = { id: 'rita', groups: ['reviewers'], issuer: 'test' };
  const held = await exec('prod-x', 'api', ['touch', 'approved.txt']);
  await waitFor(() => held.err.text.includes('waiting for approval'), 'the approval notice');
  const [pending] = await h.approvals.listPending();
  assert.ok(pending, 'no approval was requested');
  assert.equal(pending.statementText, 'touch approved.txt');
  assert.ok(!existsSync(join(dir, 'approved.txt')), 'it ran before approval');
  await h.approvals.decide(pending.id, reviewer, { verdict: 'approve', scope: 'once', reason: 'ok' });
  const r = await held.done;
  assert.equal(r.status?.status, 'Success');
  assert.ok(existsSync(join(dir, 'approved.txt')));

  const refused = await exec('prod-x', 'api', ['touch', 'denied.txt']);
  await waitFor(() => refused.err.text.includes('waiting for approval'), 'the second notice');
  const [second] = await h.approvals.listPending();
  await h.approvals.decide(second!.id, reviewer, { verdict: 'deny', reason: 'not today' });
  const r2 = await refused.done;
  assert.equal(r2.status?.status, 'Failure');
  assert.match(String(r2.status?.message), /not today/);
  assert.ok(!existsSync(join(dir, 'denied.txt')), 'the denied command ran');
  const states = async (id: string) => (await h.events()).flatMap((e) => (e.type === 'approval' && e.approvalId === id ? [e.state] : []));
  assert.deepEqual(await states(pending.id), ['pending', 'approved']);
  assert.deepEqual(await states(second!.id), ['pending', 'denied']);
});

test('port-forward: allowed on one port, refused on another', async () => {
  let connections = 0;
  const echo = createServer((s) => {
    connections++;
    s.on('data', (d) => s.write(`echo:${d.toString()}`));
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const port = (echo.address() as AddressInfo).port;
  h.upstream.mapPort('default', 'web', 8080, port);
  h.upstream.mapPort('default', 'web', 9090, port);
  try {
    const out = new Collect();
    const err = new Collect();
    const input = new PassThrough();
    const ws = (await new PortForward(h.kubeConfig(AGENT)).portForward('default', 'web', [8080], out, err, input)) as unknown as WebSocket;
    input.write('ping');
    await waitFor(() => out.text.includes('echo:ping'), `the echo through port 8080 (errors: ${err.text})`);
    ws.close();
    assert.equal(connections, 1);

    const out2 = new Collect();
    const err2 = new Collect();
    const ws2 = (await new PortForward(h.kubeConfig(AGENT)).portForward('default', 'web', [9090], out2, err2, new PassThrough())) as unknown as WebSocket;
    await closed(ws2);
    assert.match(err2.text, /airlock: refused/);
    assert.equal(out2.text, '');
    assert.equal(connections, 1, 'the refused port was connected to');
  } finally {
    echo.close();
  }
});

/** A SPDY client written from spdy.ts, for what kubectl never sends: after `Upgrade: SPDY/3.1`, frames in, frames kept. */
async function spdyClient(pod: string) {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const req = request(`${h.url}/api/v1/namespaces/default/pods/${pod}/portforward`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AGENT}`, connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'portforward.k8s.io' },
    });
    req.on('upgrade', (res, sock) => (res.headers['x-stream-protocol-version'] === 'portforward.k8s.io' ? resolve(sock) : reject(new Error('no protocol'))));
    req.on('response', (res) => reject(new Error(`answered ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  const reader = new spdy.FrameReader();
  const frames: spdy.Frame[] = [];
  let ended = false;
  socket.on('data', (d: Buffer) => frames.push(...reader.push(d)));
  socket.on('close', () => (ended = true));
  const enc = new spdy.HeaderEncoder();
  return {
    frames,
    ended: () => ended,
    send: (b: Buffer) => socket.write(b),
    syn: async (id: number, headers: Record<string, string>) => socket.write(spdy.synStreamFrame(id, await enc.encode(new Map(Object.entries(headers).map(([k, v]) => [k, [v]]))))),
    close() {
      enc.close();
      socket.destroy();
    },
  };
}
const isControl = (f: spdy.Frame, type: number, streamId?: number) => f.kind === 'control' && f.type === type && (streamId === undefined || f.data.readUInt32BE(0) === streamId);

test('port-forward over SPDY, bad input: a stream without its port is reset and audited, a ping is answered, the session goes on; an oversized frame ends it with GOAWAY', async () => {
  const echo = createServer((s) => s.on('data', (d) => s.write(`echo:${d.toString()}`)));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  h.upstream.mapPort('default', 'spdy-raw', 8080, (echo.address() as AddressInfo).port);
  const c = await spdyClient('spdy-raw');
  try {
    await c.syn(1, { streamtype: 'error', requestid: '0' });
    await waitFor(() => c.frames.some((f) => isControl(f, spdy.RST_STREAM, 1)), 'the reset of a stream without a port');
    assert.deepEqual(spdy.parseRstStream(c.frames.find((f) => isControl(f, spdy.RST_STREAM, 1))!.data), { streamId: 1, status: spdy.RST.CANCEL });
    c.send(spdy.pingFrame(9));
    await waitFor(() => c.frames.some((f) => isControl(f, spdy.PING) && spdy.parsePing((f as { data: Buffer }).data) === 9), 'the ping answered');

    await c.syn(3, { streamtype: 'error', port: '8080', requestid: '1' });
    await c.syn(5, { streamtype: 'data', port: '8080', requestid: '1' });
    c.send(spdy.dataFrame(5, Buffer.from('ping')));
    await waitFor(() => c.frames.some((f) => f.kind === 'data' && f.streamId === 5 && f.data.toString() === 'echo:ping'), 'the echo on the data stream');
    assert.ok(c.frames.some((f) => isControl(f, spdy.SYN_REPLY, 3)) && c.frames.some((f) => isControl(f, spdy.SYN_REPLY, 5)));

    c.send(Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff]));
    await waitFor(() => c.ended(), 'the connection to end');
    const goaway = c.frames.find((f) => isControl(f, spdy.GOAWAY));
    assert.ok(goaway && goaway.kind === 'control');
    assert.equal(goaway.data.readUInt32BE(4), spdy.GOAWAY_STATUS.PROTOCOL_ERROR);
  } finally {
    c.close();
    echo.close();
  }
  const refused = (await h.events()).filter((e) => e.type === 'statement' && e.text === 'port-forward default/spdy-raw' && e.statementTypes.includes('refused_request'));
  assert.deepEqual(refused.map((e) => e.type === 'statement' && e.decision.reason), ['airlock: "port" header is required', 'airlock: a control frame of 16777215 bytes is larger than this gateway accepts']);
});

test('attach to the pod\'s main process: lines decided like a shell\'s', async () => {
  const dir = h.upstream.podDir('default', 'main');
  writeFileSync(join(dir, 'MARKER'), 'keep me\n');
  const out = new Collect();
  const stdin = new PassThrough();
  const ws = (await new Attach(h.kubeConfig(AGENT)).attach('default', 'main', '', out, out, stdin, false)) as unknown as WebSocket;
  stdin.write("printf 'attached-%s\\n' 2\n");
  await waitFor(() => out.text.includes('attached-2'), 'the attached shell to answer');
  stdin.write('rm -f MARKER\n');
  await waitFor(() => out.text.includes('airlock: refused'), 'the refusal');
  ws.close();
  await closed(ws);
  assert.ok(existsSync(join(dir, 'MARKER')));
});

test('a v4.channel.k8s.io client is served v4 (upstream too); a base64 protocol is refused before the upgrade', async () => {
  writeFileSync(join(h.upstream.podDir('default', 'v4'), 'hello.txt'), 'hello v4\n');
  const url = `${h.url.replace('http', 'ws')}/api/v1/namespaces/default/pods/v4/exec?command=cat&command=hello.txt&stdout=true&stderr=true`;
  const ws = new WebSocketClient(url, ['v4.channel.k8s.io'], { headers: { authorization: `Bearer ${AGENT}` } });
  const frames: Buffer[] = [];
  ws.on('message', (d: Buffer) => frames.push(d));
  await closed(ws as unknown as WebSocket);
  assert.equal(ws.protocol, 'v4.channel.k8s.io');
  assert.equal(h.upstream.seen.at(-1)!.protocol, 'v4.channel.k8s.io');
  const stdout = Buffer.concat(frames.filter((f) => f[0] === 1).map((f) => f.subarray(1))).toString();
  assert.equal(stdout, 'hello v4\n');
  const status = frames.find((f) => f[0] === 3);
  assert.equal(JSON.parse(status!.subarray(1).toString()).status, 'Success');

  const refused = new WebSocketClient(url, ['base64.channel.k8s.io'], { headers: { authorization: `Bearer ${AGENT}` } });
  const answer = await new Promise<number>((resolve) => {
    refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    refused.on('open', () => resolve(101));
    refused.on('error', () => undefined);
  });
  assert.equal(answer, 400);
});

test('SPDY and non-upgrade requests are refused with a Status saying why', async () => {
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${h.url}/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AGENT}`, connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
  assert.equal(answer.status, 400);
  const status = JSON.parse(answer.body) as { kind: string; status: string; message: string };
  assert.equal(status.kind, 'Status');
  assert.equal(status.status, 'Failure');
  assert.match(status.message, /SPDY is not supported/);
});

test('the upstream credential is in no byte the client received, nor in any recording or audit record', async () => {
  const dir = h.upstream.podDir('default', 'leaky');
  // A pod that holds the gateway's own token (say, a mounted service-account token) and prints it.
  writeFileSync(join(dir, 'token.txt'), `the token is ${h.upstreamToken} here\n`);
  const r = await (await exec('default', 'leaky', ['cat', 'token.txt'])).done;
  assert.match(r.out, /the token is \[airlock:credential\] here/);
  const stdin = new PassThrough();
  const x = await exec('default', 'leaky', ['sh'], { stdin, tty: true });
  stdin.write('cat token.txt\n');
  await waitFor(() => x.out.text.includes('the token is'), 'the interactive output');
  stdin.write('exit\n');
  stdin.end();
  await x.done;

  await h.sink.close().catch(() => undefined);
  const token = h.upstreamToken;
  assert.ok(h.received().length > 0);
  assert.ok(!h.received().includes(token), 'the token reached a client');
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  const files = [...walk(h.recordingsDir), ...walk(h.auditDir)];
  assert.ok(files.some((f) => f.endsWith('.cast')));
  for (const f of files) assert.ok(!readFileSync(f).includes(token), `the token is in ${f}`);
  await expectAuditVerifies(h.auditDir);
});
