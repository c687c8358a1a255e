// A rebuilt command becomes an argv (Kubernetes exec runs one with no shell) only when it is one
// plain command of literal words: anything a shell would have to do is refused, never dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argvForm } from '../../core/shell/argv-form.js';
import { inspectCommand } from '../../core/shell/index.js';

test('one plain command of literal words is its words', () => {
  assert.deepEqual(argvForm(`ls -la 'a b' "c\\$d" e\\ f`), { ok: true, argv: ['ls', '-la', 'a b', 'c$d', 'e f'] });
  assert.deepEqual(argvForm("sh -c 'cat <<'\\''E'\\''\nhi\nE\n'"), { ok: true, argv: ['sh', '-c', "cat <<'E'\nhi\nE\n"] });
  const git = inspectCommand("'git' 'log'").rebuilt!;
  const form = argvForm(git);
  assert.ok(form.ok && form.argv[0] === '/bin/sh' && form.argv.at(-1) === 'log');
});

test('what needs a shell has no argv form', () => {
  for (const text of ['ls > x', 'A=1 ls', 'ls *', 'ls ~', 'ls $HOME', 'ls $(id)', 'ls; rm x', 'ls | wc', 'ls &', '! ls', 'if true; then ls; fi', 'ls {a,b}', '', '# c', 'ls # c']) {
    const r = argvForm(text);
    assert.equal(r.ok, false, `${JSON.stringify(text)} read as ${JSON.stringify(r)}`);
  }
});
