// Catalogs whose contents are the server's own secrets rather than data: password verifiers
// (SCRAM-SHA-256$…, md5…), the host-based authentication rules, configuration files, user
// mappings (foreign-server passwords) and subscription connection strings. A read-only agent on a
// privileged upstream account could otherwise read them; policy sees `context.serverSecrets`.
import { splitQualifiedName } from './relation-names.js';

export const SERVER_SECRET_RELATIONS: ReadonlySet<string> = new Set([
  'pg_authid', 'pg_shadow', 'pg_user_mapping', 'pg_user_mappings', 'pg_hba_file_rules', 'pg_ident_file_mappings',
  'pg_file_settings', 'pg_subscription', 'pg_db_role_setting',
]);

/**
 * True when a table is one of them: canonical `pg_catalog.name`, or — before the session resolver
 * has qualified it — an unqualified name, which pg_catalog (searched first) would supply.
 */
export function readsServerSecrets(tables: readonly string[]): boolean {
  return tables.some((t) => {
    const parts = splitQualifiedName(t);
    const name = parts[parts.length - 1]!;
    return SERVER_SECRET_RELATIONS.has(name) && (parts.length === 1 || parts[parts.length - 2] === 'pg_catalog');
  });
}
