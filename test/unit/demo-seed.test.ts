// The demo data generator: deterministic, Luhn-valid cards, reserved domains and phone ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoSeed, luhnCheckDigit, luhnValid, DEMO_COUNTS } from '../../fargate-proxy/src/demo/seed.js';

test('the same seed gives the same data, another seed different data', () => {
  assert.equal(demoSeed(7).sql, demoSeed(7).sql);
  assert.notEqual(demoSeed(7).sql, demoSeed(8).sql);
});

test('Luhn check digits match the published test card numbers', () => {
  assert.equal(luhnCheckDigit('411111111111111'), 1);
  assert.ok(luhnValid('4111 1111 1111 1111'));
  assert.ok(luhnValid('378282246310005'));
  assert.ok(!luhnValid('4111111111111112'));
});

test('customers carry realistic but reserved contact data and valid test cards', () => {
  const { customers } = demoSeed();
  assert.equal(customers.length, DEMO_COUNTS.customers);
  for (const c of customers) {
    assert.ok(luhnValid(c.cardNumber), c.cardNumber);
    assert.match(c.email, /^[a-z0-9.]+@example\.(com|org|net)$/);
    assert.match(c.phone, /^\+1-\d{3}-555-01\d{2}$/);
    assert.match(c.ssn, /^(?!000|666)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$/);
  }
});
