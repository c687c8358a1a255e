// Hot reload of a real policy file in a temporary directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Principal, StatementInspection, TargetInfo } from '../../core/model.js';
import type { PolicyEngine } from '../../core/policy/index.js';
import { watchPolicyFile } from '../../fargate-proxy/src/adapters/local/policy-file.js';

const alice: Principal = { id: 'alice', groups: ['agents'], issuer: 'https://idp.example' };
const demo: TargetInfo = { name: 'demo', kind: 'postgres', environment: 'demo', tags: {} };
const drop: StatementInspection = {
  class: 'destructive', statementTypes: ['DropStmt'], tables: ['orders'], functions: [], dmlWithoutWhere: false, reasons: [], text: 'DROP TABLE orders',
};
const schemaText = readFileSync(new URL('../../policies/airlock.cedarschema', import.meta.url), 'utf8');
const readOnly = '@id("read") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"read", resource);\n';
const dropsAllowed = `${readOnly}@id("drops") permit (principal, action == Airlock::Action::"destructive", resource);\n`;

/** Collects reload outcomes so a test can wait for the next one. */
function recorder() {
  const events: ({ engine: PolicyEngine } | { error: string })[] = [];
  let wake: (() => void) | undefined;
  const push = (e: (typeof events)[number]) => {
    events.push(e);
    wake?.();
  };
  return {
    onEngine: (engine: PolicyEngine) => push({ engine }),
    onError: (error: string) => push({ error }),
    async next(): Promise<(typeof events)[number]> {
      const deadline = Date.now() + 10_000;
      while (events.length === 0) {
        if (Date.now() > deadline) throw new Error('no reload event within 10 s');
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
      return events.shift() as (typeof events)[number];
    },
    get pending() {
      return events.length;
    },
  };
}

function setup(t: { after(fn: () => void): void }, initial: string, withSchema = false) {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
  const path = join(dir, 'policy.cedar');
  const schemaPath = join(dir, 'airlock.cedarschema');
  writeFileSync(path, initial);
  if (withSchema) writeFileSync(schemaPath, schemaText);
  const events = recorder();
  const watch = watchPolicyFile(path, withSchema ? schemaPath : undefined, events.onEngine, events.onError);
  t.after(() => {
    watch.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, path, schemaPath, events, watch };
}

test('an edit is picked up; a bad edit keeps the previous engine and is reported', async (t) => {
  const { path, events, watch } = setup(t, readOnly);
  const first = watch.current;
  assert.equal(first.authorizeStatement(alice, demo, drop).effect, 'deny');

  writeFileSync(path, dropsAllowed);
  const reloaded = await events.next();
  assert.ok('engine' in reloaded, JSON.stringify(reloaded));
  assert.equal(watch.current, reloaded.engine);
  assert.notEqual(watch.current.version, first.version);
  assert.equal(watch.current.authorizeStatement(alice, demo, drop).effect, 'allow');

  const good = watch.current;
  writeFileSync(path, `${dropsAllowed}@id("oops") permit (principal, action, resource) when { context.nope };\n`);
  const failed = await events.next();
  assert.ok('error' in failed, JSON.stringify(failed));
  assert.match(failed.error, new RegExp(`keeping version ${good.version}.*\`oops\`.*nope`, 's'));
  assert.equal(watch.current, good);
  assert.equal(watch.current.authorizeStatement(alice, demo, drop).effect, 'allow');

  writeFileSync(path, readOnly);
  const fixed = await events.next();
  assert.ok('engine' in fixed);
  assert.equal(fixed.engine.version, first.version);
  assert.equal(watch.current.authorizeStatement(alice, demo, drop).effect, 'deny');
});

test('saving by rename (as editors do) is picked up', async (t) => {
  const { dir, path, events, watch } = setup(t, readOnly);
  const temp = join(dir, '.policy.cedar.swp');
  writeFileSync(temp, dropsAllowed);
  renameSync(temp, path);
  const reloaded = await events.next();
  assert.ok('engine' in reloaded, JSON.stringify(reloaded));
  assert.equal(watch.current.authorizeStatement(alice, demo, drop).effect, 'allow');
});

test('a schema edit reloads too, and a schema that breaks the policies is refused', async (t) => {
  const { schemaPath, events, watch } = setup(t, readOnly, true);
  const first = watch.current;
  writeFileSync(schemaPath, `${schemaText}\n// reviewed\n`);
  const reloaded = await events.next();
  assert.ok('engine' in reloaded, JSON.stringify(reloaded));
  assert.notEqual(watch.current.version, first.version);

  const current = watch.current;
  writeFileSync(schemaPath, schemaText.replace('action read, write,', 'action write,'));
  const failed = await events.next();
  assert.ok('error' in failed, JSON.stringify(failed));
  assert.equal(watch.current, current);
});

test('an invalid file at start throws: there is no previous engine to keep', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'policy.cedar');
  writeFileSync(path, 'permit (principal, action, resource);');
  assert.throws(() => watchPolicyFile(path, undefined, () => {}, () => {}), { name: 'PolicyError', message: /no @id/ });
});

test('touching an unrelated file in the directory does not reload', async (t) => {
  const { dir, events } = setup(t, readOnly);
  writeFileSync(join(dir, 'notes.txt'), 'hello');
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(events.pending, 0);
});
