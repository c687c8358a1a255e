// An `eks` credential: every upstream request carries a token from the gateway's EKS token source
// (adapters/aws/eks-token.ts, signed by the task role), which the agent must never see; without a
// token source the target fails closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKubeTarget } from '../../fargate-proxy/src/protocols/kubernetes/target.js';
import { kubernetesTargetSchema } from '../../fargate-proxy/src/protocols/kubernetes/config.js';
import { eksToken, EKS_TOKEN_PREFIX } from '../../fargate-proxy/src/adapters/aws/eks-token.js';
import type { SecretStore } from '../../fargate-proxy/src/ports/secrets.js';

const noSecrets = { get: () => Promise.reject(new Error('an eks target reads no secret')) } as unknown as SecretStore;
const cfg = kubernetesTargetSchema.parse({ name: 'prod-eu', kind: 'kubernetes', server: 'https://abcd.gr7.eu-west-1.eks.amazonaws.com', credential: { type: 'eks', clusterName: 'prod-eu', region: 'eu-west-1' } });
const agent = { id: 'agent-1', groups: ['agents'], issuer: 'https://issuer' };

test("an eks target sends the token source's token as bearer and lists it as revealing", async () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  const asked: string[] = [];
  const target = createKubeTarget(cfg, noSecrets, (c) => {
    asked.push(`${c.clusterName}@${c.region}`);
    return () => eksToken({ clusterName: c.clusterName, region: c.region!, credentials });
  });
  const cred = await target.credential(agent);
  const bearer = String(cred.headers.authorization);
  assert.ok(bearer.startsWith(`Bearer ${EKS_TOKEN_PREFIX}`));
  const url = new URL(Buffer.from(bearer.slice(`Bearer ${EKS_TOKEN_PREFIX}`.length), 'base64url').toString('utf8'));
  assert.equal(url.host, 'sts.eu-west-1.amazonaws.com');
  assert.match(url.searchParams.get('X-Amz-SignedHeaders') ?? '', /x-k8s-aws-id/);
  assert.deepEqual(cred.revealing, [bearer.slice('Bearer '.length)]);
  assert.deepEqual(asked, ['prod-eu@eu-west-1']);
  await target.close();
});

test('an eks target without a token source refuses to present any identity', async () => {
  const target = createKubeTarget(cfg, noSecrets);
  await assert.rejects(target.credential(agent), /eks credential needs the AWS token source/);
  await target.close();
});
