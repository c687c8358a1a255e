// The review page finds the reviewers' Cognito app client by name: one SigV4-signed
// ListUserPoolClients call per page of results, against a stand-in of the Cognito JSON API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cognitoClientId } from '../../lambdas/shared/cognito-client-id.js';

test('the reviewers\' client id is found by name across pages, with a signed ListUserPoolClients, then cached', async () => {
  const calls: { target: string; auth: string; body: { UserPoolId: string; NextToken?: string } }[] = [];
  const server = createServer(async (req, res) => {
    let raw = '';
    for await (const c of req as AsyncIterable<Buffer>) raw += c.toString();
    const body = JSON.parse(raw) as { UserPoolId: string; NextToken?: string };
    calls.push({ target: String(req.headers['x-amz-target']), auth: String(req.headers.authorization), body });
    res.setHeader('content-type', 'application/x-amz-json-1.1');
    res.end(JSON.stringify(body.NextToken
      ? { UserPoolClients: [{ ClientId: 'rev123', ClientName: 'airlock-reviewers' }] }
      : { UserPoolClients: [{ ClientId: 'ag456', ClientName: 'airlock-agents' }], NextToken: 'page-2' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const lookup = cognitoClientId({
      userPoolId: 'eu-west-1_AbCdEf123',
      clientName: 'airlock-reviewers',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    });
    assert.equal(await lookup(), 'rev123');
    assert.equal(await lookup(), 'rev123');
    assert.equal(calls.length, 2, 'two pages, then the answer is kept');
    for (const c of calls) {
      assert.equal(c.target, 'AWSCognitoIdentityProviderService.ListUserPoolClients');
      assert.match(c.auth, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/cognito-idp\/aws4_request, SignedHeaders=\S*x-amz-target\S*, Signature=[0-9a-f]{64}$/);
      assert.equal(c.body.UserPoolId, 'eu-west-1_AbCdEf123');
    }
    assert.equal(calls[1]!.body.NextToken, 'page-2');

    const missing = cognitoClientId({ userPoolId: 'p', clientName: 'nobody', region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` });
    await assert.rejects(missing(), /no app client named nobody/);
  } finally {
    server.close();
  }
});
