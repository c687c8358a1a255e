// `airlock sessions`, `airlock replay ID`, `airlock audit verify`, `airlock audit export`:
// plain functions taking options and an output stream and returning the exit code, so commander
// (or a test) can call them. Exit codes: 0 ok, 1 not found / verification failed, 2 bad usage.
import { KMSClient } from '@aws-sdk/client-kms';
import { kmsDigestPublicKey } from '../adapters/aws/kms-digest-signer.js';
import { existsSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import type { AuditRecord } from '../../../core/audit/events.js';
import type { AuditReader, SessionFilter, SessionSummary } from '../../../core/audit/ports.js';
import { capturedBytes } from '../../../core/audit/response-capture.js';
import { verifyAudit, verifyAuditStore, type LogEntry } from '../../../core/audit/verify.js';
import { createLocalAuditReader } from '../adapters/local/audit-file-reader.js';
import { decodePostgresResponse, escapedPreview, textPreview, type PgResponseView, type PreviewView } from '../console/sessions-pg-response.js';
import { readPublicKey, signingKeyPaths } from '../adapters/local/audit-signing-key.js';

export interface Output {
  write(text: string): unknown;
}

/** Where to read: a local data directory, or any reader (e.g. the AWS store) built by the caller. */
export interface AuditSourceOptions {
  dir?: string;
  reader?: AuditReader;
}

export interface SessionFilterOptions {
  principal?: string;
  target?: string;
  /** Anything `Date` parses: `2026-03-01`, an ISO timestamp. */
  from?: string;
  to?: string;
  refusedOnly?: boolean;
  limit?: number;
}

class UsageError extends Error {}

function readerFor(o: AuditSourceOptions): AuditReader {
  if (o.reader) return o.reader;
  if (!o.dir) throw new UsageError('no audit source: give the data directory (--dir) or configure a store');
  if (!existsSync(o.dir)) throw new UsageError(`audit directory ${o.dir} does not exist`);
  return createLocalAuditReader(o.dir);
}

function isoOf(value: string | undefined, name: string, endOfDay: boolean): string | undefined {
  if (value === undefined) return undefined;
  const dateOnly = /^\d{4}-\d\d-\d\d$/.test(value);
  const t = Date.parse(dateOnly ? `${value}T00:00:00.000Z` : value);
  if (Number.isNaN(t)) throw new UsageError(`--${name}: not a date or time: ${value}`);
  return new Date(dateOnly && endOfDay ? t + 86400_000 - 1 : t).toISOString();
}

function toFilter(o: SessionFilterOptions): SessionFilter {
  return {
    principal: o.principal,
    target: o.target,
    from: isoOf(o.from, 'from', false),
    to: isoOf(o.to, 'to', true),
    refusedOnly: o.refusedOnly,
    limit: o.limit,
  };
}

/** Errors go to `err` (stderr by default), as `airlock approvals` does, so stdout stays the report. */
async function run(err: Output, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      err.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

const records = (entries: LogEntry[]): AuditRecord[] => entries.filter((e): e is AuditRecord => !('unparsable' in e));

export async function sessionsCommand(o: AuditSourceOptions & SessionFilterOptions & { format?: 'table' | 'json' }, out: Output, err: Output = process.stderr): Promise<number> {
  return run(err, async () => {
    const list = await readerFor(o).listSessions(toFilter(o));
    if (o.format === 'json') {
      out.write(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    if (list.length === 0) {
      out.write('no sessions match\n');
      return 0;
    }
    const rows = list.map((s) => [s.sessionId, s.startedAt, s.principal ?? '-', s.target ?? '-', statusOf(s), s.statements === undefined ? '-' : String(s.statements), s.client ?? '-']);
    out.write(table(['SESSION', 'STARTED', 'PRINCIPAL', 'TARGET', 'STATUS', 'STMTS', 'CLIENT'], rows));
    return 0;
  });
}

function statusOf(s: SessionSummary): string {
  if (s.authRefused) return `refused: ${s.endReason ?? 'login'}`;
  const denied = s.denied > 0 ? `, ${s.denied} denied` : '';
  const ended = s.endReason === 'gateway_crashed' ? 'ended (gateway crashed)' : 'ended';
  return `${s.endedAt ? ended : 'open'}${denied}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export async function replayCommand(
  o: AuditSourceOptions & { sessionId: string; format?: 'text' | 'json'; /** bytes of each response shown (text format); 0 hides them */ responseBytes?: number },
  out: Output,
  err: Output = process.stderr,
): Promise<number> {
  return run(err, async () => {
    const entries = await readerFor(o).readSession(o.sessionId);
    if (!entries) {
      err.write(`error: no audit log for session ${o.sessionId}\n`);
      return 1;
    }
    const chain = verifyAudit({ sessions: [{ sessionId: o.sessionId, entries }], digests: [], publicKey: [] });
    if (o.format === 'json') {
      out.write(`${JSON.stringify({ sessionId: o.sessionId, chainIntact: chain.ok, problems: chain.problems, events: entries }, null, 2)}\n`);
      return 0;
    }
    out.write(renderTimeline(o.sessionId, records(entries), o.responseBytes ?? 400));
    out.write(chain.ok ? 'chain: intact (run `airlock audit verify` to check signed digests)\n' : `chain: BROKEN\n${chain.problems.map((p) => `  - ${p.message}\n`).join('')}`);
    return 0;
  });
}

function renderTimeline(sessionId: string, recs: AuditRecord[], responseBytes: number): string {
  const lines: string[] = [];
  // Responses are decoded as the console does: PostgreSQL wire bytes as result tables, shell output as text.
  let postgres = true;
  const t0 = recs[0] ? Date.parse(recs[0].at) : 0;
  const start = recs.find((r) => r.type === 'session.start');
  lines.push(`session ${sessionId}`);
  if (start?.type === 'session.start') {
    postgres = start.targetKind === 'postgres';
    const p = start.principal;
    lines.push(
      `  principal ${p.id}${p.groups.length ? ` (${p.groups.join(', ')})` : ''} from ${p.issuer}${p.tokenId ? `, token ${p.tokenId}` : ''}${p.clientId ? `, client ${p.clientId}` : ''}`,
      `  target    ${start.target} [${start.targetKind}] over ${start.protocol}, from ${start.client.address}:${start.client.port}`,
      `  started   ${start.at}`,
    );
  }
  lines.push('');
  for (const r of recs) {
    const offset = `+${((Date.parse(r.at) - t0) / 1000).toFixed(3)}s`.padStart(10);
    const at = `${offset}  #${String(r.seq).padEnd(4)}`;
    switch (r.type) {
      case 'session.start':
        lines.push(`${at} session start`);
        break;
      case 'auth.refused':
        lines.push(`${at} LOGIN REFUSED ${r.code}: ${r.reason}${r.target ? ` (target ${r.target})` : ''} from ${r.client.address}:${r.client.port}`);
        break;
      case 'statement': {
        const d = r.decision;
        const by = d.policyIds.length ? d.policyIds.join(', ') : 'default deny';
        lines.push(`${at} statement ${r.statementId} [${r.class}] ${d.effect.toUpperCase()} by ${by} (policy ${d.policyVersion})${r.approvalId ? `, approval ${r.approvalId}` : ''}`);
        lines.push(`${' '.repeat(18)}${r.text.replace(/\s+/g, ' ')}`);
        if (d.effect !== 'allow') lines.push(`${' '.repeat(18)}reason: ${d.reason}`);
        // --- http (issue 30) ---
        if (r.http) {
          const h = r.http;
          lines.push(`${' '.repeat(18)}${h.version}${h.route ? `, route ${h.route}` : ''}; ${Object.entries(h.headers).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
          if (h.body) lines.push(...renderResponse(h.body, responseBytes, false).map((l) => l.replace(/^(\s*)response: /, '$1request body: ')));
        }
        // --- end http ---
        break;
      }
      case 'approval':
        lines.push(`${at} approval ${r.approvalId} for ${r.statementId}: ${r.state}${r.reviewer ? ` by ${r.reviewer}` : ''}${r.reason ? ` (${r.reason})` : ''}`);
        break;
      case 'statement.outcome': {
        // `rows`: returned or affected (the command tag's count); `bytes`: the row data among what was sent.
        const rows = r.rows === undefined ? '' : `${r.rows} ${r.rows === 1 ? 'row' : 'rows'}, `;
        const data = r.bytes > 0 ? `${r.bytes} bytes of row data, ` : '';
        const err = r.error ? ` error ${r.error.code}: ${r.error.message}` : '';
        lines.push(`${at} outcome ${r.statementId}: ${r.status}, ${rows}${data}${r.durationMs} ms${err}`);
        // --- http (issue 30) ---
        if (r.http) lines.push(`${' '.repeat(18)}HTTP ${r.http.status}${r.http.headers['content-type'] ? ` ${r.http.headers['content-type']}` : ''}`);
        // --- end http ---
        if (r.masking && r.masking.total > 0) {
          lines.push(`${' '.repeat(18)}masked ${r.masking.total}: ${Object.entries(r.masking.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
        }
        if (r.response) lines.push(...renderResponse(r.response, responseBytes, postgres));
        break;
      }
      case 'session.end':
        lines.push(`${at} session end: ${r.reason}; ${r.statements} statements, ${r.bytesIn} bytes in, ${r.bytesOut} bytes out, ${r.durationMs} ms`);
        break;
    }
  }
  lines.push('');
  return printable(`${lines.join('\n')}\n`);
}

/**
 * Control characters as `\xNN`: recorded text (statements, rows, shell output) comes from agents and
 * databases, and must not drive the operator's terminal (escape sequences) when printed.
 */
function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const PAD = ' '.repeat(18);

function renderResponse(resp: NonNullable<Extract<AuditRecord, { type: 'statement.outcome' }>['response']>, shown: number, postgres: boolean): string[] {
  const kept = capturedBytes(resp);
  const head = `${PAD}response: ${resp.totalBytes} bytes sent${resp.totalChunks !== undefined ? ` in ${resp.totalChunks} pieces` : ''}, ${kept.length} kept${resp.truncated ? ' (cut at the cap)' : ''}, sha256 ${resp.sha256.slice(0, 16)}…`;
  if (shown <= 0 || kept.length === 0) return [head];
  const limits = { rowsPerResult: 20, cellChars: 80, results: 10, previewBytes: shown };
  const view: PgResponseView | PreviewView =
    resp.encoding !== 'base64' || (!postgres && isUtf8(kept))
      ? textPreview(kept, limits)
      : ((postgres ? decodePostgresResponse(kept, limits) : undefined) ?? escapedPreview(kept, limits));
  const body = view.kind === 'postgres' ? renderPgResponse(view) : renderPreview(view);
  if (resp.truncated && !(view.kind === 'postgres' && view.incomplete)) body.push('…');
  return [head, ...body.map((l) => `${PAD}| ${l}`)];
}

/** Result tables as psql prints them (aligned, header underlined, a row count), then errors and notices. */
function renderPgResponse(v: PgResponseView): string[] {
  const out: string[] = [];
  for (const r of v.results) {
    if (r.columns.length > 0) {
      const cells = r.rows.map((row) => row.map((c) => (c === null ? '' : c.replace(/[\r\n\t]/g, ' '))));
      const widths = r.columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] ?? '').length)));
      out.push(r.columns.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd());
      out.push(widths.map((w) => '-'.repeat(w)).join('-+-'));
      for (const row of cells) out.push(row.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd());
      const more = r.rowCount - r.rows.length;
      out.push(`(${r.rowCount} ${r.rowCount === 1 ? 'row' : 'rows'}${more > 0 ? `, ${more} not shown` : ''})`);
    }
    if (r.command) out.push(r.command);
  }
  for (const e of v.errors) out.push(`ERROR${e.code ? ` ${e.code}` : ''}: ${e.message}`);
  for (const n of v.notices) out.push(`NOTICE: ${n}`);
  if (v.incomplete) out.push('… (the rest was cut at the cap)');
  return out;
}

function renderPreview(v: PreviewView): string[] {
  const lines = v.text.split('\n');
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  return v.omittedBytes > 0 ? [...lines, `… (${v.omittedBytes} more bytes kept)`] : lines;
}

export async function auditVerifyCommand(
  o: AuditSourceOptions & {
    publicKeyFiles?: string[];
    /** KMS keys (ARN or id) whose public halves verify the fleet's digests (the stack's AuditSigningKey output). */
    signingKeys?: string[];
    /** Fetches a KMS key's public half; default: KMS with the standard AWS environment. */
    kmsPublicKey?: (keyId: string) => Promise<KeyObject>;
    sessionIds?: string[];
    format?: 'text' | 'json';
  } & Pick<SessionFilterOptions, 'from' | 'to'>,
  out: Output,
  err: Output = process.stderr,
): Promise<number> {
  return run(err, async () => {
    const reader = readerFor(o);
    const keys: KeyObject[] = [];
    for (const keyId of o.signingKeys ?? []) {
      try {
        keys.push(await (o.kmsPublicKey ?? kmsPublicKeyFromEnvironment)(keyId));
      } catch (e) {
        throw new UsageError(`cannot fetch the public key of KMS key ${keyId}: ${(e as Error).message}`);
      }
    }
    for (const file of o.publicKeyFiles ?? []) {
      try {
        keys.push(readPublicKey(file));
      } catch (e) {
        throw new UsageError(`cannot read public key ${file}: ${(e as Error).message}`);
      }
    }
    const notes: string[] = [];
    if (keys.length === 0) {
      const local = o.dir ? signingKeyPaths(o.dir).publicKey : undefined;
      if (!local || !existsSync(local)) throw new UsageError('no public key: give --public-key FILE, or --signing-key KMS_KEY_ARN (the stack\'s AuditSigningKey output)');
      keys.push(readPublicKey(local));
      notes.push(`using the public key stored in ${o.dir}; pin a copy kept elsewhere with --public-key for an independent check`);
    }
    const listed = async () => (await reader.listSessions({ from: isoOf(o.from, 'from', false) ?? '2000-01-01T00:00:00.000Z', to: isoOf(o.to, 'to', true) })).map((s) => s.sessionId);
    const local = o.dir !== undefined && !o.reader;
    const sessionIds = o.sessionIds ?? (local ? await createLocalAuditReader(o.dir!).sessionIds() : await listed());
    // The index is cross-checked against the logs: a deleted log, or a log hidden from the index, fails.
    // Locally the logs are listed from the directory; a store lists them through its index, so there
    // only a listed session whose log is gone can be found.
    const index = o.sessionIds ? undefined : local ? async () => (await reader.listSessions()).map((s) => s.sessionId) : async () => sessionIds;
    const report = await verifyAuditStore(reader, { publicKey: keys, sessionIds, index });
    if (o.format === 'json') {
      out.write(`${JSON.stringify({ ...report, notes }, null, 2)}\n`);
      return report.ok ? 0 : 1;
    }
    for (const n of notes) out.write(`note: ${n}\n`);
    out.write(`checked ${report.sessions} sessions, ${report.events} events, ${report.digests} signed digests\n`);
    for (const w of report.warnings) out.write(`warning: ${w}\n`);
    for (const p of report.problems) out.write(`FAIL [${p.kind}] ${p.sessionId ? `session ${p.sessionId}: ` : ''}${p.message}\n`);
    out.write(report.ok ? 'audit trail verified: no event edited, removed or reordered\n' : `audit trail FAILED verification: ${report.problems.length} problems\n`);
    return report.ok ? 0 : 1;
  });
}

/** JSON lines for a SIEM: one stored event per line (hash-chain fields included), session by session. */
export async function auditExportCommand(o: AuditSourceOptions & SessionFilterOptions, out: Output, err: Output = process.stderr): Promise<number> {
  return run(err, async () => {
    const reader = readerFor(o);
    const sessions = await reader.listSessions(toFilter(o));
    for (const s of [...sessions].reverse()) {
      const entries = await reader.readSession(s.sessionId);
      for (const r of records(entries ?? [])) out.write(`${JSON.stringify(r)}\n`);
    }
    return 0;
  });
}

async function kmsPublicKeyFromEnvironment(keyId: string): Promise<KeyObject> {
  const kms = new KMSClient({});
  try {
    return await kmsDigestPublicKey(kms, keyId);
  } finally {
    kms.destroy();
  }
}
