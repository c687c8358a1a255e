// A grammar of bash lines for difference testing against the real bash: quoting, comments,
// expansions, redirects, wrappers, builtins, compound commands, embedded sed/awk programs. File
// names are relative (the lines run in a scratch directory); programs are the names below.
import fc from 'fast-check';

/** Names on the private PATH: stand-ins (`/bin/true`) for programs with effects, real ones for the rest. */
export const STANDINS = ['rm', 'mv', 'cp', 'tee', 'touch', 'chmod', 'dd', 'shred', 'curl', 'nc', 'python3', 'perl', 'frob', 'sudo', 'less', 'git', 'systemctl', 'journalctl', 'ps', 'df', 'hostname', 'date', 'uname', 'id'];
export const REAL = ['ls', 'cat', 'grep', 'wc', 'sort', 'head', 'tail', 'echo', 'printf', 'sed', 'awk', 'find', 'xargs', 'env', 'timeout', 'nice', 'nohup', 'sh', 'bash', 'true', 'false', 'uniq', 'cut', 'tr', 'test', 'stat', 'basename', 'tar'];

const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);
/** `arb` one time in `n`, else the empty string. */
const sometimes = (arb: fc.Arbitrary<string>, n: number) => fc.oneof({ weight: n - 1, arbitrary: fc.constant('') }, { weight: 1, arbitrary: arb });
const programName = fc.oneof(
  { weight: 24, arbitrary: pick(...STANDINS, ...REAL) },
  { weight: 3, arbitrary: pick("'rm'", '"rm"', 'r\\m', "r''m", '\\rm', 'r"m"', '/bin/true', '/usr/bin/env', '/bin/../bin/true', './x', '/bin/rm') },
  { weight: 2, arbitrary: pick('$P', '${P}', '"$P"', '$(echo rm)', '`echo rm`', 'r${E}m', '{rm,x}', 'r*', '/bin/r?', '~/x', "$'rm'", '*') },
  { weight: 1, arbitrary: pick('$i', '"$i"', '${i}', 'r$i') },
);
const argWord = fc.oneof(
  { weight: 40, arbitrary: pick('a', 'b', 'x.txt', 'in.txt', 'out', '-n', '-l', '-r', '--', '1', '-o', '-i', '-c', '-e', '.', 'sub', '-name', '-exec', '{}', '\\;', '+', '-delete', '-0', '-I{}', '-S', '-u') },
  { weight: 6, arbitrary: pick('foo#', 'a#b', '#c', '\\#', "'#'", "'a; rm x'", '"| rm"', "'$(rm x)'", '"a b"', 'a\\ b', '\\;', '\\|', "'&&'", "''", '""') },
  { weight: 2, arbitrary: pick('$X', '${X}', '"$X"', '$(rm x)', '`rm x`', '"$(rm x)"', '$((1+1))', '~', '~/x', '*', '*.txt', '{a,b}', "$'\\x41'", '$?', '$1', '@(a|b)', '[ab]') },
  { weight: 3, arbitrary: pick('"$i"', '$i', '"$i.txt"', '-$i', '"${i}"x', '"$j"') },
  { weight: 4, arbitrary: pick("'s/a/b/'", "'s/a/b/e'", "'1e rm x'", "'s/x/rm y/e'", "'w out'", "'1,2p'", "'{print $1}'", "'BEGIN{system(\"rm x\")}'", "'{print | \"rm\"}'", "'{print > \"out\"}'", "'BEGIN{\"rm x\" | getline}'") },
);
const redirect = fc.oneof(
  { weight: 4, arbitrary: pick('> out', '>> out', '< in.txt', '2>&1', '&> out', '>/dev/null', '2>/dev/null', '>&2', '>| out', '3> out', '<&-', '2>out') },
  { weight: 1, arbitrary: pick('< /dev/tcp/127.0.0.1/1', '<<< x', '< <(rm x)', '> >(rm x)', '{fd}> out', '> $X', '> *.txt') },
);
const assignment = fc.oneof(
  { weight: 2, arbitrary: pick('LANG=C ', 'TZ=UTC ', 'LC_ALL=C ', 'COLUMNS=80 ') },
  { weight: 1, arbitrary: pick('P=rm ', 'X=1 ', 'PATH=. ', 'BASH_ENV=./e ', "PS4='$(rm x)' ", 'IFS=/ ') },
);
const wrapperPrefix = pick('env ', 'env -i ', 'env LANG=C ', 'env P=rm ', 'timeout 5 ', 'nice ', 'nice -n 1 ', 'nohup ', 'command ', 'exec ', 'xargs ', 'xargs -0 ', 'sh -c ', 'bash -c ', "env -S'rm x' ", 'find . -maxdepth 0 -exec ', 'exec -a ls ', 'command -v ', 'sudo ');

const simpleCommand = fc
  .tuple(sometimes(assignment, 6), sometimes(wrapperPrefix, 5), programName, fc.array(argWord, { maxLength: 3 }), sometimes(redirect, 4))
  .map(([a, w, p, args, r]) => {
    const tail = w.startsWith('find') ? ' {} \\;' : '';
    const cmd = `${p}${args.length ? ' ' + args.join(' ') : ''}${tail}`;
    // `sh -c WORD`: quote the command so it is one word.
    const body = w.endsWith('-c ') ? `'${cmd.replace(/'/g, '')}'` : cmd;
    return `${a}${w}${body}${r ? ' ' + r : ''}`;
  });
const builtinLine = pick(
  'hash -p /usr/bin/env ls; ls', 'hash -p /bin/true cat; cat x', 'alias ls=rm; ls', 'shopt -s expand_aliases; alias ls=rm\nls', "PS4='$(rm x)'; set -x; ls",
  "trap 'rm x' EXIT", 'f() { rm x; }; f', "eval 'rm x'", 'eval rm x', 'set -e; ls', 'cd sub; ls', 'cd sub && rm x', 'export LANG=C; ls', 'export PATH=.; ls',
  'echo x | xargs rm', 'echo -o/x | xargs sort', 'read v < in.txt; $v', 'exec rm x', 'exec >out; ls', 'command -p rm x', 'builtin echo x', 'type rm', 'pwd', 'true', ':',
  'source ./e', '. ./e', 'unset PATH; ls', 'printf -v P rm; $P x', "BASH_ENV=./e bash -c 'ls'", 'let x=1', 'declare -x P=rm', 'umask 0', 'echo ok',
  "test -v 'a[$(rm x)]'", "[ -v 'a[$(rm x)]' ]", "[ -n x -a -v 'a[$(rm x)]' ]", 'test -v X',
);
const compound = (inner: fc.Arbitrary<string>) =>
  fc.oneof(
    inner.map((c) => `( ${c} )`),
    inner.map((c) => `{ ${c}; }`),
    inner.map((c) => `if true; then ${c}; fi`),
    inner.map((c) => `for i in a; do ${c}; done`),
    inner.map((c) => `! ${c}`),
    inner.map((c) => `time ${c}`),
    inner.map((c) => `coproc ${c}`),
    inner.map((c) => `[[ -n x ]] && ${c}`),
    inner.map((c) => `(( 1 )) && ${c}`),
  );
// Loops bind `i` (and `j`) to words the program position or options may take.
const loopList = pick('a', 'a b', 'rm', 'ls rm', '-rf x.txt', '-o out', "'a b'", '*', '*.txt', 'in.txt sub', '"$X"', '$(echo rm)', '{a,b}', '');
const condition = fc.oneof(simpleCommand, pick('true', 'false', '[ -f in.txt ]', 'test -d sub'));
const statements = (inner: fc.Arbitrary<string>) =>
  fc.tuple(inner, fc.array(fc.tuple(pick('; ', '\n', ' && ', ' | '), inner), { maxLength: 1 })).map(([a, rest]) => a + rest.map(([s, c]) => s + c).join(''));
const compoundCommand = (inner: fc.Arbitrary<string>) =>
  fc.oneof(
    fc.tuple(pick('i', 'j', 'PATH', 'IFS'), loopList, statements(inner)).map(([v, l, b]) => `for ${v} in ${l}; do ${b}; done`),
    fc.tuple(loopList, statements(inner)).map(([l, b]) => `for i in ${l}\ndo\n${b}\ndone`),
    fc.tuple(pick('while', 'until'), condition, statements(inner)).map(([k, c, b]) => `${k} ${c}; do ${b}; break; done`),
    fc.tuple(condition, statements(inner), sometimes(inner, 2), sometimes(fc.tuple(condition, inner).map(([c, b]) => `; elif ${c}; then ${b}`), 3)).map(
      ([c, t, e, elif]) => `if ${c}; then ${t}${elif}${e ? `; else ${e}` : ''}; fi`,
    ),
    fc.tuple(pick('a', '"$X"', '$(echo a)', '"$(rm x)"', 'x.txt'), pick('a', '*', 'a|b', '*.txt', '$(rm x)', '[ab]'), inner, pick(';;', ';&', ';;&')).map(
      ([w, p, b, end]) => `case ${w} in ${p}) ${b}${end} *) true;; esac`,
    ),
    statements(inner).map((b) => `{ ${b}; }`),
    statements(inner).map((b) => `( ${b} )`),
  );
// Here-documents: quoted, unquoted and tab-stripped, with bodies that expand (or, in bash, end early).
const hereBody = pick('x', 'a $X b', '$(rm x)', '`rm x`', '${X:-$(rm x)}', '${X:=y}', '$((1+2))', '$((X))', '$((a[$(rm x)]))', "$(echo '\nEOF\nrm x\n')", 'EOF2', '\\$(rm x)', '\\\\$(rm x)', '"$(rm x)"', "'$(rm x)'", '$(cat <<EOF\nEOF\n)');
const hereReader = pick('cat', 'grep x', 'sort', 'sh', 'xargs rm', 'wc -l', 'awk 1', 'sed -n p');
const hereDocument = fc
  .tuple(hereReader, pick('<<EOF', "<<'EOF'", '<<-EOF', '<<"EOF"', '<<\\EOF', '<<E"O"F'), hereBody, sometimes(pick(' | sh', ' | cat', '; rm x', ' > out'), 4), fc.boolean(), fc.boolean())
  .map(([r, op, body, tail, inFor, grouped]) => {
    const tab = op.startsWith('<<-') ? '\t' : '';
    const doc = inFor ? `for i in a; do ${r} ${op}${tail}; done\n${tab}${body}\nEOF\n` : `${r} ${op}${tail}\n${tab}${body}\n${tab}EOF\n`;
    // In a group, what follows the delimiter line can be any separator.
    return grouped ? `{ ${doc}}` : doc;
  });
// Loop variables used as arguments, options and programs, over lists of plain words and patterns.
const loopUse = fc
  .tuple(pick('i', 'j'), loopList, pick(...REAL.slice(0, 12), 'rm', 'sudo', 'frob', 'find'), pick('"$i"', '$i', '-$i', '"$i.txt"', '$i x.txt', '-n "$i"', '"${i}"/x', '$j'), sometimes(pick('$i', '"$i"'), 6))
  .map(([v, l, p, a, prog]) => `for ${v} in ${l}; do ${prog || p} ${a}; done`);
const hereString = fc.tuple(hereReader, pick('x', '"$X"', '$X', '$(rm x)', '"$(rm x)"', '`rm x`', "'$(rm x)'", '~', '*', '$((1+1))', '${X:=$(rm x)}')).map(([r, w]) => `${r} <<< ${w}`);
// tar's old-style bundles take their values in order (`tfI ARCHIVE PROG` runs PROG); x.tar exists.
const tarLine = fc
  .tuple(pick('tar tf', 'tar tvf', 'tar tfv', 'tar tfI', 'tar tvfI', 'tar tIf', 'tar -tf', 'tar -tvf', 'tar -tfI', 'tar t -f', 'tar tf -I'), pick('x.tar', 'in.txt'), sometimes(pick('frob', "'frob -x'", 'x.tar', 'sub'), 2))
  .map(([t, archive, more]) => `${t} ${archive}${more ? ` ${more}` : ''}`);
const statement = fc.oneof(
  { weight: 16, arbitrary: simpleCommand },
  { weight: 2, arbitrary: builtinLine },
  { weight: 1, arbitrary: compound(simpleCommand) },
  { weight: 4, arbitrary: compoundCommand(fc.oneof({ weight: 4, arbitrary: simpleCommand }, { weight: 1, arbitrary: compoundCommand(simpleCommand) })) },
  { weight: 2, arbitrary: hereDocument },
  { weight: 1, arbitrary: hereString },
  { weight: 2, arbitrary: loopUse },
  { weight: 1, arbitrary: tarLine },
);
const separator = fc.oneof(
  { weight: 8, arbitrary: pick('; ', ';', ' && ', ' || ', ' | ', ' |& ', '\n') },
  { weight: 1, arbitrary: pick(' & ', ' # ', '#', ' ;; ', '\\\n', '\\\n#') },
);
export const shellLine = fc
  .tuple(statement, fc.array(fc.tuple(separator, statement), { maxLength: 2 }), sometimes(pick(' # c', ' #', ' \\', ' &', ';', '\\\n# x'), 12))
  .map(([first, rest, end]) => first + rest.map(([s, c]) => s + c).join('') + end);

