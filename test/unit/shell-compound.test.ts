// Compound commands, loop variables, here-documents, the git guard and the interactive form: the
// classifier's verdict is the join of the parts, and the rebuilt text is what the target runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectCommand } from '../../core/shell/index.js';
import { GIT_GUARD } from '../../core/shell/git-guard.js';
import { interactiveForm } from '../../core/shell/interactive-form.js';
import { CASE_BREAK, parseBash, type CaseClause } from '../../core/shell/syntax.js';
import { quote } from '../../core/shell/words.js';

const cls = (c: string) => inspectCommand(c).class;

test('a compound command is the join of its parts: conditions and bodies', () => {
  assert.equal(cls('if [ -d /srv ]; then ls /srv; elif true; then pwd; else echo none; fi'), 'read');
  assert.equal(cls('while false; do ls; done'), 'read');
  assert.equal(cls('{ ls; df -h; } 2>&1'), 'read');
  assert.equal(cls('( cd /var/log && ls )'), 'read');
  assert.equal(cls('case x in a|b) ls;; *) pwd;; esac'), 'read');
  assert.equal(cls('if rm -f x; then ls; fi'), 'destructive', 'a condition is a command too');
  assert.equal(cls('if true; then ls; else rm -f x; fi'), 'destructive', 'every branch counts, taken or not');
  assert.equal(cls('{ ls; } > /etc/motd'), 'privileged', 'a redirect on the group writes');
  assert.equal(cls('case x in x) ls;& y) rm x;; esac'), 'opaque', 'fall-through is bash-only');
  assert.equal(cls('for ((i=0; i<2; i++)); do ls; done'), 'opaque');
  assert.equal(cls('select f in a; do ls; done'), 'opaque');
  assert.equal(cls('if true; then ls # c\nfi'), 'opaque', 'comments stay refused inside compounds');
  assert.equal(inspectCommand('if true\nthen\n  ls -l\nfi').rebuilt, "if true; then ls -l; fi");
  assert.equal(inspectCommand('case "$HOME" in /root) echo r;; esac').rebuilt, 'case "${HOME}" in /root) echo r ;; esac');
});

test('loop variables: each listed value is judged in the body; never a program; unquoted only when bash leaves it whole', () => {
  assert.equal(cls('for f in /var/log/a.log /var/log/b.log; do tail -n 5 "$f"; done'), 'read');
  assert.equal(cls('for f in /var/log/*.log; do tail -n 5 "$f"; done'), 'read');
  assert.equal(cls('for f in -o/etc/passwd; do sort "$f" x; done'), 'privileged', 'the value is judged where it lands: an option');
  assert.equal(cls('for f in /tmp/x; do rm "$f"; done'), 'destructive');
  assert.equal(cls('for p in ls; do $p; done'), 'opaque', 'a loop variable in program position');
  assert.equal(cls('for p in ls; do "$p" -l; done'), 'opaque');
  assert.equal(cls("for f in 'a b'; do ls $f; done"), 'opaque', 'unquoted, bash splits the value');
  assert.equal(cls('for f in *; do sort "$f"; done'), 'opaque', 'a file name can start with -');
  assert.equal(cls('for PATH in /tmp; do ls; done'), 'opaque');
  assert.equal(cls('for http_proxy in x; do ls; done'), 'opaque');
  assert.equal(cls('for i; do ls "$i"; done'), 'opaque', 'the positional parameters are not known');
  const scripts = inspectCommand("for c in 'ls' 'rm x'; do sh -c \"$c\"; done");
  assert.equal(scripts.class, 'opaque', 'each value is judged, here as a script; its rebuilt form differs per value');
  assert.ok(scripts.categories.includes('destructive_file'));
  assert.match(scripts.reasons.join(), /cannot be rebuilt the same way for every value/);
  assert.equal(cls('ls "$f"'), 'opaque', 'outside its loop the variable is unknown');
  assert.equal(cls('for i in a; do for i in -o/tmp/x; do :; done; sort "$i" f; done'), 'opaque', 'an inner loop leaves the variable at one of its values');
  assert.equal(cls('for i in -o/tmp/x b; do break; done; sort "$i" f'), 'opaque', 'after its loop the variable holds any listed value');
  const r = inspectCommand('for i in 1 2; do printf "%s\\n" "$i"; done');
  assert.equal(r.rebuilt, 'for i in 1 2; do printf \'%s\\n\' "${i}"; done', 'the target sets the variable from the same list');
  assert.equal(cls(`for i in ${Array.from({ length: 40 }, (_, k) => k).join(' ')}; do ls; done`), 'opaque', 'long lists are not unrolled');
});

test('here-documents: quoted bodies are data, unquoted bodies are judged like words, substitutions are commands', () => {
  assert.equal(inspectCommand("cat <<'EOF'\n$(rm -f x) `rm` $HOME\nEOF").rebuilt, "cat <<'AIRLOCK_EOF'\n$(rm -f x) `rm` $HOME\nAIRLOCK_EOF\n");
  assert.equal(cls("cat <<'EOF'\n$(rm -f x)\nEOF"), 'read');
  assert.equal(cls('cat <<EOF\n$(rm -f x)\nEOF'), 'destructive');
  assert.equal(cls('cat <<EOF\n$(uname -r)\nEOF'), 'read');
  assert.equal(inspectCommand('cat <<EOF\nhome \\$HOME is $HOME, $(uname -r), $((6*7))\nEOF').rebuilt, 'cat <<AIRLOCK_EOF\nhome \\$HOME is ${HOME}, $(uname -r), $((6*7))\nAIRLOCK_EOF\n');
  assert.equal(inspectCommand('cat <<-EOF\n\tindented\n\tEOF\nls').rebuilt, "cat <<'AIRLOCK_EOF'\nindented\nAIRLOCK_EOF\nls", 'tabs stripped, then a plain document');
  assert.equal(cls('cat <<EOF\n`rm x`\nEOF'), 'opaque');
  assert.equal(cls('cat <<EOF\n${x:=$(rm x)}\nEOF'), 'opaque');
  assert.equal(cls('cat <<EOF\n$((x))\nEOF'), 'opaque', 'arithmetic on a variable evaluates its value as code');
  assert.equal(cls("cat <<X\n$(echo '\nX\nrm -f m\n')\nX"), 'opaque', 'bash ends the document inside the substitution');
  assert.equal(cls('cat <<$X\nx\n$X'), 'opaque');
  assert.equal(cls("sh <<'EOF'\nls\nEOF"), 'opaque', 'a shell reading the document runs it');
  assert.equal(cls("cat <<'EOF' > out.txt\nx\nEOF"), 'write');
  assert.equal(inspectCommand('cat <<AIRLOCK_EOF\nAIRLOCK_EOF_X\nAIRLOCK_EOF').rebuilt, "cat <<'AIRLOCK_EOF'\nAIRLOCK_EOF_X\nAIRLOCK_EOF\n");
  assert.equal(inspectCommand("cat <<'A'\nAIRLOCK_EOF\nA").rebuilt, "cat <<'AIRLOCK_EOF_1'\nAIRLOCK_EOF\nAIRLOCK_EOF_1\n", 'the delimiter is no line of the body');
  assert.equal(inspectCommand('for i in 1; do cat <<EOF; done\n$i\nEOF').rebuilt, 'for i in 1; do cat <<AIRLOCK_EOF; done\n${i}\nAIRLOCK_EOF\n', 'a body after the whole compound line');
});

test('here-strings become the document bash makes of them (sh has no <<<)', () => {
  assert.equal(inspectCommand('grep x <<< "$HOME and *"').rebuilt, 'grep x <<AIRLOCK_EOF\n${HOME} and *\nAIRLOCK_EOF\n');
  assert.equal(inspectCommand("wc -l <<< 'a b'").rebuilt, "wc -l <<'AIRLOCK_EOF'\na b\nAIRLOCK_EOF\n");
  assert.equal(cls('cat <<< $(rm x)'), 'destructive');
  assert.equal(cls('cat <<< ~root'), 'opaque');
  assert.equal(cls("bash <<< 'rm x'"), 'opaque');
});

test('git is forwarded inside the fixed guard script, and the guarded form is read back as the same git command', () => {
  const r = inspectCommand('git -C /srv/app log --oneline -5 | head');
  assert.equal(r.class, 'read');
  assert.equal(r.rebuilt, `/bin/sh -c ${quote(GIT_GUARD)} git -C /srv/app log --oneline -5 | head`);
  assert.deepEqual(r.binaries, ['git', 'head']);
  const again = inspectCommand(r.rebuilt!);
  assert.equal(again.rebuilt, r.rebuilt);
  assert.deepEqual(again.binaries, ['git', 'head']);
  assert.equal(inspectCommand(`/bin/sh -c ${quote(GIT_GUARD)} git push`).class, 'privileged', 'the wrapped git is judged');
  assert.equal(inspectCommand(`sh -c ${quote(GIT_GUARD + ' ')} git log`).class, 'opaque', 'only the exact guard');
  for (const key of ['core.fsmonitor=false', 'core.hooksPath=/dev/null', 'core.pager=cat', 'gpg.program=false', 'log.showSignature=false']) assert.ok(GIT_GUARD.includes(`-c ${key}`), key);
});

test('interactive shells are given the rebuilt command; opaque commands a policy allowed go as typed', () => {
  const line = (text: string) => ({ text, terminator: '\r' });
  const typed = [line('for i in 1 2; do'), line('  echo "$i"'), line('done')];
  const form = interactiveForm(inspectCommand(typed.map((l) => l.text).join('\n')), typed);
  assert.deepEqual(form, { ok: true, bytes: 'for i in 1 2; do echo "${i}"; done\r', rebuilt: true });
  const doc = [line('cat <<EOF'), line('$HOME'), line('EOF')];
  assert.deepEqual(interactiveForm(inspectCommand(doc.map((l) => l.text).join('\n')), doc), { ok: true, bytes: 'cat <<AIRLOCK_EOF\r${HOME}\rAIRLOCK_EOF\r', rebuilt: true });
  const opaque = [line('f() { ls; }')];
  assert.deepEqual(interactiveForm(inspectCommand(opaque[0]!.text), opaque), { ok: true, bytes: 'f() { ls; }\r', rebuilt: false });
  const bang = [line("cat <<'EOF'"), line('!!'), line('EOF')];
  const refused = interactiveForm(inspectCommand(bang.map((l) => l.text).join('\n')), bang);
  assert.equal(refused.ok, false, 'history expansion would rewrite the rebuilt body');
});

test('the case item operator code matches the parser', () => {
  const parsed = parseBash('case a in a) ;; esac');
  assert.ok(parsed.ok);
  assert.equal((parsed.file.Stmts[0]!.Cmd as CaseClause).Items[0]!.Op, CASE_BREAK);
});

test("a `case` pattern 'esac' stays quoted in the rebuilt command (bare, it would end the statement)", () => {
  assert.equal(inspectCommand("case esac in 'esac') ls;; esac").rebuilt, "case esac in 'esac') ls ;; esac");
});
