// Proof by difference with the real bash: shell lines generated from a grammar (quoting, comments,
// expansions, redirects, wrappers, builtins, compound commands, loop variables, here-documents and
// here-strings) are classified, then run by bash under `strace -f -e trace=execve` in a scratch
// directory whose PATH holds only stand-ins. Every program bash actually executes must be one the
// classifier listed, unless it called the line opaque. The command the gateway would forward
// (rebuilt) is held to the same rule, run by sh (exec requests) and by bash (interactive shells).
// The stand-ins for programs that change things are /bin/true; a few real tools (sed, awk, find,
// xargs, env…) run for real, confined to the scratch directory by the grammar (relative names only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { inspectCommand } from '../../core/shell/index.js';
import { REAL, shellLine, STANDINS } from '../support/shell-grammar.js';
import { GIT_GUARD } from '../../core/shell/git-guard.js';
import { quote } from '../../core/shell/words.js';

const GUARD_WORD = `/bin/sh -c ${quote(GIT_GUARD)} `;

const LINES = Number(process.env.AIRLOCK_SHELL_DIFF_LINES ?? 10_000);
const BATCHES = 2;

const STRACE = spawnSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' }).stdout.trim();
const skip = STRACE.startsWith('/') ? false : 'needs strace (apt-get install strace)';


// ---- running bash under strace -------------------------------------------------------------
interface Entry {
  /** `bash`: the agent's line as bash reads it; `sh`: the command the gateway would forward. */
  shell: 'bash' | 'sh';
  /** bash running the forwarded command (what an interactive shell is given). */
  rebuilt?: boolean;
  text: string;
  listed: Set<string>;
  source: string;
}

function scratch(): { dir: string; bin: string } {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-shdiff-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const n of STANDINS) symlinkSync('/bin/true', join(bin, n));
  for (const n of REAL) {
    const found = spawnSync('sh', ['-c', `command -v ${n}`], { encoding: 'utf8' }).stdout.trim();
    if (found.startsWith('/')) symlinkSync(found, join(bin, n));
  }
  return { dir, bin };
}

/** Runs entries in one strace'd driver; returns, per entry, the programs executed (base names). */
function runBatch(entries: Entry[], root: string, bin: string, index: number): Promise<string[][]> {
  const work = join(root, `w${index}`);
  mkdirSync(join(work, 'sub'), { recursive: true });
  writeFileSync(join(work, 'in.txt'), 'a\nb\n');
  writeFileSync(join(work, 'e'), '');
  spawnSync('tar', ['-cf', join(work, 'x.tar'), '-C', work, 'in.txt']); // an archive tar reads through its -I program
  const input = join(root, `in${index}`);
  writeFileSync(input, entries.map((e) => `${e.shell}\0${e.text}\0`).join(''));
  const trace = join(root, `trace${index}`);
  const driver = 'while IFS= read -r -d "" s && IFS= read -r -d "" l; do "$s" -c "$l" </dev/null >/dev/null 2>&1; done < "$1"';
  return new Promise((resolve, reject) => {
    const child = spawn(
      STRACE,
      ['-f', '--seccomp-bpf', '-qq', '-e', 'trace=execve,clone,clone3,fork,vfork', '-e', 'signal=none', '-s', '512', '-o', trace, '/bin/bash', '-c', driver, 'driver', input],
      { cwd: work, env: { PATH: bin, HOME: work, P: 'rm', X: 'x', E: '' }, stdio: 'ignore' },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(attribute(readFileSync(trace, 'utf8'), entries.length));
    });
  });
}

/** Maps every execve in the trace to the driver's child (one per entry, in order) it descends from. */
function attribute(trace: string, count: number): string[][] {
  const out: string[][] = Array.from({ length: count }, () => []);
  const entryOf = new Map<number, number>(); // pid → entry index
  const roots = new Set<number>(); // the driver's children: each starts by executing the entry's bash or sh
  const pendingExec = new Map<number, string>();
  let driver: number | undefined;
  let next = 0;
  for (const raw of trace.split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (!m) continue;
    const pid = Number(m[1]);
    const rest = m[2]!;
    driver ??= pid;
    const forked = /^(?:clone3?|v?fork)\(.*\)\s+= (\d+)$/.exec(rest) ?? /^<\.\.\. (?:clone3?|v?fork) resumed>.*\)\s+= (\d+)$/.exec(rest);
    if (forked) {
      const child = Number(forked[1]);
      if (pid === driver) {
        entryOf.set(child, next++);
        roots.add(child);
      } else if (entryOf.has(pid)) entryOf.set(child, entryOf.get(pid)!);
      continue;
    }
    let path: string | undefined;
    const exec = /^execve\("([^"]*)"/.exec(rest);
    if (exec && rest.endsWith('<unfinished ...>')) pendingExec.set(pid, exec[1]!);
    else if (exec && / = 0$/.test(rest)) path = exec[1];
    else if (rest.startsWith('<... execve resumed>')) {
      if (/ = 0$/.test(rest)) path = pendingExec.get(pid);
      pendingExec.delete(pid);
    }
    const entry = entryOf.get(pid);
    if (path === undefined || entry === undefined || entry >= count) continue;
    if (roots.delete(pid)) continue; // the entry's own bash/sh
    out[entry]!.push(basename(path));
  }
  return out;
}

test(`bash executes no program the classifier did not list (${LINES} generated lines)`, { skip, timeout: 300_000 }, async () => {
  // A new seed each run explores new lines; a failure names it (AIRLOCK_SHELL_DIFF_SEED replays it).
  const seed = Number(process.env.AIRLOCK_SHELL_DIFF_SEED ?? Date.now() % 2 ** 31);
  const lines = fc.sample(shellLine, { numRuns: LINES, seed });
  const entries: Entry[] = [];
  let opaque = 0;
  for (const text of lines) {
    const r = inspectCommand(text);
    if (r.class === 'opaque') {
      opaque++;
      continue;
    }
    const listed = new Set(r.binaries);
    entries.push({ shell: 'bash', text, listed, source: text });
    // The forwarded form runs git inside the gateway's own guard script (`sh -c GIT_GUARD git …`).
    const forwarded = r.rebuilt!.includes(GUARD_WORD) ? new Set([...listed, 'sh']) : listed;
    entries.push({ shell: 'sh', text: r.rebuilt!, listed: forwarded, source: text });
    // An interactive shell is given the rebuilt form too, and it is bash that reads it there.
    entries.push({ shell: 'bash', text: r.rebuilt!, listed: forwarded, source: text, rebuilt: true });
  }
  const { dir, bin } = scratch();
  try {
    const per = Math.ceil(entries.length / BATCHES);
    const batches = Array.from({ length: BATCHES }, (_, i) => entries.slice(i * per, (i + 1) * per));
    const results = await Promise.all(batches.map((b, i) => runBatch(b, dir, bin, i)));
    const failures: string[] = [];
    batches.forEach((batch, i) =>
      batch.forEach((e, k) => {
        const unlisted = results[i]![k]!.filter((p) => !e.listed.has(p));
        if (unlisted.length) failures.push(`${e.shell} ran ${unlisted.join(',')} for ${JSON.stringify(e.source)}${e.shell === 'sh' || e.rebuilt ? ` (forwarded as ${JSON.stringify(e.text)})` : ''}; listed ${[...e.listed].join(',')}`);
      }),
    );
    const executed = results.flat().filter((r) => r.length > 0).length;
    console.log(`${lines.length} lines: ${lines.length - opaque} judged not opaque and run by bash and, rebuilt, by sh and bash; programs seen for ${executed} of ${entries.length} runs`);
    assert.ok(executed > entries.length / 4, `the trace saw programs run for ${executed} of ${entries.length} entries: the harness is broken`);
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures (seed ${seed}); ${opaque} of ${lines.length} lines opaque`);
  } finally {
    if (!process.env.AIRLOCK_SHELL_DIFF_KEEP) rmSync(dir, { recursive: true, force: true });
  }
});
