// The line discipline of interactive `kubectl exec -it` sessions: the shell in the container keeps
// its working directory between commands, so the gateway must too (found by red-teaming the SSH
// shell, which shares the classifier).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineDiscipline } from '../../fargate-proxy/src/protocols/kubernetes/streaming/line-discipline.js';
import { inspectCommand, type CommandInspection } from '../../core/shell/index.js';

function session() {
  const decided: CommandInspection[] = [];
  const forwarded: string[] = [];
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  const d = new LineDiscipline({
    maxLineBytes: 16 * 1024,
    tty: false,
    // An operator policy: anything but system paths.
    decide: async (c) => (decided.push(c), { allowed: !c.categories.includes('system_path_write') }),
    forward: (b) => forwarded.push(b.toString()),
    say: () => undefined,
    show: () => undefined,
    ended: () => ended(),
    pause: () => undefined,
    resume: () => undefined,
  });
  return { d, decided, forwarded, done };
}

test('after a `cd` in the session, a relative write may land under a system path: it is judged so', async () => {
  const { d, decided, forwarded, done } = session();
  d.push(Buffer.from('cd /etc\necho x > passwd\n'));
  d.end();
  await done;
  assert.deepEqual(decided.map((c) => c.text), ['cd /etc', 'echo x > passwd']);
  assert.ok(decided[1]!.categories.includes('system_path_write'), decided[1]!.reasons.join('; '));
  assert.deepEqual(forwarded, ['cd /etc\n'], 'the write was not sent');
});

test('an allowed line is given to the shell as the gateway rebuilt it, not as typed (pager off, git through its guard)', async () => {
  const { d, forwarded, done } = session();
  d.push(Buffer.from('dmesg   -H\ngit log\n'));
  d.end();
  await done;
  assert.equal(forwarded[0], 'dmesg --nopager -H\n');
  assert.equal(forwarded[1], `${inspectCommand('git log').rebuilt}\n`);
  assert.match(forwarded[1]!, /^\/bin\/sh -c .*-c core\.pager=cat.* git log\n$/);
});
