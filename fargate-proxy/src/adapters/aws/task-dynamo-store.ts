// Tasks and kill-switch orders in the approvals table, which every proxy task of the fleet already
// reads (items `task#<id>` and `kill#<principal>#<at>`, beside the approval requests, which the
// approval Lambdas select by `kind = request`). A task opened through one proxy task is verified by
// any other; closing it, its expiry, or a kill order reaches every task at its next poll.
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { TaskStore } from '../../../../core/task/service.js';
import type { Task, TaskStatus } from '../../../../core/task/types.js';
import { RECORD_RETENTION_SECONDS } from './approval-dynamo-store.js';

export interface KillOrder {
  principalId: string;
  by: string;
  reason: string;
  at: number;
}

/** What the fleet shares besides tasks: kill orders, read by every proxy task since its last poll. */
export interface KillOrders {
  publish(order: KillOrder): Promise<void>;
  since(at: number): Promise<KillOrder[]>;
}

export class DynamoTaskStore implements TaskStore, KillOrders {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(id: string): Promise<Task | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { requestId: `task#${id}` }, ConsistentRead: true }));
    return out.Item?.kind === 'task' ? (JSON.parse(String(out.Item.task)) as Task) : undefined;
  }

  async put(task: Task): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: this.#item(task) }));
  }

  /** One conditional PutItem: the stored `status` must still be one of `from` (else another proxy task won). */
  async transition(task: Task, from: readonly TaskStatus[]): Promise<boolean> {
    const values = Object.fromEntries(from.map((s, i) => [`:from${i}`, s]));
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.#item(task),
          ConditionExpression: `#kind = :task AND #status IN (${Object.keys(values).join(', ')})`,
          ExpressionAttributeNames: { '#kind': 'kind', '#status': 'status' },
          ExpressionAttributeValues: { ':task': 'task', ...values },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  #item(task: Task): Record<string, unknown> {
    const until = Math.ceil((task.expiresAt ?? task.createdAt + task.durationSeconds * 1000) / 1000);
    // The record as one JSON string: its shape is the domain's, not the table's.
    return { requestId: `task#${task.id}`, kind: 'task', status: task.status, principalId: task.principalId, task: JSON.stringify(task), ttl: until + RECORD_RETENTION_SECONDS };
  }

  /** A scan: for operators listing tasks, not for a hot path. */
  async list(): Promise<Task[]> {
    return (await this.#scan('task')).map((i) => JSON.parse(String(i.task)) as Task);
  }

  async publish(order: KillOrder): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { requestId: `kill#${order.principalId}#${order.at}`, kind: 'kill', ...order, ttl: Math.ceil(order.at / 1000) + RECORD_RETENTION_SECONDS },
      }),
    );
  }

  async since(at: number): Promise<KillOrder[]> {
    return (await this.#scan('kill', at)).map((i) => ({ principalId: String(i.principalId), by: String(i.by), reason: String(i.reason), at: Number(i.at) }));
  }

  async #scan(kind: 'task' | 'kill', after?: number): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: after === undefined ? '#kind = :kind' : '#kind = :kind AND #at > :after',
          ExpressionAttributeNames: { '#kind': 'kind', ...(after === undefined ? {} : { '#at': 'at' }) },
          ExpressionAttributeValues: { ':kind': kind, ...(after === undefined ? {} : { ':after': after }) },
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
