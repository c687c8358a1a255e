// Each detector on valid and invalid examples, through the public findSensitive().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findSensitive, type DetectorName } from '../../core/mask/index.js';

const all = (): boolean => true;

/** Detected values as "detector:text", in order. */
function found(text: string): string[] {
  return findSensitive(text, all).map((f) => `${f.detector}:${text.slice(f.start, f.end)}`);
}

function assertFinds(detector: DetectorName, examples: [text: string, value: string][]): void {
  for (const [text, value] of examples) assert.deepEqual(found(text), [`${detector}:${value}`], text);
}

function assertKeeps(examples: string[]): void {
  for (const text of examples) assert.deepEqual(found(text), [], text);
}

test('card: issuer range + Luhn, whole or grouped by one separator', () => {
  assertFinds('card', [
    ['4111111111111111', '4111111111111111'],
    ['paid with 4111 1111 1111 1111.', '4111 1111 1111 1111'],
    ['5555-5555-5555-4444', '5555-5555-5555-4444'],
    ['amex 3782 822463 10005 ok', '3782 822463 10005'],
    ['2223000048400011', '2223000048400011'],
    ['{"pan":"6011000990139424"}', '6011000990139424'],
    ['3530111333300000', '3530111333300000'],
    ['card 4111 1111 1111 1111 12 29', '4111 1111 1111 1111'],
  ]);
  assertKeeps([
    '4111111111111112', // Luhn-invalid
    '4111-1111 1111-1111', // mixed separators
    '9111111111111111111', // no issuer
    '1234567812345670', // Luhn-valid but issuer 1
    '4111111111111111abc', // glued to letters
    'id-4111111111111111', // glued to an identifier
    '4111.1111.1111.1111', // dots: version-like
    '9400 4111 1111 1111 1111 22', // slice of a longer grouped number
  ]);
});

test('ssn: AAA-GG-SSSS with valid area/group/serial; bare 9 digits only with context', () => {
  assertFinds('ssn', [
    ['SSN 078-05-1121', '078-05-1121'],
    ['536 90 4399', '536 90 4399'],
    ['ssn: 219099999', '219099999'],
    ['{"social security":"219-09-9999"}', '219-09-9999'],
  ]);
  assertKeeps(['000-12-3456', '666-12-3456', '900-12-3456', '123-00-4567', '123-45-0000', '219099999', '123-45-6789-10', '12-345-6789']);
});

test('email: local@domain with a real TLD, inside prose and JSON', () => {
  assertFinds('email', [
    ['mail jane.doe@example.com.', 'jane.doe@example.com'],
    ['{"to":"ops+alerts@corp.example.co.uk"}', 'ops+alerts@corp.example.co.uk'],
    ['<x_y-z@sub-domain.example.io>', 'x_y-z@sub-domain.example.io'],
  ]);
  assertKeeps(['icon@2x.png', 'postgres@localhost', '@mention', 'a@b', 'user@-bad.com', 'ssh://git@github.com/org/repo']);
});

test('phone: E.164, North American and trunk-prefix national formats', () => {
  assertFinds('phone', [
    ['call (415) 555-2671', '(415) 555-2671'],
    ['415-555-2671', '415-555-2671'],
    ['415.555.2671', '415.555.2671'],
    ['+1 415 555 2671', '+1 415 555 2671'],
    ['sms +14155552671', '+14155552671'],
    ['1-415-555-2671', '1-415-555-2671'],
    ['+44 20 7946 0958', '+44 20 7946 0958'],
    ['office 020 7946 0958', '020 7946 0958'],
    ['mobile 07700 900123', '07700 900123'],
    ['01 23 45 67 89', '01 23 45 67 89'],
    ['+49 (0)30 12345678', '+49 (0)30 12345678'],
    ['tel: 4155552671', '4155552671'],
  ]);
  assertKeeps([
    '2024-01-15 10:30:00', '01.02.2024 10:30', '12/25/2024', '192.168.100.200', '10.0.0.1:5432', 'v1.2.3', '1.415.555.2671.3',
    '$1,234,567.89', '+1234567.89', '+12.5%', '4155552671', '415-555-2671-99', '115-555-2671', '1700000000000', '9400 1000 0341 0576 30',
  ]);
});

test('iban: country length + mod-97, electronic and printed', () => {
  assertFinds('iban', [
    ['DE89370400440532013000', 'DE89370400440532013000'],
    ['IBAN GB82 WEST 1234 5698 7654 32.', 'GB82 WEST 1234 5698 7654 32'],
    ['{"iban":"NL91ABNA0417164300"}', 'NL91ABNA0417164300'],
  ]);
  assertKeeps(['DE89370400440532013001', 'GB82WEST1234569876543', 'ZZ89370400440532013000', 'XDE89370400440532013000']);
});

test('vendor tokens: AWS key ids, GitHub, GitLab, Slack, Stripe, OpenAI-style', () => {
  const cases: [DetectorName, string][] = [
    ['aws_access_key', 'AKIAIOSFODNN7EXAMPLE'],
    ['aws_access_key', 'ASIAY34FZKBOKMUTVV7A'],
    ['github_token', 'ghp_1234567890abcdefghijklmnopqrstuvwxyZ'],
    ['github_token', 'github_pat_11ABCDEFG0123456789abc_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW'],
    ['gitlab_token', 'glpat-Abc123_def456-GHI789x'],
    ['slack_token', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'],
    ['stripe_key', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
    ['stripe_key', 'rk_live_4eC39HqLyjWDarjtT1zdp7dc'],
    ['openai_key', 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Ab3dEf6hIj9kLm'],
    ['openai_key', 'sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb3dEf6hIj9kLm'],
  ];
  for (const [detector, value] of cases) {
    assertFinds(detector, [[value, value], [`x ${value} y`, value], [`{"k":"${value}"}`, value]]);
  }
  assertKeeps([
    'AKIAIOSFODNN7EXAMPL', // too short
    'XAKIAIOSFODNN7EXAMPLE', // glued
    'ghp_short',
    'sk-my-very-long-article-title-goes-here', // slug, not a key
    'pk_live_4eC39HqLyjWDarjtT1zdp7dc', // publishable, not secret
  ]);
});

test('aws secret key: 40 chars only with context', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  assertFinds('aws_secret_key', [
    [`aws_secret_access_key = ${secret}`, secret],
    [`{"SecretAccessKey":"${secret}"}`, secret],
  ]);
  assert.deepEqual(found(`AKIAIOSFODNN7EXAMPLE ${secret}`), ['aws_access_key:AKIAIOSFODNN7EXAMPLE', `aws_secret_key:${secret}`]);
  assertKeeps([secret, 'aws_secret_sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709']);
});

test('jwt: three base64url segments with a JSON header naming alg', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
  assertFinds('jwt', [[jwt, jwt], [`{"access_token":"${jwt}"}`, jwt], ['eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']]);
  assertKeeps(['eyJub3QganNvbg.abc.def', 'eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.sig']); // not JSON / JSON without alg
});

test('private key: PEM blocks, also escaped inside JSON and truncated', () => {
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
  assertFinds('private_key', [[`key:\n${pem}\n`, pem]]);
  const escaped = pem.replaceAll('\n', '\\n');
  assertFinds('private_key', [[`{"k":"${escaped}"}`, escaped]]);
  assertFinds('private_key', [['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz']]);
  assertKeeps(['-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----']);
});

test('connection strings: only the password', () => {
  assertFinds('connection_password', [
    ['postgres://app:Tr0ub4dor&3@db:5432/prod', 'Tr0ub4dor&3'],
    ['mongodb+srv://svc:p@ss:word@cluster0.example.net/db', 'p@ss:word'],
    ['"redis://:hunter2@cache:6379/0"', 'hunter2'],
  ]);
  assertKeeps(['postgres://app@db:5432/prod', 'https://example.com/a:b', 'postgres://db:5432/prod']);
});

test('secret assignments: key=value, key: value, JSON, escaped JSON, Authorization headers', () => {
  assertFinds('secret_assignment', [
    ['password=hunter2 user=bob', 'hunter2'],
    ['DB_PASSWORD: "s3cr3t value"', 's3cr3t value'],
    ["client_secret = 'x-9_y'", 'x-9_y'],
    ['{"apiKey": "live-7Hq2-x9Lp", "region": "eu"}', 'live-7Hq2-x9Lp'],
    ['{"c":"{\\"password\\":\\"s3cr3t!\\"}"}', 's3cr3t!'],
    ['PGPASSWORD=Zq9-vv_81 psql', 'Zq9-vv_81'],
    ['Authorization: Bearer abc.def-ghi', 'abc.def-ghi'],
    ['Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'YWxhZGRpbjpvcGVuc2VzYW1l'],
    ["{'token': 'abc123'}", 'abc123'],
  ]);
  assertKeeps([
    '{"token_type": "bearer", "max_tokens": 4096}',
    'password_changed_at=2024-01-01',
    'password=${DB_PASSWORD} token: null secret=""',
    'PWD=/home/app',
    'if password == other',
    'the password is wrong',
  ]);
});

test('disabled detectors find nothing', () => {
  assert.deepEqual(findSensitive('mail jane@example.com', (d) => d !== 'email'), []);
});
