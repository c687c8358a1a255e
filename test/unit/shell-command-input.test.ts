// Typed lines → whole commands, the way bash reads them: held while bash would show PS2, decided
// whole, refused whole when bash would not read them as the gateway does. Checked against the real
// bash (`bash -n`) on generated multi-line input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { CommandAssembler, type CommandInput } from '../../core/shell/command-input.js';
import { readBash } from '../../core/shell/bash-syntax.js';
import { SessionDefinitions } from '../../core/shell/session-definitions.js';

const feed = (...lines: string[]): CommandInput[] => {
  const a = new CommandAssembler();
  return lines.map((text) => a.add({ text, terminator: '\r' }));
};
const kinds = (...lines: string[]) => feed(...lines).map((r) => r.kind);
const last = (...lines: string[]) => feed(...lines).at(-1)!;

test('a command spread over lines is held until bash would run it, then decided whole', () => {
  assert.deepEqual(kinds('ls \\', '-la'), ['held', 'command'], 'backslash continuation');
  assert.deepEqual(kinds('ls;\\', 'id'), ['held', 'command'], 'continuation after a complete command');
  assert.deepEqual(kinds("echo 'one", "two'"), ['held', 'command'], 'open single quote');
  assert.deepEqual(kinds('echo "one', 'two"'), ['held', 'command'], 'open double quote');
  assert.deepEqual(kinds('cat <<EOF', 'rm -rf /', 'EOF'), ['held', 'held', 'command'], 'here-document');
  assert.deepEqual(kinds('if true; then', 'echo yes', 'fi'), ['held', 'held', 'command'], 'if');
  assert.deepEqual(kinds('for i in 1 2', 'do echo $i', 'done'), ['held', 'held', 'command'], 'for');
  assert.deepEqual(kinds('{', 'id', '}'), ['held', 'held', 'command'], 'group');
  assert.deepEqual(kinds('(', 'id', ')'), ['held', 'held', 'command'], 'subshell');
  assert.deepEqual(kinds('f() {', 'id', '}'), ['held', 'held', 'command'], 'function');
  assert.deepEqual(kinds('ls |', 'wc -l'), ['held', 'command'], 'pipe at the end of a line');
  assert.deepEqual(kinds('echo $(', 'id)'), ['held', 'command'], 'command substitution');
  const whole = last('cat <<EOF', 'rm -rf /', 'EOF');
  assert.equal(whole.kind === 'command' && whole.text, 'cat <<EOF\nrm -rf /\nEOF', 'the whole command is what is decided');
  assert.deepEqual(whole.kind === 'command' && whole.lines.map((l) => l.text + l.terminator), ['cat <<EOF\r', 'rm -rf /\r', 'EOF\r'], 'and every line is forwarded as typed');
});

test('a backslash ending a comment does not continue it; a # after a continuation is a comment', () => {
  assert.deepEqual(kinds('echo a # note \\', 'id'), ['command', 'command']);
  const joined = last('echo a \\', '# rm -rf /');
  assert.equal(joined.kind, 'command');
  assert.equal(joined.kind === 'command' && joined.text, 'echo a \\\n# rm -rf /', 'judged together, as bash runs them');
  assert.deepEqual(kinds("echo a # it's", 'id'), ['command', 'command'], 'a quote in a comment opens nothing');
  assert.deepEqual(kinds('echo a\\\\', 'id'), ['command', 'command'], 'an escaped backslash is no continuation');
});

test('what bash would not read as written is refused whole: syntax errors and history expansion', () => {
  const r = last('if true; then', 'fi fi');
  assert.equal(r.kind, 'refused');
  assert.equal(r.kind === 'refused' && r.lines.length, 2, 'every held line goes with it');
  assert.match(r.kind === 'refused' ? r.reason : '', /bash would not accept it/);
  for (const line of ['!!', 'echo !$', 'ls !-1:2', '^ls^rm', 'echo hi!x', 'echo "done!"']) {
    const h = last(line);
    assert.equal(h.kind, 'refused', line);
    assert.match(h.kind === 'refused' ? h.reason : '', /history/, line);
  }
  assert.equal(last("echo 'it", "is^", '^x!y', "'").kind, 'refused', 'a line starting with ^ is refused even inside quotes (bash may expand it)');
  // Text mvdan/sh reads differently from bash: bash ends the here-document at the first EOF line and
  // runs the rm; bash ends the backquotes at the second ` and runs the rm.
  const hdoc = last('cat <<EOF', "$(echo '", 'EOF', 'rm -f M', "')", 'EOF');
  assert.match(hdoc.kind === 'refused' ? hdoc.reason : '', /delimiter line EOF inside an expansion/);
  const bq = last("echo `echo '`", 'rm -f M', "'`");
  assert.match(bq.kind === 'refused' ? bq.reason : '', /inside `…` are read differently/);
  assert.equal(last('f() ls && ls').kind, 'refused', 'a function body must be a compound command');
  assert.equal(last('echo `date`').kind, 'command');
  assert.equal(last('cat <<EOF', 'now $(date)', 'EOF').kind, 'command');
  for (const line of ['[ a != b ]', '! grep -q x f', "awk '!seen[$0]++' f", 'echo $!', 'echo ${!HOME}', 'echo \\!x', 'echo a!', "echo 'a!b'"]) {
    assert.equal(last(line).kind, 'command', line);
  }
});

test('the held command is bounded in bytes and lines; discard() drops it', () => {
  const a = new CommandAssembler({ maxBytes: 100, maxLines: 3 });
  assert.equal(a.add({ text: 'cat <<EOF', terminator: '\n' }).kind, 'held');
  assert.equal(a.add({ text: 'x', terminator: '\n' }).kind, 'held');
  assert.equal(a.add({ text: 'y', terminator: '\n' }).kind, 'held');
  const over = a.add({ text: 'EOF', terminator: '\n' });
  assert.equal(over.kind, 'refused');
  assert.equal(a.holding, 0);
  assert.equal(a.add({ text: 'echo ' + 'x'.repeat(200), terminator: '\n' }).kind, 'refused');
  assert.equal(a.add({ text: 'if true', terminator: '\n' }).kind, 'held');
  assert.equal(a.discard().length, 1);
  assert.equal(a.add({ text: 'id', terminator: '\n' }).kind, 'command');
});

test('aliases and functions defined in the session make later uses opaque', () => {
  const tree = (text: string) => {
    const r = readBash(`${text}\n`);
    assert.equal(r.state, 'complete', text);
    return r.state === 'complete' ? r.tree : undefined!;
  };
  const s = new SessionDefinitions();
  assert.deepEqual(s.uses(tree('ls -la')), []);
  s.record(tree("alias ll='rm -rf'; builtin alias 'ls=rm'"), true);
  s.record(tree('cat() { rm -f "$@"; }\nfunction pwd { :; }'), true);
  assert.deepEqual(s.uses(tree('ll /x')), ['ll is an alias defined in this session']);
  assert.deepEqual(s.uses(tree('echo ok; ls')), ['ls is an alias defined in this session']);
  assert.deepEqual(s.uses(tree("'cat' x")), ['cat is a function defined in this session'], 'quotes do not hide a function');
  assert.deepEqual(s.uses(tree('\\pwd')), ['pwd is a function defined in this session'], 'a backslash does not hide a function');
  assert.equal(s.uses(tree('$p x')).length, 1, 'a computed program name could be any of them');
  assert.deepEqual(s.uses(tree('echo hello')), []);
  s.record(tree('source ./env.sh'), false);
  assert.match(s.uses(tree('echo hello'))[0] ?? '', /could not be inspected/, 'after an uninspectable command, nothing is known');
  const t = new SessionDefinitions();
  t.record(tree('alias "$name=x"'), true);
  assert.match(t.uses(tree('id'))[0] ?? '', /cannot read/);
});

/** Bash's own verdict on `text` as a script: complete, incomplete (needs more input) or an error. */
function bashVerdict(text: string): 'complete' | 'incomplete' | 'error' {
  let r = spawnSync('bash', ['--norc', '--noprofile', '-n'], { input: text, encoding: 'utf8' });
  // A loaded machine may fail to start bash: ask again rather than read that as bash's verdict.
  for (let i = 0; i < 5 && (r.error || r.status === null); i++) r = spawnSync('bash', ['--norc', '--noprofile', '-n'], { input: text, encoding: 'utf8' });
  if (r.error || r.status === null) throw new Error(`bash -n did not run: ${r.error?.message ?? r.signal}`);
  const err = r.stderr;
  if (/unexpected end of file|unexpected EOF while looking for matching|delimited by end-of-file/.test(err)) return 'incomplete';
  return r.status === 0 && err === '' ? 'complete' : 'error';
}

const FRAGMENTS = [
  'ls -la', "echo 'a", "b'", 'echo "x', 'y"', 'if true; then', 'fi', 'for i in 1 2; do', 'done', 'while false; do',
  '{', '}', '(', ')', 'f() {', 'cat <<EOF', 'EOF', "cat <<'E2' | wc -l", 'E2', 'echo $(', 'case x in', 'x) echo x;;', 'esac',
  'ls |', 'ls &&', "grep x # it's", 'echo a\\ b', 'echo `', '`', 'echo $((', '1 + 2))', 'echo "$(', 'echo [[', '[[ -n x ]] &&',
  'then', 'else', 'do', 'echo \\"', 'x=(', 'a b)', 'function g', '{ :; }', 'cat <<-X', '\tX', 'echo ${x:-', '}"', 'echo #', ';;',
  // Where mvdan/sh and bash have been seen to part: here-document ends inside an expansion, quotes in backquotes.
  "$(echo '", "')", "echo `echo '`", "'`", 'echo `date`', 'echo \\', 'cat <<EOF; echo "$(', ')"',
];

test('whatever the gateway takes for a whole command, bash reads as one (generated multi-line input, bash -n)', () => {
  const stricter: string[] = [];
  let compared = 0;
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 5 }), (lines) => {
      const text = `${lines.join('\n')}\n`;
      const ours = readBash(text).state;
      const theirs = bashVerdict(text);
      compared++;
      // Complete for the gateway must mean bash runs it now and reads it without error: anything
      // else would let bash join later lines to a command the gateway already decided.
      if (ours === 'complete') assert.equal(theirs, 'complete', `gateway: complete, bash: ${theirs}\n${text}`);
      // The other way round the gateway is only stricter: it holds or refuses what bash would run,
      // and bash sees none of it until the gateway has the whole command. Keep it rare.
      if (theirs === 'complete' && ours !== 'complete') stricter.push(text);
    }),
    { numRuns: Number(process.env.SHELL_DIFF_RUNS ?? 400) },
  );
  assert.equal(compared, Number(process.env.SHELL_DIFF_RUNS ?? 400));
  assert.ok(stricter.length <= compared / 25, `the gateway refuses ${stricter.length} of ${compared} inputs bash accepts:\n${stricter.join('---\n')}`);
});

test('skipping the parse for lines that cannot end an open here-document or quote changes no verdict', () => {
  const LINES = [...FRAGMENTS, 'EOF', "'", '"', 'a line', "it's", 'say "hi"', 'E2', '  EOF', 'X'];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...LINES), { minLength: 1, maxLength: 12 }), (lines) => {
      const a = new CommandAssembler();
      let since: string[] = [];
      for (const text of lines) {
        since.push(text);
        const got = a.add({ text, terminator: '\n' });
        const expected = readBash(`${since.join('\n')}\n`).state === 'incomplete';
        assert.equal(got.kind === 'held', expected, JSON.stringify(since));
        if (got.kind !== 'held') since = [];
      }
    }),
    { numRuns: 600 },
  );
});

test('input nested deeply enough to exhaust the stack is refused, never thrown (found by red-teaming)', () => {
  for (const text of [`${'$('.repeat(1000)}ls${')'.repeat(1000)}`, `${'{ '.repeat(1200)}ls${'; }'.repeat(1200)}`, Array(2500).fill("ls 'x'").join('|')]) {
    const input = new CommandAssembler({ maxBytes: 64 * 1024, maxLines: 256 }).add({ text, terminator: '\r' });
    assert.equal(input.kind, 'refused', text.slice(0, 40));
  }
});
