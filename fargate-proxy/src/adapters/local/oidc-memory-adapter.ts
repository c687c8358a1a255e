import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

type Entry = { payload: AdapterPayload; expiresAt: number };

/**
 * In-memory storage for the local issuer. oidc-provider ships one too, but using it prints a
 * "development-only" warning on every start; this one is the same idea, owned here and quiet.
 * JWT access tokens are never stored, so this holds little beyond transient artefacts.
 */
export class OidcMemoryAdapter implements Adapter {
  constructor(private readonly store: Map<string, Entry>) {}

  private live(id: string): AdapterPayload | undefined {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
    this.store.set(id, { payload, expiresAt });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.live(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    for (const [id, entry] of this.store) if (entry.payload.userCode === userCode) return this.live(id);
    return undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    for (const [id, entry] of this.store) if (entry.payload.uid === uid) return this.live(id);
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const payload = this.live(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [id, entry] of this.store) if (entry.payload.grantId === grantId) this.store.delete(id);
  }
}

/** One factory per issuer, so two issuers in one process (tests) never share artefacts. */
export function createOidcMemoryAdapterFactory(): AdapterFactory {
  const stores = new Map<string, Map<string, Entry>>();
  return (name) => {
    let store = stores.get(name);
    if (!store) stores.set(name, (store = new Map()));
    return new OidcMemoryAdapter(store);
  };
}
