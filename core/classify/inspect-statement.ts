// Walks every node of one statement's parse tree, so that nothing can hide in a place no rule
// anticipated: rules decide about the nodes they know, and every other node is walked through.
import type { StatementInspection } from '../model.js';
import { columnUses } from './column-uses.js';
import { Findings, mergeColumnUses, isRecord, type NodeBody, type PreparedLookup, type WalkContext } from './findings.js';
import { parseStatements } from './parser.js';
import { NODE_RULES, UNWRAPPED_FIELDS } from './statement-rules.js';

export interface StatementVerdict {
  inspection: StatementInspection;
  /** The verdict used session state (EXECUTE) and must not be cached. */
  executes: boolean;
}

/** Inspects one top-level statement node (`{ SelectStmt: {...} }`). */
export function inspectStatement(node: unknown, text: string, prepared: PreparedLookup | undefined): StatementVerdict {
  const findings = new Findings();
  const ctx: WalkContext = {
    findings,
    prepared,
    walk: (value) => walkValue(value, ctx),
    inspectNested: (inner, innerText) => {
      const verdict = inspectStatement(inner, innerText, prepared);
      return { inspection: verdict.inspection, executes: verdict.executes };
    },
    inspectSqlText: (sql) => {
      const parsed = parseStatements(sql);
      if (!parsed.ok) return undefined;
      return parsed.statements.map((s) => {
        const verdict = inspectStatement(s.node, s.text, prepared);
        findings.executes ||= verdict.executes;
        return verdict.inspection;
      });
    },
  };
  walkValue(node, ctx);
  findings.columnUses = mergeColumnUses(findings.columnUses, columnUses(node));
  return { inspection: findings.toInspection(text), executes: findings.executes };
}

function walkValue(value: unknown, ctx: WalkContext): void {
  if (Array.isArray(value)) {
    for (const item of value) walkValue(item, ctx);
    return;
  }
  if (!isRecord(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (!isRecord(child)) {
      if (Array.isArray(child)) walkValue(child, ctx);
      continue;
    }
    // Node wrappers are the only keys that start with a capital letter.
    if (/^[A-Z]/.test(key)) visitNode(key, child, ctx);
    else if (UNWRAPPED_FIELDS[key]) visitNode(UNWRAPPED_FIELDS[key], child, ctx);
    else if (typeof child.relname === 'string') visitNode('RangeVar', child, ctx);
    else walkValue(child, ctx);
  }
}

function visitNode(type: string, body: NodeBody, ctx: WalkContext): void {
  const isStatement = type.endsWith('Stmt');
  if (isStatement) ctx.findings.types.add(type);
  const rule = NODE_RULES[type];
  if (!rule && isStatement) ctx.findings.raise('opaque', `unrecognised statement type ${type}`);
  if (rule?.(body, ctx) !== 'handled') walkValue(body, ctx);
}
