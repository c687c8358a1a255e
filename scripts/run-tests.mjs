#!/usr/bin/env node
// Runs every *.test.ts under test/ (or the folders/files given) with node's own test runner, two
// files at a time, the longest first.
//
// Why longest first: with two slots, a long file that starts late runs on alone at the end while
// the other slot sits idle (alphabetically, the whole-project typecheck starts among the last
// files). Started first, it runs beside the many short files instead. `node --test` sorts the files
// it is given, so this script drives the runner through its run() API, which keeps the order.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Files that run for long, longest first: they start before all others. A file missing here only
 * starts later. Measured alone, 2026-12, on the shared 2-core machine at a load of 10 to 15: wall
 * seconds there, and CPU seconds (which do not depend on the load).
 */
const LONGEST_FIRST = [
  'test/integration/audit-chaos.test.ts', // 106-126 s, 58-62 s CPU: eleven gateway processes
  'test/infra/dockerfile-rehearsal.test.ts', // 91 s, 33 s CPU: CDK synth, then tsc of the build stage
  'test/unit/typecheck.test.ts', // 73 s, 33 s CPU in one tsc process; alphabetically second to last
  'test/e2e/multi-process.test.ts', // 60-83 s, 28-29 s CPU
  'test/e2e/shutdown-signals.test.ts', // 38 s, 24 s CPU: three `airlock start`s, each with its own PostgreSQL
  'test/e2e/quickstart.test.ts', // 26-42 s, 14-15 s CPU
];

const CHILD = process.env.AIRLOCK_RUN_TESTS_CHILD === '1';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

function ordered(files) {
  const rank = (f) => {
    const i = LONGEST_FIRST.indexOf(f.replaceAll('\\', '/').replace(/^\.\//, ''));
    return i === -1 ? LONGEST_FIRST.length : i;
  };
  return files.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
}

/** The runner options the command line's --test-* flags stand for; an unknown flag is an error. */
function runnerOptions(flags) {
  const options = { timeout: 180_000 };
  for (const flag of flags) {
    const [name, value] = flag.split(/=(.*)/s);
    if (name === '--test-timeout' && /^\d+$/.test(value ?? '')) options.timeout = Number(value);
    else if (name === '--test-name-pattern' && value) (options.testNamePatterns ??= []).push(value);
    else if (name === '--test-only' && value === undefined) options.only = true;
    else {
      console.error(`run-tests: unknown option ${flag} (known: --test-timeout=MS, --test-name-pattern=RE, --test-only)`);
      process.exit(2);
    }
  }
  return options;
}

const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const options = runnerOptions(flags);

if (!CHILD) {
  // Test files are TypeScript: the runner and the processes it starts per file load tsx.
  const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, AIRLOCK_RUN_TESTS_CHILD: '1' },
  });
  process.exit(result.status ?? 1);
}

delete process.env.AIRLOCK_RUN_TESTS_CHILD;
const files = ordered((roots.length ? roots : ['test']).flatMap((r) => collect(r, [])));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const { run } = await import('node:test');
const { spec } = await import('node:test/reporters');
const stream = run({ files, concurrency: 2, ...options });
stream.on('test:fail', (data) => {
  if (!data.todo) process.exitCode = 1; // as `node --test`: a failing todo test fails nothing
});
stream.compose(spec).pipe(process.stdout);
