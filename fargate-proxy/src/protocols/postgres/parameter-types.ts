// Parameter types a client declares in Parse. The server converts each bound value with its type's
// input function, and for a domain runs the domain's CHECK expressions, at Bind — before any
// Execute, and whatever the statement text says. A type of the server's own (an OID below
// FirstNormalObjectId) runs only built-in code; any other was made by someone (a domain can be made
// by any role that may create in a schema, its check can call anything), so a statement that
// declares one is opaque.
import type { Inspection, StatementInspection } from '../../../../core/model.js';
import { moreDangerous } from '../../../../core/model.js';

/** PostgreSQL's FirstNormalObjectId: every OID below it was assigned by initdb. */
const FIRST_NORMAL_OBJECT_ID = 16384;

/** The declared parameter types that are not the server's own. */
export function userParameterTypes(paramTypes: readonly number[]): number[] {
  return paramTypes.filter((oid) => oid >= FIRST_NORMAL_OBJECT_ID);
}

/** The inspection with every statement opaque because of `oids` (none: the inspection itself). */
export function withUserParameterTypes(inspection: Inspection, oids: readonly number[]): Inspection {
  if (!inspection.ok || oids.length === 0) return inspection;
  const reason = `a parameter is declared with a type that is not built in (OID ${oids.join(', ')}): binding a value runs its input function and a domain's checks`;
  const statements = inspection.statements.map(
    (s): StatementInspection => Object.freeze({ ...s, class: moreDangerous(s.class, 'opaque'), reasons: Object.freeze([...s.reasons, reason]) as string[] }),
  );
  return Object.freeze({ ok: true as const, statements: Object.freeze(statements) as StatementInspection[], class: moreDangerous(inspection.class, 'opaque') });
}
