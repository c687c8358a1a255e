// ApprovalStore on DynamoDB (table: partition key `requestId` (S), TTL attribute `ttl`).
// Requests and standing grants share the table; grant keys start with `grant#`.
// Used by the proxy and by the approval Lambdas, so the record format has one owner.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isHeldLive } from '../../../../core/approval/index.js';
import type { ApprovalRecord, ApprovalStore, HeldRequest, Settlement, StandingGrant } from '../../../../core/approval/index.js';

/** Settled requests stay readable this long for auditors and slow pollers, then TTL removes them. */
export const RECORD_RETENTION_SECONDS = 7 * 24 * 3600;

/** Attributes that are the table's business, not the record's. */
const STORAGE_ONLY = new Set(['requestId', 'kind', 'ttl', 'taskToken', 'notifiedAt', 'notifiedToken', 'executionArn']);

export class DynamoApprovalStore implements ApprovalStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  private static toRecord(item: Record<string, unknown> | undefined): ApprovalRecord | undefined {
    if (!item || item.kind !== 'request') return undefined;
    const record: Record<string, unknown> = { id: item.requestId };
    for (const [k, v] of Object.entries(item)) if (!STORAGE_ONLY.has(k)) record[k] = v;
    return record as unknown as ApprovalRecord;
  }

  async create(record: ApprovalRecord): Promise<void> {
    const { id, ...rest } = record;
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { requestId: id, kind: 'request', ...rest, ttl: Math.ceil(record.expiresAt / 1000) + RECORD_RETENTION_SECONDS },
        ConditionExpression: 'attribute_not_exists(requestId)',
      }),
    );
  }

  private async item(id: string): Promise<Record<string, unknown> | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { requestId: id }, ConsistentRead: true }));
    return out.Item;
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    return DynamoApprovalStore.toRecord(await this.item(id));
  }

  /** A scan: fine for the handful of pending requests an operator lists, not for a hot path. */
  async listPending(): Promise<ApprovalRecord[]> {
    const records: ApprovalRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: '#kind = :request AND #state = :pending',
          ExpressionAttributeNames: { '#kind': 'kind', '#state': 'state' },
          ExpressionAttributeValues: { ':request': 'request', ':pending': 'pending' },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const r = DynamoApprovalStore.toRecord(item);
        if (r) records.push(r);
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return records;
  }

  async settle(id: string, settlement: Settlement): Promise<{ won: boolean; record: ApprovalRecord | undefined }> {
    const names: Record<string, string> = { '#state': 'state', '#kind': 'kind' };
    const values: Record<string, unknown> = { ':pending': 'pending', ':request': 'request' };
    const sets: string[] = [];
    for (const [k, v] of Object.entries(settlement)) {
      if (v === undefined) continue;
      names[`#${k}`] = k;
      values[`:${k}`] = v;
      sets.push(`#${k} = :${k}`);
    }
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { requestId: id },
          UpdateExpression: `SET ${sets.join(', ')}`,
          // First decision wins: only a pending request can be settled.
          ConditionExpression: '#kind = :request AND #state = :pending',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { won: true, record: DynamoApprovalStore.toRecord(out.Attributes) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) && (error as Error).name !== 'ConditionalCheckFailedException') throw error;
      return { won: false, record: await this.get(id) };
    }
  }

  async putGrant(grant: StandingGrant): Promise<void> {
    const { key, ...rest } = grant;
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { requestId: key, kind: 'grant', ...rest, ttl: Math.ceil(grant.expiresAt / 1000) } }));
  }

  async getGrant(key: string): Promise<StandingGrant | undefined> {
    const item = await this.item(key);
    if (!item || item.kind !== 'grant') return undefined;
    return { key, scope: item.scope as StandingGrant['scope'], approvalId: String(item.approvalId), reviewer: String(item.reviewer), expiresAt: Number(item.expiresAt) };
  }

  // ---- held requests (issue 30): kind "held", keyed by the request identity's UUID-shaped digest ----
  // Only attributes the fleet may write to its own items (state, decidedAt) change after the put.

  private static toHeld(item: Record<string, unknown> | undefined): HeldRequest | undefined {
    if (!item || item.kind !== 'held') return undefined;
    const h: HeldRequest = { key: String(item.requestId), approvalId: String(item.approvalId), requestId: String(item.heldRequestId), reviewUrl: String(item.reviewUrl ?? ''), expiresAt: Number(item.expiresAt) };
    if (item.state === 'used') h.usedAt = Number(item.decidedAt);
    return h;
  }

  async holdRequest(h: HeldRequest, now: number): Promise<{ won: boolean; current: HeldRequest | undefined }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { requestId: h.key, kind: 'held', state: 'waiting', approvalId: h.approvalId, heldRequestId: h.requestId, reviewUrl: h.reviewUrl, expiresAt: h.expiresAt, ttl: Math.ceil(h.expiresAt / 1000) + 3600 },
          // A held record is replaced only once it can no longer be used: used, or past its approval's life.
          ConditionExpression: 'attribute_not_exists(requestId) OR (#kind = :held AND (#state = :used OR expiresAt <= :now))',
          ExpressionAttributeNames: { '#kind': 'kind', '#state': 'state' },
          ExpressionAttributeValues: { ':held': 'held', ':used': 'used', ':now': now },
        }),
      );
      return { won: true, current: h };
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      const current = await this.getHeld(h.key);
      return { won: false, current: isHeldLive(current, now) ? current : undefined };
    }
  }

  async getHeld(key: string): Promise<HeldRequest | undefined> {
    return DynamoApprovalStore.toHeld(await this.item(key));
  }

  async useHeld(key: string, approvalId: string, now: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { requestId: key },
          UpdateExpression: 'SET #state = :used, decidedAt = :now',
          ConditionExpression: '#kind = :held AND #state = :waiting AND approvalId = :a',
          ExpressionAttributeNames: { '#kind': 'kind', '#state': 'state' },
          ExpressionAttributeValues: { ':held': 'held', ':used': 'used', ':waiting': 'waiting', ':a': approvalId, ':now': now },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  // ---- workflow bookkeeping (AWS only) ----

  /** Stores the Step Functions task token server-side; it never leaves the table (no URL carries it). */
  async recordTaskToken(id: string, taskToken: string): Promise<ApprovalRecord | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { requestId: id },
          UpdateExpression: 'SET taskToken = :t',
          ConditionExpression: 'attribute_exists(requestId)',
          ExpressionAttributeValues: { ':t': taskToken },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return DynamoApprovalStore.toRecord(out.Attributes);
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw error;
    }
  }

  async taskToken(id: string): Promise<string | undefined> {
    const item = await this.item(id);
    return typeof item?.taskToken === 'string' ? item.taskToken : undefined;
  }

  /**
   * Claims the right to notify reviewers for this task token, so a retried notifier does not
   * page everyone twice. Returns false when this token was already claimed.
   */
  async claimNotification(id: string, taskToken: string, now: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { requestId: id },
          UpdateExpression: 'SET notifiedAt = :now, notifiedToken = :t',
          ConditionExpression: 'attribute_exists(requestId) AND (attribute_not_exists(notifiedToken) OR notifiedToken <> :t)',
          ExpressionAttributeValues: { ':now': now, ':t': taskToken },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  /** Gives a claim back after notifying failed, so the retry notifies. */
  async releaseNotification(id: string): Promise<void> {
    await this.doc.send(new UpdateCommand({ TableName: this.tableName, Key: { requestId: id }, UpdateExpression: 'REMOVE notifiedAt, notifiedToken' }));
  }

  async recordExecution(id: string, executionArn: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({ TableName: this.tableName, Key: { requestId: id }, UpdateExpression: 'SET executionArn = :a', ExpressionAttributeValues: { ':a': executionArn } }),
    );
  }
}
