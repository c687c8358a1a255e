// FleetMembership on DynamoDB (table: partition key `tag` (N), TTL attribute `ttl`). Each live task
// claims a random free tag with a conditional put, renews it by heartbeat, and gives it back on
// close. A task that stops heartbeating (crash, kill -9) loses its tag after `expireSeconds`, when
// another task may claim it; its sessions died with it, so nothing is misrouted.
import { randomInt, randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Logger } from 'pino';
import { MAX_FLEET_TAG, type FleetEndpoint, type FleetMembership } from '../../ports/fleet.js';

export interface FleetRegistryOptions {
  client: DynamoDBClient;
  table: string;
  /** The address other tasks reach this one at (its private IP in the VPC). */
  host: string;
  /** Shown to operators reading the table (the ECS task ARN when known). */
  taskLabel?: string;
  heartbeatMs: number;
  expireMs: number;
  log: Logger;
}

const CLAIM_ATTEMPTS = 32;

export async function joinFleet(opts: FleetRegistryOptions): Promise<FleetMembership> {
  const doc = DynamoDBDocumentClient.from(opts.client, { marshallOptions: { removeUndefinedValues: true } });
  const taskId = randomUUID();
  let postgresPort: number | undefined;
  const item = (tag: number) => {
    const expiresAt = Date.now() + opts.expireMs;
    return { tag, taskId, task: opts.taskLabel, host: opts.host, postgresPort, expiresAt, ttl: Math.ceil(expiresAt / 1000) + 3600 };
  };

  let tag = 0;
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS && tag === 0; attempt++) {
    const candidate = randomInt(1, MAX_FLEET_TAG + 1);
    try {
      await doc.send(
        new PutCommand({
          TableName: opts.table,
          Item: item(candidate),
          // Free, or held by a task that stopped heartbeating.
          ConditionExpression: 'attribute_not_exists(tag) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': Date.now() },
        }),
      );
      tag = candidate;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
  if (tag === 0) throw new Error(`no free fleet tag after ${CLAIM_ATTEMPTS} attempts (more than ${MAX_FLEET_TAG} live tasks?)`);
  opts.log.info({ tag, host: opts.host }, 'joined the fleet registry');

  const renew = async (strict = false) => {
    try {
      await doc.send(
        new PutCommand({
          TableName: opts.table,
          Item: item(tag),
          ConditionExpression: 'attribute_not_exists(tag) OR taskId = :me',
          ExpressionAttributeValues: { ':me': taskId },
        }),
      );
    } catch (err) {
      if (strict) throw err;
      // Another task took the tag while this one could not heartbeat: cancels for this task's
      // sessions now reach that task, which knows none of them, and are dropped.
      const lost = err instanceof ConditionalCheckFailedException;
      opts.log.error({ tag, error: (err as Error).message }, lost ? 'fleet tag taken by another task: cross-task cancels to this task are lost' : 'fleet heartbeat failed');
    }
  };
  const timer = setInterval(() => void renew(), opts.heartbeatMs);
  timer.unref();

  return {
    tag,
    async postgresEndpointOf(wanted: number): Promise<FleetEndpoint | undefined> {
      const out = await doc.send(new GetCommand({ TableName: opts.table, Key: { tag: wanted }, ConsistentRead: true }));
      const found = out.Item as { host?: string; postgresPort?: number; expiresAt?: number } | undefined;
      if (!found || typeof found.host !== 'string' || typeof found.postgresPort !== 'number') return undefined;
      if ((found.expiresAt ?? 0) < Date.now()) return undefined;
      if (found.host === opts.host && found.postgresPort === postgresPort) return undefined;
      return { host: found.host, port: found.postgresPort };
    },
    async advertisePostgres(port: number) {
      postgresPort = port;
      await renew(true);
    },
    async close() {
      clearInterval(timer);
      await doc
        .send(new DeleteCommand({ TableName: opts.table, Key: { tag }, ConditionExpression: 'taskId = :me', ExpressionAttributeValues: { ':me': taskId } }))
        .catch(() => undefined); // already taken over, or unreachable: it expires on its own
    },
  };
}
