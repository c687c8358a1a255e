// The fleet's side of policy publishing: follows the pointer the policy Lambda writes to S3
// (lambdas/policy/bundle-store.ts) and swaps in each newly activated bundle once it compiles.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { z } from 'zod';
import { compilePolicySet, PolicyError, type PolicyEngine } from '../../../../core/policy/index.js';

export interface PolicyBundleSourceOptions {
  client: S3Client;
  bucket: string;
  /** Key of the pointer object, `{ version, key, activatedAt }`. */
  currentKey: string;
  pollMs: number;
  /** The policy in force until S3 names another (the baked-in file); absent when it failed to load. */
  initial?: PolicyEngine;
  /** Called with every engine swapped in after start-up. */
  onEngine(engine: PolicyEngine): void;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Upper bound on one S3 request: a blackholed endpoint must not stall start-up or pile up polls. */
  requestTimeoutMs?: number;
}

export interface PolicyBundleSource {
  /** The engine of the last good policy set. */
  readonly current: PolicyEngine;
  /** Reads the pointer once now (polls run one at a time, so this waits for a running one). */
  refresh(): Promise<void>;
  close(): void;
}

const pointerSchema = z.object({ version: z.string().min(1), key: z.string().min(1), activatedAt: z.string().optional() });
const bundleSchema = z.object({ version: z.string().min(1), policies: z.string(), schema: z.string() });

const statusOf = (err: unknown): number | undefined => (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
const nameOf = (err: unknown): string | undefined => (err as { name?: string })?.name;
// SDK errors carry request ids and endpoints, never credentials; the name and message are enough to act on.
const describe = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/**
 * Reads the pointer once before returning, so a task starts with the live policy rather than the
 * baked-in one; then polls it every `pollMs`. The pointer is fetched with If-None-Match, so an
 * unchanged pointer costs a 304 and no body. Fails closed: throws when neither `initial` nor S3
 * yields a policy set. Afterwards every failure (S3 unreachable, a bundle that does not compile or
 * whose content does not hash to the version the pointer names) keeps the current engine and logs.
 */
export async function startPolicyBundleSource(o: PolicyBundleSourceOptions): Promise<PolicyBundleSource> {
  const requestTimeoutMs = o.requestTimeoutMs ?? 5000;
  let current = o.initial;
  let pointerEtag: string | undefined;
  let closed = false;
  let running: Promise<void> = Promise.resolve();
  let missingLogged = false;

  const get = (Key: string, IfNoneMatch?: string) =>
    o.client.send(new GetObjectCommand({ Bucket: o.bucket, Key, IfNoneMatch }), { abortSignal: AbortSignal.timeout(requestTimeoutMs) });
  const keeping = () => (current ? `keeping policy version ${current.version}` : 'no policy set is loaded');

  async function readJson(key: string): Promise<{ etag?: string; value: unknown }> {
    const out = await get(key);
    return { etag: out.ETag, value: JSON.parse((await out.Body?.transformToString('utf8')) ?? '') };
  }

  async function poll(): Promise<void> {
    let out;
    try {
      out = await get(o.currentKey, pointerEtag);
    } catch (err) {
      if (statusOf(err) === 304) return;
      if (nameOf(err) === 'NoSuchKey') {
        if (!missingLogged) o.log.warn({ bucket: o.bucket, key: o.currentKey }, `no policy version has been activated in S3 yet; ${keeping()}`);
        missingLogged = true;
        return;
      }
      o.log.error({ bucket: o.bucket, key: o.currentKey, error: describe(err) }, `cannot read the policy pointer; ${keeping()}`);
      return;
    }
    missingLogged = false;
    const etag = out.ETag;
    let pointer: z.infer<typeof pointerSchema>;
    try {
      pointer = pointerSchema.parse(JSON.parse((await out.Body?.transformToString('utf8')) ?? ''));
    } catch (err) {
      // A torn read is retried at the next poll: only a pointer that parsed is remembered by its ETag.
      o.log.error({ bucket: o.bucket, key: o.currentKey, error: describe(err) }, `the policy pointer is not valid; ${keeping()}`);
      return;
    }
    if (pointer.version === current?.version) {
      pointerEtag = etag;
      return;
    }

    let bundle: z.infer<typeof bundleSchema>;
    try {
      bundle = bundleSchema.parse((await readJson(pointer.key)).value);
    } catch (err) {
      // Unreachable or not (yet) there: the pointer is read again next time.
      o.log.error({ bucket: o.bucket, key: pointer.key, version: pointer.version, error: describe(err) }, `cannot read policy bundle; ${keeping()}`);
      return;
    }
    // From here on the outcome depends only on immutable bytes: remember the pointer either way
    // so a broken version is reported once, not every poll.
    pointerEtag = etag;
    let engine: PolicyEngine;
    try {
      engine = compilePolicySet(bundle.policies, bundle.schema);
      // The version is the content hash: a bundle that does not hash to it was altered after publishing.
      if (engine.version !== pointer.version) throw new Error(`bundle content hashes to ${engine.version}, not to the activated ${pointer.version}`);
    } catch (err) {
      const errors = err instanceof PolicyError ? err.errors : [describe(err)];
      o.log.error({ key: pointer.key, version: pointer.version, errors }, `policy bundle rejected; ${keeping()}`);
      return;
    }
    if (closed) return;
    current = engine;
    o.onEngine(engine);
    o.log.info({ policyVersion: engine.version, activatedAt: pointer.activatedAt }, 'policy bundle from S3 in force');
  }

  const refresh = (): Promise<void> =>
    (running = running.then(poll).catch((err: unknown) => o.log.error({ error: describe(err) }, `policy poll failed; ${keeping()}`)));

  await refresh();
  if (!current) {
    throw new PolicyError([`no policy set: the policy file did not load and s3://${o.bucket}/${o.currentKey} gave no usable bundle`]);
  }
  const timer = setInterval(() => {
    void refresh();
  }, o.pollMs);
  timer.unref();

  return {
    get current() {
      return current!;
    },
    refresh,
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
