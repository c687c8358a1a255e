// Each PostgreSQL target's catalog (core/classify/target-catalog.ts), read at the first session's
// login on that session's own upstream connection, cached per target, and read again — on a
// connection of its own — after a session ran DDL and when it is older than the refresh interval.
import { buildTargetCatalog, CATALOG_QUERY, MAX_CATALOG_ROWS, type CatalogRow, type TargetCatalog } from '../../../../core/classify/target-catalog.js';
import { queryUpstream, type UpstreamConnection } from './upstream.js';

/** How long a catalog is trusted before it is read again (other sessions' or the owner's DDL). */
export const CATALOG_REFRESH_MS = 60_000;
/** After a DDL statement is seen, its effect is read this long later (the statement has to run first). */
const AFTER_DDL_MS = [250, 2_000];

export interface CatalogLog {
  warn(obj: object, msg: string): void;
}

export class TargetCatalogs {
  readonly #byTarget = new Map<string, TargetCatalog>();
  readonly #refreshing = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly log: CatalogLog,
    private readonly refreshMs = CATALOG_REFRESH_MS,
  ) {}

  get(target: string): TargetCatalog | undefined {
    return this.#byTarget.get(target);
  }

  /** The target's catalog, read on `conn` (a session's fresh connection) when there is none or it is stale. */
  async ensure(target: string, conn: UpstreamConnection): Promise<TargetCatalog> {
    const cached = this.#byTarget.get(target);
    if (cached && Date.now() - cached.loadedAt < this.refreshMs) return cached;
    const catalog = await readCatalog(conn);
    this.#byTarget.set(target, catalog);
    return catalog;
  }

  /**
   * Reads the catalog again on a connection of its own, soon (after DDL) — coalesced per target.
   * `open` logs in upstream; the connection is closed afterwards. A failure keeps the old catalog
   * (the overlay of the session's own DDL still covers what it created) and is logged.
   */
  refreshSoon(target: string, open: () => Promise<UpstreamConnection>, close: (c: UpstreamConnection) => void): void {
    for (const delay of AFTER_DDL_MS) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        void this.#refresh(target, open, close);
      }, delay);
      timer.unref();
      this.#timers.add(timer);
    }
  }

  /** Starts reading the catalog again in the background when the cached one is older than the refresh interval. */
  refreshIfStale(target: string, open: () => Promise<UpstreamConnection>, close: (c: UpstreamConnection) => void): void {
    const cached = this.#byTarget.get(target);
    if (cached && Date.now() - cached.loadedAt >= this.refreshMs) void this.#refresh(target, open, close);
  }

  async #refresh(target: string, open: () => Promise<UpstreamConnection>, close: (c: UpstreamConnection) => void): Promise<void> {
    if (this.#refreshing.has(target)) return;
    this.#refreshing.add(target);
    let conn: UpstreamConnection | undefined;
    try {
      conn = await open();
      this.#byTarget.set(target, await readCatalog(conn));
    } catch (err) {
      this.log.warn({ target, err: (err as Error).message }, 'reading the target catalog again failed; keeping the previous one');
    } finally {
      if (conn) close(conn);
      this.#refreshing.delete(target);
    }
  }

  close(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

async function readCatalog(conn: UpstreamConnection): Promise<TargetCatalog> {
  const rows = await queryUpstream(conn, CATALOG_QUERY, MAX_CATALOG_ROWS);
  return buildTargetCatalog(rows.map((r) => [r[0] ?? '', r[1] ?? '', r[2] ?? '', r[3] ?? ''] as CatalogRow));
}
