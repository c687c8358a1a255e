// The fleet's budget counts in the approvals table (items `budget#<key>`, attribute `used`), beside
// tasks and kill orders. A lease is one conditional UpdateItem (`ADD used :n` only while
// `used ≤ limit − n`), so concurrent proxy tasks can never together be granted more than the limit;
// the lease arithmetic is core/task/lease.ts. What tasks did (`budget#usage#…`) is added unconditionally.
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { BudgetLedger } from '../../../../core/task/lease.js';
import { RECORD_RETENTION_SECONDS } from './approval-dynamo-store.js';

/** The key prefix the fleet's IAM grant names (lib/approval-workflow.ts). */
export const BUDGET_KEY_PREFIX = 'budget#';

export class DynamoBudgetLedger implements BudgetLedger {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async lease(key: string, limit: number, n: number): Promise<boolean> {
    if (n > limit) return false;
    try {
      await this.#add(key, n, { expression: 'attribute_not_exists(#used) OR #used <= :max', values: { ':max': limit - n } });
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  async used(key: string): Promise<number> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { requestId: BUDGET_KEY_PREFIX + key }, ConsistentRead: true }));
    return Number(out.Item?.used ?? 0);
  }

  /** A usage count (no limit): one UpdateItem, under the same key prefix as the budgets (same IAM grant). */
  async add(key: string, n: number): Promise<void> {
    if (n !== 0) await this.#add(key, n);
  }

  /** `ADD used :n` to the key's count, only where `condition` holds. */
  async #add(key: string, n: number, condition?: { expression: string; values: Record<string, number> }): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { requestId: BUDGET_KEY_PREFIX + key },
        // A count outlives its task or window by the retention of every other record.
        UpdateExpression: 'ADD #used :n SET #ttl = :ttl',
        ...(condition ? { ConditionExpression: condition.expression } : {}),
        ExpressionAttributeNames: { '#used': 'used', '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':n': n, ':ttl': Math.ceil(this.now() / 1000) + RECORD_RETENTION_SECONDS, ...condition?.values },
      }),
    );
  }

  async giveBack(key: string, n: number): Promise<void> {
    if (n <= 0) return;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { requestId: BUDGET_KEY_PREFIX + key },
          UpdateExpression: 'ADD #used :neg',
          ConditionExpression: '#used >= :n',
          ExpressionAttributeNames: { '#used': 'used' },
          ExpressionAttributeValues: { ':neg': -n, ':n': n },
        }),
      );
    } catch (err) {
      // Best effort: a count that cannot be lowered leaves the fleet under-spending, never over.
      if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
    }
  }
}
