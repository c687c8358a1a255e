// The fleet's concurrent-session counts in the approvals table (items `budget#<key>`, attributes
// `total` and `holders`: a map of proxy process → {n, beat}), beside the leased budget counts. Every
// transition of core/task/slots.ts is one conditional UpdateItem stating the same condition, so no
// interleaving of proxy tasks admits more than the limit and a reclaim never removes an entry that
// heartbeat since it was read.
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import type { SlotCount, SlotEntry, SlotLedger } from '../../../../core/task/slots.js';
import { RECORD_RETENTION_SECONDS } from './approval-dynamo-store.js';
import { BUDGET_KEY_PREFIX } from './budget-dynamo-ledger.js';

const NAMES = { '#total': 'total', '#hs': 'holders', '#h': '', '#n': 'n', '#b': 'beat', '#ttl': 'ttl' };

export class DynamoSlotLedger implements SlotLedger {
  private readonly doc: DynamoDBDocumentClient;
  /** Keys whose item (with its empty holders map) this process already made sure of. */
  private readonly created = new Set<string>();

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async read(key: string): Promise<SlotCount> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { requestId: BUDGET_KEY_PREFIX + key }, ConsistentRead: true }));
    const holders: Record<string, SlotEntry> = {};
    for (const [h, e] of Object.entries((out.Item?.holders ?? {}) as Record<string, { n?: unknown; beat?: unknown }>)) holders[h] = { n: Number(e.n ?? 0), beat: Number(e.beat ?? 0) };
    return { total: Number(out.Item?.total ?? 0), holders };
  }

  async take(key: string, limit: number, holder: string, prev: number, beat: number): Promise<boolean> {
    if (prev === 0) await this.#create(key);
    const taken = await this.#update(key, holder, {
      // A count in use is kept past the retention of other records (an agent's has no end).
      UpdateExpression: 'SET #total = #total + :one, #hs.#h = :entry, #ttl = :ttl',
      ConditionExpression: `#total < :limit AND ${prev === 0 ? 'attribute_not_exists(#hs.#h)' : '#hs.#h.#n = :prev'}`,
      ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':entry': { n: prev + 1, beat }, ':ttl': this.#ttl(), ...(prev === 0 ? {} : { ':prev': prev }) },
    });
    // Refused: the count may be full — or gone (expired while this process held no slot): made sure of again next time.
    if (!taken && prev === 0) this.created.delete(key);
    return taken;
  }

  async give(key: string, holder: string, prev: number, beat: number): Promise<boolean> {
    if (prev <= 0) return false;
    return this.#update(key, holder, {
      UpdateExpression: prev === 1 ? 'SET #total = #total - :one REMOVE #hs.#h' : 'SET #total = #total - :one, #hs.#h = :entry',
      ConditionExpression: '#hs.#h.#n = :prev',
      ExpressionAttributeValues: { ':one': 1, ':prev': prev, ...(prev === 1 ? {} : { ':entry': { n: prev - 1, beat } }) },
    });
  }

  async beat(key: string, holder: string, n: number, beat: number): Promise<boolean> {
    return this.#update(key, holder, {
      UpdateExpression: 'SET #hs.#h.#b = :beat, #ttl = :ttl',
      ConditionExpression: '#hs.#h.#n = :n',
      ExpressionAttributeValues: { ':n': n, ':beat': beat, ':ttl': this.#ttl() },
    });
  }

  async reclaim(key: string, holder: string, seen: SlotEntry): Promise<boolean> {
    return this.#update(key, holder, {
      UpdateExpression: 'SET #total = #total - :n REMOVE #hs.#h',
      ConditionExpression: '#hs.#h.#n = :n AND #hs.#h.#b = :beat',
      ExpressionAttributeValues: { ':n': seen.n, ':beat': seen.beat },
    });
  }

  #ttl(): number {
    return Math.ceil(this.now() / 1000) + RECORD_RETENTION_SECONDS;
  }

  /** The item with a zero total and an empty holders map, if it has none (a nested SET needs the map). */
  async #create(key: string): Promise<void> {
    if (this.created.has(key)) return;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { requestId: BUDGET_KEY_PREFIX + key },
        // A count outlives its task by the retention of every other record.
        UpdateExpression: 'SET #total = if_not_exists(#total, :zero), #hs = if_not_exists(#hs, :empty), #ttl = :ttl',
        ExpressionAttributeNames: { '#total': 'total', '#hs': 'holders', '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':zero': 0, ':empty': {}, ':ttl': this.#ttl() },
      }),
    );
    this.created.add(key);
  }

  async #update(key: string, holder: string, u: Pick<UpdateCommandInput, 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'>): Promise<boolean> {
    const used = (name: string) => `${u.UpdateExpression} ${u.ConditionExpression}`.includes(name);
    const names = Object.fromEntries(Object.entries({ ...NAMES, '#h': holder }).filter(([k]) => used(k)));
    try {
      await this.doc.send(new UpdateCommand({ TableName: this.tableName, Key: { requestId: BUDGET_KEY_PREFIX + key }, ...u, ExpressionAttributeNames: names }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') return false;
      // The item expired or was never created here: a count that is not there holds nothing.
      if ((err as Error).name === 'ValidationException' && /document path/i.test((err as Error).message)) {
        this.created.delete(key);
        return false;
      }
      throw err;
    }
  }
}
