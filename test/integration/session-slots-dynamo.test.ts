// The fleet's concurrent-session counts in DynamoDB (adapters/aws/session-slot-ledger.ts), through the
// real SDK against dynalite: four processes' logins all at once never admit more than the limit; all
// released, the item holds 0; a crashed process's slots are reclaimed past the stale window only; the
// conditions match the reference transitions of core/task/slots.ts step for step.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CreateTableCommand, DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoSlotLedger } from '../../fargate-proxy/src/adapters/aws/session-slot-ledger.js';
import { LocalSlotLedger, SessionSlots } from '../../core/task/slots.js';
import { startLocalDynamo, type LocalDynamo } from '../support/local-aws.js';

const TABLE = 'airlock-slots';
let dynamo: LocalDynamo;
before(async () => {
  dynamo = await startLocalDynamo();
  await dynamo.client.send(new CreateTableCommand({ TableName: TABLE, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'requestId', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }] }));
});
after(() => dynamo?.stop());

test('four processes logging in at once (10 each) are admitted exactly the limit; all released, the count is 0', async () => {
  const key = 'task#t-burst/concurrentSessions';
  const procs = [0, 1, 2, 3].map((i) => new SessionSlots(new DynamoSlotLedger(dynamo.client, TABLE), { holder: `host/${i}`, staleMs: 60_000 }));
  const results = await Promise.all(procs.flatMap((p) => Array.from({ length: 10 }, () => p.admit(key, 3).then((ok) => ({ p, ok })))));
  assert.equal(results.filter((r) => r.ok).length, 3);
  const ledger = new DynamoSlotLedger(dynamo.client, TABLE);
  assert.equal((await ledger.read(key)).total, 3);
  await Promise.all(results.filter((r) => r.ok).map((r) => r.p.release(key)));
  assert.deepEqual(await ledger.read(key), { total: 0, holders: {} });
});

test('a crashed process\'s slots are reclaimed past the stale window only', async () => {
  const key = 'agent#["i","a"]/concurrentSessions';
  let now = 5_000_000;
  const a = new SessionSlots(new DynamoSlotLedger(dynamo.client, TABLE), { holder: 'a', staleMs: 3000, now: () => now });
  const b = new SessionSlots(new DynamoSlotLedger(dynamo.client, TABLE), { holder: 'b', staleMs: 3000, now: () => now });
  assert.equal(await a.admit(key, 1), true);
  now += 3000;
  assert.equal(await b.admit(key, 1), false);
  now += 1;
  assert.equal(await b.admit(key, 1), true);
  assert.deepEqual((await new DynamoSlotLedger(dynamo.client, TABLE).read(key)).holders, { b: { n: 1, beat: now } });
});

test('a count removed by its TTL while this process held no slot is made again at the next login', async () => {
  const key = 'task#t-ttl/concurrentSessions';
  const a = new SessionSlots(new DynamoSlotLedger(dynamo.client, TABLE), { holder: 'a', staleMs: 60_000 });
  assert.equal(await a.admit(key, 1), true);
  await a.release(key);
  await dynamo.client.send(new DeleteItemCommand({ TableName: TABLE, Key: { requestId: { S: `budget#${key}` } } }));
  assert.equal(await a.admit(key, 1), true);
  assert.equal((await new DynamoSlotLedger(dynamo.client, TABLE).read(key)).total, 1);
});

test('every conditional write agrees with the reference transitions, step for step', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({ op: fc.constantFrom('take', 'give', 'beat', 'reclaim'), holder: fc.constantFrom('a', 'b'), n: fc.nat(3), beat: fc.nat(3), limit: fc.nat(3) }),
        { maxLength: 12 },
      ),
      async (steps) => {
        const key = `task#ref-${run++}/concurrentSessions`;
        const ref = new LocalSlotLedger();
        const db = new DynamoSlotLedger(dynamo.client, TABLE);
        for (const s of steps) {
          const apply = (l: LocalSlotLedger | DynamoSlotLedger) =>
            s.op === 'take' ? l.take(key, s.limit, s.holder, s.n, s.beat) : s.op === 'give' ? l.give(key, s.holder, s.n, s.beat) : s.op === 'beat' ? l.beat(key, s.holder, s.n, s.beat) : l.reclaim(key, s.holder, { n: s.n, beat: s.beat });
          assert.equal(await apply(db), await apply(ref), JSON.stringify(s));
          assert.deepEqual(await db.read(key), await ref.read(key));
        }
      },
    ),
    { numRuns: 40 },
  );
});
