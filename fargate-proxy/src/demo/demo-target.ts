// Picks the demo database for `npm start`: a real PostgreSQL when one is installed (concurrent
// sessions), otherwise the embedded PGlite (nothing to install; one transaction at a time).
import { startDemoDatabase, type DemoDatabase } from './demo-database.js';
import { findPostgresBin, startDemoPostgres } from './demo-postgres.js';

export type DemoEngineChoice = 'auto' | 'postgres' | 'pglite';
export const DEMO_ENGINE_CHOICES: readonly DemoEngineChoice[] = ['auto', 'postgres', 'pglite'];

export interface DemoTarget {
  db: DemoDatabase;
  /** Why `auto` fell back to PGlite, when it did. */
  fallbackReason?: string;
}

export async function startDemoTarget(choice: DemoEngineChoice, opts: { host: string; port?: number }): Promise<DemoTarget> {
  if (choice === 'pglite') return { db: await startDemoDatabase(opts) };
  if (choice === 'postgres') return { db: await startDemoPostgres(opts) };
  if (!findPostgresBin()) return { db: await startDemoDatabase(opts), fallbackReason: 'PostgreSQL is not installed' };
  try {
    return { db: await startDemoPostgres(opts) };
  } catch (err) {
    return { db: await startDemoDatabase(opts), fallbackReason: `PostgreSQL did not start (${(err as Error).message})` };
  }
}
