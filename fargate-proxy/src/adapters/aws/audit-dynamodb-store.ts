// The AWS audit store: DynamoDB for sessions, events and digests; S3 (gzip, SSE-KMS, optional
// Object Lock) for records too large to keep in an item — big captured responses, huge statements.
// Ended sessions are also kept whole in S3 as recordings. One table, single-table design (docs/audit.md has the full picture):
//
//   pk                 sk              what
//   S#<sessionId>      E#<seq:10>      one event: `rec` = the record's JSON, or `s3` = its object key
//   S#<sessionId>      META            session start or login refusal; carries the GSI keys below
//   S#<sessionId>      DENIED#<seq:10> a denied statement (lists "refused only")
//   S#<sessionId>      END             session end summary
//   W#<writer>         D#<dseq:10>     a signed digest of one writer
//
//   GSI byPrincipal (gpk1 = P#<principal>, gsk = <startedAt>#<sessionId>)
//   GSI byTarget    (gpk2 = T#<target>,    gsk)
//   GSI byDay       (gpk3 = D#<yyyy-mm-dd>, gsk)   time-range listing, one partition per day
//   TTL attribute `expiresAt` (epoch seconds) when retention is configured.
//
// Every write is a put of a key derived from the record, conditional on the key being new (DynamoDB
// `attribute_not_exists`, S3 `If-None-Match: *`): shipping the same batch twice is harmless, and
// nothing this writer ships can replace what is already stored. The fleet's role has no
// BatchWriteItem, UpdateItem or DeleteItem on the table (lib/audit-store.ts).
import { gzipSync, gunzipSync } from 'node:zlib';
import {
  BatchGetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import type { AuditRecord } from '../../../../core/audit/events.js';
import type { SignedDigest } from '../../../../core/audit/digest.js';
import { matchesFilter, type AuditReader, type AuditStoreWriter, type SessionFilter, type SessionSummary, type ShippedItem } from '../../../../core/audit/ports.js';
import type { LogEntry } from '../../../../core/audit/verify.js';

export interface AwsAuditStoreOptions {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  table: string;
  bucket: string;
  /** KMS key for S3 objects (SSE-KMS); without it the bucket's default encryption applies. */
  kmsKeyId?: string;
  /**
   * Object Lock retention (COMPLIANCE) set on each S3 object; the bucket must have Object Lock
   * enabled. Leave unset when the bucket's default retention applies (the CDK stack's case).
   */
  objectLockDays?: number;
  /** Records whose JSON exceeds this go to S3 (DynamoDB items stop at 400 KB). */
  inlineRecordMaxBytes?: number;
  /** Items expire this many days after the event (DynamoDB TTL); kept forever when absent. */
  retentionDays?: number;
  /** Items written at once (each a conditional PutItem). Default 16. */
  writeConcurrency?: number;
  /** At session end, also keep the whole session as one gzip JSON-lines object (`recordings/<id>.jsonl.gz`). Default true. */
  recordings?: boolean;
}

export const AUDIT_GSI = { byPrincipal: 'byPrincipal', byTarget: 'byTarget', byDay: 'byDay' } as const;

/** The table as the store expects it (the CDK stack declares the same; tests create it from this). */
export function auditTableDefinition(table: string): CreateTableCommandInput {
  const gsi = (name: string, pk: string) => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: pk, KeyType: 'HASH' as const },
      { AttributeName: 'gsk', KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });
  return {
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: ['pk', 'sk', 'gpk1', 'gpk2', 'gpk3', 'gsk'].map((n) => ({ AttributeName: n, AttributeType: 'S' as const })),
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [gsi(AUDIT_GSI.byPrincipal, 'gpk1'), gsi(AUDIT_GSI.byTarget, 'gpk2'), gsi(AUDIT_GSI.byDay, 'gpk3')],
  };
}

const pad = (n: number) => String(n).padStart(10, '0');
const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });
const str = (item: Record<string, AttributeValue> | undefined, k: string) => item?.[k]?.S;

type Item = Record<string, AttributeValue>;

export function createAwsAuditStore(o: AwsAuditStoreOptions): AuditStoreWriter & AuditReader {
  const inlineMax = o.inlineRecordMaxBytes ?? 64 * 1024;
  const concurrency = o.writeConcurrency ?? 16;

  const expiry = (at: string): Item =>
    o.retentionDays ? { expiresAt: N(Math.floor(Date.parse(at) / 1000) + o.retentionDays * 86400) } : {};

  async function putObject(key: string, json: string): Promise<void> {
    const input: PutObjectCommandInput = {
      Bucket: o.bucket,
      Key: key,
      Body: gzipSync(json),
      ContentType: 'application/json',
      ContentEncoding: 'gzip',
    };
    if (o.kmsKeyId) Object.assign(input, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: o.kmsKeyId, BucketKeyEnabled: true });
    if (o.objectLockDays) Object.assign(input, { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() + o.objectLockDays * 86400_000) });
    try {
      // Create-only: an object already there (a re-shipped batch) is kept as it is.
      await o.s3.send(new PutObjectCommand({ ...input, IfNoneMatch: '*' }));
    } catch (e) {
      if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412) throw e;
    }
  }

  async function getObject(key: string): Promise<string> {
    const res = await o.s3.send(new GetObjectCommand({ Bucket: o.bucket, Key: key }));
    const bytes = Buffer.from(await res.Body!.transformToByteArray());
    // Some servers undo Content-Encoding on the way out; gzip's magic number says which.
    return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
  }

  async function itemsFor(record: AuditRecord): Promise<Item[]> {
    const pk = S(`S#${record.sessionId}`);
    const json = JSON.stringify(record);
    const event: Item = { pk, sk: S(`E#${pad(record.seq)}`), type: S(record.type), at: S(record.at), ...expiry(record.at) };
    if (Buffer.byteLength(json) > inlineMax) {
      const key = `events/${record.sessionId}/${pad(record.seq)}.json.gz`;
      await putObject(key, json);
      event.s3 = S(key);
    } else event.rec = S(json);
    const items = [event];
    const gsk = S(`${record.at}#${record.sessionId}`);
    if (record.type === 'session.start' || record.type === 'auth.refused') {
      const summary: SessionSummary =
        record.type === 'session.start'
          ? {
              sessionId: record.sessionId,
              startedAt: record.at,
              principal: record.principal.id,
              groups: record.principal.groups,
              target: record.target,
              targetKind: record.targetKind,
              client: `${record.client.address}:${record.client.port}`,
              authRefused: false,
              denied: 0,
            }
          : {
              sessionId: record.sessionId,
              startedAt: record.at,
              target: record.target,
              client: `${record.client.address}:${record.client.port}`,
              authRefused: true,
              denied: 0,
              endReason: record.reason,
            };
      items.push({
        pk,
        sk: S('META'),
        gpk1: S(`P#${summary.principal ?? '-'}`),
        gpk2: S(`T#${summary.target ?? '-'}`),
        gpk3: S(`D#${record.at.slice(0, 10)}`),
        gsk,
        summary: S(JSON.stringify(summary)),
        ...expiry(record.at),
      });
    } else if (
      (record.type === 'statement' && record.decision.effect === 'deny') ||
      (record.type === 'approval' && (record.state === 'denied' || record.state === 'expired'))
    ) {
      items.push({ pk, sk: S(`DENIED#${pad(record.seq)}`), ...expiry(record.at) });
    } else if (record.type === 'session.end') {
      items.push({ pk, sk: S('END'), endedAt: S(record.at), statements: N(record.statements), reason: S(record.reason), ...expiry(record.at) });
    }
    return items;
  }

  function digestItem(d: SignedDigest): Item {
    return { pk: S(`W#${d.writer}`), sk: S(`D#${pad(d.dseq)}`), rec: S(JSON.stringify(d)), ...expiry(d.at) };
  }

  /**
   * Each item is created, never replaced: a conditional PutItem whose failure on an existing key
   * means this item was shipped before (a retried batch after a crash). The SDK retries throttling.
   */
  async function putNew(item: Item): Promise<void> {
    try {
      await o.dynamodb.send(new PutItemCommand({ TableName: o.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    }
  }

  async function writeItems(items: Item[]): Promise<void> {
    const unique = new Map<string, Item>();
    for (const it of items) unique.set(`${it.pk!.S}\u0000${it.sk!.S}`, it);
    const all = [...unique.values()];
    let next = 0;
    const worker = async () => {
      while (next < all.length) await putNew(all[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, all.length) }, worker));
  }

  async function queryAll(input: ConstructorParameters<typeof QueryCommand>[0]): Promise<Item[]> {
    const out: Item[] = [];
    let ExclusiveStartKey: Item | undefined;
    do {
      const res = await o.dynamodb.send(new QueryCommand({ ...input, ExclusiveStartKey }));
      out.push(...(res.Items ?? []));
      ExclusiveStartKey = res.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return out;
  }

  function daysBetween(from: string, to: string): string[] {
    const days: string[] = [];
    for (let t = Date.parse(to.slice(0, 10)); t >= Date.parse(from.slice(0, 10)) && days.length < 366; t -= 86400_000) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
    return days;
  }

  async function metaItems(f: SessionFilter): Promise<Item[]> {
    const from = f.from ?? new Date(Date.now() - 30 * 86400_000).toISOString();
    const to = f.to ?? new Date(Date.now() + 86400_000).toISOString();
    const range = { ':from': S(from), ':to': S(`${to}~`) };
    if (f.principal !== undefined || f.target !== undefined) {
      const [index, key, value] =
        f.principal !== undefined ? [AUDIT_GSI.byPrincipal, 'gpk1', `P#${f.principal}`] : [AUDIT_GSI.byTarget, 'gpk2', `T#${f.target}`];
      return queryAll({
        TableName: o.table,
        IndexName: index,
        KeyConditionExpression: `${key} = :k AND gsk BETWEEN :from AND :to`,
        ExpressionAttributeValues: { ':k': S(value), ...range },
        ScanIndexForward: false,
      });
    }
    const out: Item[] = [];
    for (const day of daysBetween(from, to)) {
      out.push(
        ...(await queryAll({
          TableName: o.table,
          IndexName: AUDIT_GSI.byDay,
          KeyConditionExpression: 'gpk3 = :k AND gsk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':k': S(`D#${day}`), ...range },
          ScanIndexForward: false,
        })),
      );
      if (f.limit && out.length >= f.limit && !f.refusedOnly) break;
    }
    return out;
  }

  async function completeSummary(s: SessionSummary): Promise<SessionSummary> {
    const pk = S(`S#${s.sessionId}`);
    const [denied, end] = await Promise.all([
      o.dynamodb.send(
        new QueryCommand({
          TableName: o.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :d)',
          ExpressionAttributeValues: { ':pk': pk, ':d': S('DENIED#') },
          Select: 'COUNT',
        }),
      ),
      o.dynamodb.send(new BatchGetItemCommand({ RequestItems: { [o.table]: { Keys: [{ pk, sk: S('END') }] } } })),
    ]);
    const endItem = end.Responses?.[o.table]?.[0];
    return {
      ...s,
      denied: denied.Count ?? 0,
      ...(endItem ? { endedAt: str(endItem, 'endedAt'), statements: Number(endItem.statements?.N ?? 0), endReason: str(endItem, 'reason') } : {}),
    };
  }

  const store: AuditStoreWriter & AuditReader = {
    async write(items: ShippedItem[]): Promise<void> {
      const out: Item[] = [];
      for (const it of items) {
        if (it.kind === 'event') out.push(...(await itemsFor(it.record)));
        else out.push(digestItem(it.digest));
      }
      await writeItems(out);
      if (o.recordings === false) return;
      // The spool ships in order, so a session's events are all stored once its end is.
      for (const it of items) {
        if (it.kind !== 'event' || it.record.type !== 'session.end') continue;
        const entries = (await store.readSession(it.record.sessionId)) ?? [];
        await putObject(`recordings/${it.record.sessionId}.jsonl.gz`, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      }
    },

    async listSessions(filter: SessionFilter = {}): Promise<SessionSummary[]> {
      const metas = await metaItems(filter);
      const summaries: SessionSummary[] = [];
      for (const m of metas) {
        const s = await completeSummary(JSON.parse(str(m, 'summary')!) as SessionSummary);
        if (!matchesFilter(s, { ...filter, limit: undefined })) continue;
        summaries.push(s);
        if (filter.limit && summaries.length >= filter.limit) break;
      }
      summaries.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
      return summaries;
    },

    async readSession(sessionId: string): Promise<LogEntry[] | undefined> {
      const items = await queryAll({
        TableName: o.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :e)',
        ExpressionAttributeValues: { ':pk': S(`S#${sessionId}`), ':e': S('E#') },
      });
      if (items.length === 0) return undefined;
      const entries: LogEntry[] = [];
      for (const [i, it] of items.entries()) {
        const json = it.s3?.S ? await getObject(it.s3.S) : (str(it, 'rec') ?? '');
        try {
          entries.push(JSON.parse(json) as AuditRecord);
        } catch {
          entries.push({ unparsable: json.slice(0, 200), line: i + 1 });
        }
      }
      return entries;
    },

    async readDigests(): Promise<SignedDigest[]> {
      // Verification is a batch job; a scan over the digest items is acceptable there.
      const out: SignedDigest[] = [];
      let ExclusiveStartKey: Item | undefined;
      do {
        const res = await o.dynamodb.send(
          new ScanCommand({
            TableName: o.table,
            FilterExpression: 'begins_with(pk, :w)',
            ExpressionAttributeValues: { ':w': S('W#') },
            ExclusiveStartKey,
          }),
        );
        for (const it of res.Items ?? []) out.push(JSON.parse(str(it, 'rec')!) as SignedDigest);
        ExclusiveStartKey = res.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      out.sort((a, b) => (a.writer === b.writer ? a.dseq - b.dseq : a.writer < b.writer ? -1 : 1));
      return out;
    },
  };
  return store;
}
