// Local AWS-compatible servers for tests, each on a random loopback port: dynalite (DynamoDB) and
// s3rver (S3), with SDK clients pointed at them. Tests create their own tables and buckets. Step
// Functions has no local server: a stand-in answers the two calls a gateway makes.
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
