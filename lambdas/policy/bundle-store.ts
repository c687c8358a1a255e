import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** One published policy set: immutable, named by the engine's content hash. */
export interface PolicyBundle {
  version: string;
  policies: string;
  schema: string;
  publishedAt: string;
  publishedBy?: string;
  description?: string;
}

/** The live version: the one object the fleet polls to notice a new policy set. */
export interface PolicyPointer {
  version: string;
  key: string;
  activatedAt: string;
}

export interface BundleStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key of the pointer object, e.g. `policy/current.json`; bundles live beside it under `versions/`. */
  currentKey: string;
}

/**
 * Policy bundles in S3. Bundles are written once under their version and never changed, so the
 * fleet can cache them forever and a retried publish rewrites identical bytes.
 */
export class PolicyBundleStore {
  private readonly prefix: string;

  constructor(private readonly options: BundleStoreOptions) {
    const slash = options.currentKey.lastIndexOf('/');
    this.prefix = `${slash >= 0 ? options.currentKey.slice(0, slash + 1) : ''}versions/`;
  }

  keyFor(version: string): string {
    // `sha256:<hex>` → `<hex>`: colons make awkward keys in consoles and CLIs.
    return `${this.prefix}${version.replace(/^sha256:/, '')}/bundle.json`;
  }

  async putBundle(bundle: PolicyBundle): Promise<string> {
    const key = this.keyFor(bundle.version);
    await this.putJson(key, bundle);
    return key;
  }

  async getBundle(version: string): Promise<PolicyBundle | undefined> {
    return this.getJson<PolicyBundle>(this.keyFor(version));
  }

  async activate(version: string, now: Date): Promise<PolicyPointer> {
    const pointer: PolicyPointer = { version, key: this.keyFor(version), activatedAt: now.toISOString() };
    await this.putJson(this.options.currentKey, pointer);
    return pointer;
  }

  async current(): Promise<PolicyPointer | undefined> {
    return this.getJson<PolicyPointer>(this.options.currentKey);
  }

  private async putJson(key: string, value: unknown): Promise<void> {
    await this.options.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        Body: JSON.stringify(value),
        ContentType: 'application/json',
      }),
    );
  }

  private async getJson<T>(key: string): Promise<T | undefined> {
    try {
      const out = await this.options.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: key }));
      const text = await out.Body?.transformToString('utf8');
      return text === undefined ? undefined : (JSON.parse(text) as T);
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }
}
