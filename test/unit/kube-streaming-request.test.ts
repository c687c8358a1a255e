// How the streaming handler reads exec/attach/port-forward parameters (as the API server does) and
// judges an exec's command (as the SSH path judges one).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadRequest, execQuery, parseExecParams, parsePorts } from '../../fargate-proxy/src/protocols/kubernetes/streaming/request.js';
import { GIT_GUARD } from '../../core/shell/git-guard.js';
import { judgeExecCommand } from '../../fargate-proxy/src/protocols/kubernetes/streaming/exec-command.js';
import { chooseProtocol, exitCodeOf, exitStatus, parseResize, PROTOCOLS } from '../../fargate-proxy/src/protocols/kubernetes/streaming/channel.js';

const q = (s: string) => new URLSearchParams(s);

test('booleans are read as apimachinery reads them: first value, only "0"/"false" are false, an empty value is true', () => {
  const p = parseExecParams(q('command=ls&stdin=&stdout=TRUE&stderr=0&tty=false&tty=true'), 'exec');
  assert.deepEqual([p.stdin, p.stdout, p.stderr, p.tty], [true, true, false, false]);
  assert.equal(parseExecParams(q('command=ls&stdout=1&stdout=false'), 'exec').stdout, true);
});

test('the upstream query is rebuilt from what was read: unknown parameters dropped, booleans spelled out', () => {
  const p = parseExecParams(q('command=cat&command=a%20b&container=main&stdout=yes&debug=1&stdin=false'), 'exec');
  assert.equal(execQuery(p, p.command), 'command=cat&command=a+b&container=main&stdin=false&stdout=true&stderr=false&tty=false');
});

test('an exec without a command, or without any stream, is a bad request', () => {
  assert.throws(() => parseExecParams(q('stdout=true'), 'exec'), BadRequest);
  assert.throws(() => parseExecParams(q('command=ls'), 'exec'), BadRequest);
  assert.deepEqual(parseExecParams(q('stdout=true&command=ignored'), 'attach').command, []);
});

test('ports: repeated or comma-separated, 1-65535, decimal only', () => {
  assert.deepEqual(parsePorts(q('ports=80,443&ports=8080')), [80, 443, 8080]);
  for (const bad of ['ports=0', 'ports=65536', 'ports=0x50', 'ports=80,', 'ports=-1', '']) assert.throws(() => parsePorts(q(bad)), BadRequest, bad);
});

test('a plain argv is judged as the program it names, each word literal', () => {
  const c = judgeExecCommand(['ls', '-la', '$HOME'], false);
  assert.equal(c.input, 'command');
  assert.equal(c.inspection.class, 'read');
  assert.deepEqual(c.forward, ['ls', '-la', '$HOME']);
  assert.equal(judgeExecCommand(['rm', '-rf', '/data'], false).inspection.class, 'destructive');
});

test('a plain argv goes upstream as the classifier rebuilt it: pagers off, git through its guard', () => {
  const dmesg = judgeExecCommand(['dmesg', '-H'], false);
  assert.deepEqual(dmesg.forward, ['dmesg', '--nopager', '-H']);
  assert.deepEqual(dmesg.inspection.argv, dmesg.forward, 'the policy context names what is forwarded');
  const git = judgeExecCommand(['git', 'log'], false);
  assert.deepEqual(git.forward, ['/bin/sh', '-c', GIT_GUARD, 'git', 'log']);
  assert.equal(git.inspection.class, 'read');
  const script = judgeExecCommand(['sh', '-c', 'journalctl -n 5 | grep x'], false);
  assert.deepEqual(script.forward, ['sh', '-c', 'journalctl --no-pager -n 5 | grep x']);
});

test('sh -c SCRIPT is judged by its script, and the script goes upstream as the classifier rebuilt it', () => {
  const c = judgeExecCommand(['sh', '-c', 'ls   -la &&  echo "done"'], false);
  assert.equal(c.inspection.class, 'read');
  assert.deepEqual(c.forward, ['sh', '-c', 'ls -la && echo done']);
  assert.equal(judgeExecCommand(['/bin/bash', '-c', 'rm -f MARKER'], false).inspection.class, 'destructive');
  const opaque = judgeExecCommand(['sh', '-c', 'eval "$X"'], false);
  assert.equal(opaque.inspection.class, 'opaque');
  assert.equal(opaque.forward, undefined);
});

test('a lone shell with stdin is an interactive session; without stdin it is an opaque command', () => {
  assert.equal(judgeExecCommand(['sh'], true).input, 'shell');
  assert.equal(judgeExecCommand(['/bin/bash', '-i'], true).input, 'shell');
  assert.equal(judgeExecCommand(['python3'], true).input, 'command');
  const c = judgeExecCommand(['sh'], false);
  assert.equal(c.input, 'command');
  assert.equal(c.inspection.class, 'opaque');
});

test('channel protocol: our preference decides; exit codes read from the Status; resize sizes checked', () => {
  assert.equal(chooseProtocol(['v4.channel.k8s.io', 'v5.channel.k8s.io'], PROTOCOLS.exec), 'v5.channel.k8s.io');
  assert.equal(chooseProtocol(['v5.channel.k8s.io', 'channel.k8s.io'], PROTOCOLS.portforward), 'channel.k8s.io');
  assert.equal(chooseProtocol(['base64.channel.k8s.io'], PROTOCOLS.exec), undefined);
  assert.equal(exitCodeOf(exitStatus(7)), 7);
  assert.equal(exitCodeOf({ status: 'Success' }), 0);
  assert.deepEqual(parseResize(Buffer.from('{"Width":120,"Height":40}')), { width: 120, height: 40 });
  assert.equal(parseResize(Buffer.from('{"Width":-1,"Height":40}')), undefined);
  assert.equal(parseResize(Buffer.from('nope')), undefined);
});
