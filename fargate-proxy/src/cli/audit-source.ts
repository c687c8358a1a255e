// Where `airlock sessions | replay | audit verify | audit export` read the trail: a local audit
// directory, or the fleet's AWS store (DynamoDB table + S3 bucket) with the operator's own AWS
// credentials. The task role cannot list or scan the store (docs/deploy.md), so reading it across
// the fleet is done from here.
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { AuditReader } from '../../../core/audit/ports.js';
import { createAwsAuditStore } from '../adapters/aws/audit-dynamodb-store.js';
import { loadConfigFile } from '../config/load.js';

export interface AuditSourceFlags {
  dir?: string;
  config: string;
  table?: string;
  bucket?: string;
  /** Read the store the configuration names (`audit.store`). */
  store?: boolean;
}

export interface AuditSource {
  dir?: string;
  reader?: AuditReader;
  close(): void;
}

export class AuditSourceError extends Error {}

/**
 * `--table`/`--bucket` or `--store` pick the AWS store; otherwise `--dir`, or `<dataDir>/audit` of
 * the configuration, or `<defaultDataDir>/audit` when there is no readable configuration.
 */
export function auditSourceFrom(o: AuditSourceFlags, defaultDataDir: string): AuditSource {
  const remote = o.table !== undefined || o.bucket !== undefined || o.store === true;
  if (remote && o.dir !== undefined) throw new AuditSourceError('--dir reads a local audit directory; it does not go with --table, --bucket or --store');
  if (o.table !== undefined || o.bucket !== undefined) {
    if (!o.table || !o.bucket) throw new AuditSourceError('the AWS audit store needs both --table and --bucket');
    return awsSource(o.table, o.bucket);
  }
  if (o.store) {
    const store = loadConfigFile(o.config).audit.store;
    if (!store) throw new AuditSourceError(`${o.config} names no audit store (audit.store); give --table and --bucket`);
    return awsSource(store.table, store.bucket);
  }
  return { dir: o.dir ?? localAuditDir(o.config, defaultDataDir), close() {} };
}

function localAuditDir(config: string, defaultDataDir: string): string {
  try {
    return join(loadConfigFile(config).dataDir, 'audit');
  } catch {
    return join(defaultDataDir, 'audit');
  }
}

/** Region, credentials and endpoints come from the standard AWS environment and profiles. */
function awsSource(table: string, bucket: string): AuditSource {
  const dynamodb = new DynamoDBClient({});
  const s3 = new S3Client({});
  return {
    reader: createAwsAuditStore({ dynamodb, s3, table, bucket }),
    close() {
      dynamodb.destroy();
      s3.destroy();
    },
  };
}
