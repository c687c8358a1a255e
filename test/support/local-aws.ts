// Local AWS-compatible servers for tests, each on a random loopback port: dynalite (DynamoDB) and
// s3rver (S3), with SDK clients pointed at them. Tests create their own tables and buckets. Step
// Functions has no local server: a stand-in answers the two calls a gateway makes.
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (o: { createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server;
const S3rver = require('s3rver') as new (o: object) => { run(): Promise<AddressInfo>; close(): Promise<void> };

/** s3rver accepts only these; dynalite accepts anything. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const LOCAL_REGION = 'us-east-1';

export interface LocalDynamo {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  return {
    endpoint,
    client,
    async stop() {
      client.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export interface LocalS3 {
  endpoint: string;
  client: S3Client;
  /** Closes the server; gives up waiting after `waitMs` (an SDK keep-alive connection can hold it open). */
  stop(waitMs?: number): Promise<void>;
}

/** `directory`: where s3rver keeps the buckets; the caller removes it. */
export async function startLocalS3(directory: string): Promise<LocalS3> {
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({ endpoint, region: LOCAL_REGION, forcePathStyle: true, credentials: LOCAL_CREDENTIALS });
  return {
    endpoint,
    client,
    async stop(waitMs = 5000) {
      client.destroy();
      await Promise.race([server.close(), new Promise((r) => setTimeout(r, waitMs).unref())]);
    },
  };
}

/** The approvals table the stack creates (key `requestId`): approval requests, tasks, kill orders, budget counts. */
export async function createApprovalsTable(dynamo: LocalDynamo, name: string): Promise<void> {
  await dynamo.client.send(new CreateTableCommand({ TableName: name, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'requestId', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }] }));
}

/** The fleet table the stack creates (key `tag`): which proxy task holds which cancel key. */
export async function createFleetTable(dynamo: LocalDynamo, name: string): Promise<void> {
  await dynamo.client.send(new CreateTableCommand({ TableName: name, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'tag', AttributeType: 'N' }], KeySchema: [{ AttributeName: 'tag', KeyType: 'HASH' }] }));
}

/** The environment a gateway process builds its AWS clients from (as in ECS), pointed at these servers. */
export function localAwsEnv(endpoints: { dynamodb?: string; sfn?: string; s3?: string }): Record<string, string> {
  return {
    ...(endpoints.dynamodb ? { AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb } : {}),
    ...(endpoints.sfn ? { AWS_ENDPOINT_URL_SFN: endpoints.sfn } : {}),
    ...(endpoints.s3 ? { AWS_ENDPOINT_URL_S3: endpoints.s3 } : {}),
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  };
}

/** The approvals config of a fleet on the Step Functions backend (the stand-in answers its calls). */
export function stepFunctionsApprovals(tableName: string, timeoutSeconds = 120) {
  return { reviewerGroups: ['reviewers'], timeoutSeconds, backend: 'stepfunctions' as const, stepFunctions: { tableName, stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:approvals' } };
}
