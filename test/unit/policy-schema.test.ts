// Loading policy sets: the published schema, and errors reported completely and where they are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AIRLOCK_SCHEMA, PolicyError, checkPolicy, compilePolicySet } from '../../core/policy/index.js';

const publishedSchema = readFileSync(new URL('../../policies/airlock.cedarschema', import.meta.url), 'utf8');

function compileErrors(policy: string, schema?: string): string[] {
  try {
    compilePolicySet(policy, schema);
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    for (const e of err.errors) assert.ok(err.message.includes(e), 'the message lists every error');
    return err.errors;
  }
  assert.fail('the policy set was accepted');
}

test('the embedded schema is the published one', () => {
  assert.equal(AIRLOCK_SCHEMA, publishedSchema);
});

test('the published policies pass `airlock policy check`', () => {
  for (const name of ['demo.cedar', 'production-example.cedar', 'http-example.cedar', 'kubernetes.cedar']) {
    const result = checkPolicy(readFileSync(new URL(`../../policies/${name}`, import.meta.url), 'utf8'), publishedSchema);
    assert.deepEqual(result, { ok: true, errors: [], warnings: [] }, name);
  }
});

test('every schema violation is reported with its policy name, line and column', () => {
  const errors = compileErrors(
    [
      '@id("fine") permit (principal, action == Airlock::Action::"read", resource);',
      '',
      '@id("typo-attribute")',
      'permit (principal, action == Airlock::Action::"read", resource)',
      'when { resource.enviroment == "demo" };',
      '@id("wrong-type") forbid (principal, action == Airlock::Action::"write", resource) when { context.tables.contains(1) };',
      '@id("unknown-action") permit (principal, action == Airlock::Action::"drop", resource);',
    ].join('\n'),
  );
  assert.equal(errors.length, 3, errors.join('\n'));
  assert.match(errors[0] ?? '', /^policy line 5, column 8: .*`typo-attribute`.*enviroment/);
  assert.match(errors[1] ?? '', /^policy line 6, column \d+: .*`wrong-type`/);
  assert.match(errors[2] ?? '', /^policy line 7, column \d+: .*drop/);
});

test('syntax errors point at the spot, counting characters not bytes', () => {
  const errors = compileErrors('// Übersicht: zwölf Regeln\n@id("brökén") permit (principal, action, resource) when { 1 + };');
  assert.equal(errors.length, 1);
  assert.match(errors[0] ?? '', /^policy line 2, column 63: .*unexpected token/);
});

test('policy names are mapped correctly beyond ten policies', () => {
  const policies = Array.from({ length: 12 }, (_, i) =>
    `@id("rule-${i}") permit (principal, action == Airlock::Action::"read", resource) when { context.${i === 10 ? 'tabels' : 'tables'}.isEmpty() };`,
  );
  const errors = compileErrors(policies.join('\n'));
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0] ?? '', /^policy line 11, .*`rule-10`/);
});

test('Airlock annotations are checked: names required and unique, approval spelled out', () => {
  const errors = compileErrors(`
    permit (principal, action == Airlock::Action::"read", resource);
    @id("twice") permit (principal, action == Airlock::Action::"read", resource);
    @id("twice") permit (principal, action == Airlock::Action::"write", resource);
    @id("maybe") @approval("yes please") permit (principal, action == Airlock::Action::"ddl", resource);
    @id("forbid-approval") @approval("required") forbid (principal, action == Airlock::Action::"opaque", resource);
  `);
  assert.equal(errors.length, 4, errors.join('\n'));
  assert.match(errors[0] ?? '', /no @id/);
  assert.match(errors[1] ?? '', /"twice".*more than one/);
  assert.match(errors[2] ?? '', /"maybe": @approval must be "required"/);
  assert.match(errors[3] ?? '', /"forbid-approval": @approval on a forbid/);
});

test('unknown annotations are warnings, not errors', () => {
  const result = checkPolicy('@id("a") @aproval("required") permit (principal, action == Airlock::Action::"ddl", resource);');
  assert.equal(result.ok, true);
  assert.deepEqual(result.errors, []);
  assert.match(result.warnings.join('\n'), /unknown annotation @aproval/);
});

test('checkPolicy reports instead of throwing', () => {
  const result = checkPolicy('@id("x") permit (principal, action, resource) when { context.nope };');
  assert.equal(result.ok, false);
  assert.match(result.errors.join('\n'), /`x`.*nope/);
});

test('a broken schema is reported as the schema', () => {
  const errors = compileErrors('@id("a") permit (principal, action, resource);', 'namespace Airlock {\n  entity Agent\n}');
  assert.match(errors[0] ?? '', /^schema line 3, column 1: /);
});

test('a schema that does not describe Airlock requests is refused at load time', () => {
  const partial = AIRLOCK_SCHEMA.replace(/action function_call appliesTo \{[^}]*\{[^}]*\},\s*\};/, '');
  assert.notEqual(partial, AIRLOCK_SCHEMA);
  const errors = compileErrors('@id("a") permit (principal, action == Airlock::Action::"read", resource);', partial);
  assert.match(errors.join('\n'), /schema does not describe Airlock's "function_call" requests/);
});

test('the version is a content hash of policy and schema', () => {
  const policy = '@id("a") permit (principal, action == Airlock::Action::"read", resource);';
  const a = compilePolicySet(policy);
  assert.match(a.version, /^sha256:[0-9a-f]{64}$/);
  assert.equal(compilePolicySet(policy).version, a.version);
  assert.equal(compilePolicySet(policy, publishedSchema).version, a.version);
  assert.notEqual(compilePolicySet(`${policy}\n`).version, a.version);
  assert.notEqual(compilePolicySet(policy, `${publishedSchema}\n`).version, a.version);
});

test('an empty policy set is valid and denies everything', () => {
  const engine = compilePolicySet('');
  const d = engine.authorizeConnect({ id: 'a', groups: [], issuer: 'i' }, { name: 't', kind: 'ssh', environment: 'x', tags: {} });
  assert.equal(d.effect, 'deny');
});
