// A program that starts a pager on a terminal hands the agent's next lines to the pager, not to
// bash: in an interactive shell, `dmesg -H` (read) opens less, and the next line the gateway
// allows as a read command, `ls /tmp/x`, is less's `s` command — save the input to the file
// "/tmp/x" (less also runs commands on `!` and `|`). Found by red-teaming. The rebuilt command the
// gateway forwards turns the pager off; here the real program runs under a pty (`script`), once as
// typed and once rebuilt, and the next line is typed into it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectCommand } from '../../core/shell/index.js';

const has = (p: string) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0;
const readable = spawnSync('dmesg', ['-H', '--color=never'], { encoding: 'utf8' });
const skip = !has('script') || !has('less') || readable.status !== 0 || readable.stdout.split('\n').length < 200 ? 'needs script, less and a readable kernel log of 200 lines or more' : false;

/** Runs `command` on a pty with PAGER unset, types `line` once it is showing, then `q`. */
function typeInto(command: string, line: string): Promise<void> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm', LINES: '24', COLUMNS: '80' };
    delete env.PAGER;
    delete env.LESS;
    delete env.LESSSECURE;
    const child = spawn('script', ['-qc', command, '/dev/null'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
    const timers = [setTimeout(() => child.stdin.write(`${line}\r`), 1000), setTimeout(() => child.stdin.write('q'), 2000), setTimeout(() => child.kill('SIGKILL'), 5000)];
    child.on('close', () => {
      timers.forEach(clearTimeout);
      resolve();
    });
  });
}

test('the rebuilt command starts no pager that would read the next line (dmesg -H)', { skip, timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pager-'));
  try {
    const next = (name: string) => `ls ${join(dir, name)}`;
    assert.equal(inspectCommand(next('x')).class, 'read', 'the next line is one a read-only policy allows');
    const typed = 'dmesg -H';
    const r = inspectCommand(typed);
    assert.equal(r.class, 'read');
    // As typed, less takes the line as `s FILE`: the harness sees the write.
    await typeInto(typed, next('as-typed'));
    assert.ok(existsSync(join(dir, 'as-typed')), 'as typed, the pager saved its input to the file the next line named');
    await typeInto(r.rebuilt!, next('rebuilt'));
    assert.ok(!existsSync(join(dir, 'rebuilt')), `rebuilt (${r.rebuilt}), no pager read the line`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('programs that page on a terminal are forwarded with their pager off', () => {
  assert.equal(inspectCommand('journalctl -u nginx -n 20').rebuilt, 'journalctl --no-pager -u nginx -n 20');
  assert.equal(inspectCommand('systemctl status nginx').rebuilt, 'systemctl --no-pager status nginx');
  assert.equal(inspectCommand('timeout 5 loginctl list-sessions').rebuilt, 'timeout 5 loginctl --no-pager list-sessions');
  assert.equal(inspectCommand('dmesg -H').rebuilt, 'dmesg --nopager -H');
  assert.equal(inspectCommand('journalctl --no-pager -n 5').rebuilt, 'journalctl --no-pager -n 5', 'not twice');
  assert.deepEqual(inspectCommand('journalctl -n 5').argv, ['journalctl', '--no-pager', '-n', '5'], 'argv is what runs');
});
