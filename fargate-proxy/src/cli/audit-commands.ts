// `airlock sessions`, `airlock replay ID`, `airlock audit verify`, `airlock audit export`:
// plain functions taking options and an output stream and returning the exit code, so commander
// (or a test) can call them. Exit codes: 0 ok, 1 not found / verification failed, 2 bad usage.
import { existsSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { AuditRecord } from '../../../core/audit/events.js';
import type { AuditReader, SessionFilter, SessionSummary } from '../../../core/audit/ports.js';
import { capturedBytes } from '../../../core/audit/response-capture.js';
import { verifyAudit, verifyAuditStore, type LogEntry } from '../../../core/audit/verify.js';
import { createLocalAuditReader } from '../adapters/local/audit-file-reader.js';
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

async function run(out: Output, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      out.write(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

const records = (entries: LogEntry[]): AuditRecord[] => entries.filter((e): e is AuditRecord => !('unparsable' in e));

export async function sessionsCommand(o: AuditSourceOptions & SessionFilterOptions & { format?: 'table' | 'json' }, out: Output): Promise<number> {
  return run(out, async () => {
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
  return `${s.endedAt ? 'ended' : 'open'}${denied}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export async function replayCommand(
  o: AuditSourceOptions & { sessionId: string; format?: 'text' | 'json'; /** bytes of each response shown (text format); 0 hides them */ responseBytes?: number },
  out: Output,
): Promise<number> {
  return run(out, async () => {
    const entries = await readerFor(o).readSession(o.sessionId);
    if (!entries) {
      out.write(`no audit log for session ${o.sessionId}\n`);
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
  const t0 = recs[0] ? Date.parse(recs[0].at) : 0;
  const start = recs.find((r) => r.type === 'session.start');
  lines.push(`session ${sessionId}`);
  if (start?.type === 'session.start') {
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
          if (h.body) lines.push(...renderResponse(h.body, responseBytes).map((l) => l.replace(/^(\s*)response /, '$1request body ')));
        }
        // --- end http ---
        break;
      }
      case 'approval':
        lines.push(`${at} approval ${r.approvalId} for ${r.statementId}: ${r.state}${r.reviewer ? ` by ${r.reviewer}` : ''}${r.reason ? ` (${r.reason})` : ''}`);
        break;
      case 'statement.outcome': {
        const rows = r.rows === undefined ? '' : `${r.rows} rows, `;
        const err = r.error ? ` error ${r.error.code}: ${r.error.message}` : '';
        lines.push(`${at} outcome ${r.statementId}: ${r.status}, ${rows}${r.bytes} bytes, ${r.durationMs} ms${err}`);
        // --- http (issue 30) ---
        if (r.http) lines.push(`${' '.repeat(18)}HTTP ${r.http.status}${r.http.headers['content-type'] ? ` ${r.http.headers['content-type']}` : ''}`);
        // --- end http ---
        if (r.masking && r.masking.total > 0) {
          lines.push(`${' '.repeat(18)}masked ${r.masking.total}: ${Object.entries(r.masking.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
        }
        if (r.response) lines.push(...renderResponse(r.response, responseBytes));
        break;
      }
      case 'session.end':
        lines.push(`${at} session end: ${r.reason}; ${r.statements} statements, ${r.bytesIn} bytes in, ${r.bytesOut} bytes out, ${r.durationMs} ms`);
        break;
    }
  }
  lines.push('');
  return `${lines.join('\n')}\n`;
}

function renderResponse(resp: NonNullable<Extract<AuditRecord, { type: 'statement.outcome' }>['response']>, shown: number): string[] {
  const pad = ' '.repeat(18);
  const kept = capturedBytes(resp);
  const head = `${pad}response ${resp.totalBytes} bytes${resp.totalChunks !== undefined ? ` in ${resp.totalChunks} pieces` : ''}, sha256 ${resp.sha256.slice(0, 16)}…, kept ${kept.length}${resp.truncated ? ' (truncated at the cap)' : ''}`;
  if (shown <= 0 || kept.length === 0) return [head];
  const body =
    resp.encoding === 'base64'
      ? kept.subarray(0, shown).toString('hex').replace(/(.{2})/g, '$1 ').trim()
      : kept.subarray(0, shown).toString('utf8');
  return [head, ...body.split('\n').filter((l, i, a) => l || i < a.length - 1).map((l) => `${pad}| ${l}`), ...(kept.length > shown || resp.truncated ? [`${pad}| …`] : [])];
}

export async function auditVerifyCommand(
  o: AuditSourceOptions & { publicKeyFiles?: string[]; sessionIds?: string[]; format?: 'text' | 'json' } & Pick<SessionFilterOptions, 'from' | 'to'>,
  out: Output,
): Promise<number> {
  return run(out, async () => {
    const reader = readerFor(o);
    const keys: KeyObject[] = [];
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
      if (!local || !existsSync(local)) throw new UsageError('no public key: give --public-key FILE');
      keys.push(readPublicKey(local));
      notes.push(`using the public key stored in ${o.dir}; pin a copy kept elsewhere with --public-key for an independent check`);
    }
    const sessionIds =
      o.sessionIds ??
      (o.dir && !o.reader
        ? await createLocalAuditReader(o.dir).sessionIds()
        : (await reader.listSessions({ from: isoOf(o.from, 'from', false) ?? '2000-01-01T00:00:00.000Z', to: isoOf(o.to, 'to', true) })).map((s) => s.sessionId));
    const report = await verifyAuditStore(reader, { publicKey: keys, sessionIds });
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
export async function auditExportCommand(o: AuditSourceOptions & SessionFilterOptions, out: Output): Promise<number> {
  return run(out, async () => {
    const reader = readerFor(o);
    const sessions = await reader.listSessions(toFilter(o));
    for (const s of [...sessions].reverse()) {
      const entries = await reader.readSession(s.sessionId);
      for (const r of records(entries ?? [])) out.write(`${JSON.stringify(r)}\n`);
    }
    return 0;
  });
}
