// SET / RESET: which run-time settings an agent may change without it mattering to anyone else.
import type { StatementClass } from '../model.js';

/**
 * Settings that shape only this session's own output, planning or time limits. Everything else is
 * `privileged`: it either changes identity (role, session_authorization), weakens integrity
 * (session_replication_role), or is simply not on this list — we fail closed.
 */
const HARMLESS_SETTINGS = new Set<string>([
  'search_path', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout',
  'idle_session_timeout', 'transaction_timeout', 'application_name', 'datestyle', 'intervalstyle', 'timezone',
  'extra_float_digits', 'bytea_output', 'client_min_messages', 'default_transaction_isolation',
  'transaction_isolation', 'default_transaction_read_only', 'default_transaction_deferrable',
  'transaction_read_only', 'transaction_deferrable', 'work_mem', 'maintenance_work_mem', 'temp_buffers',
  'random_page_cost', 'seq_page_cost', 'cpu_tuple_cost', 'cpu_index_tuple_cost', 'cpu_operator_cost',
  'effective_cache_size', 'jit', 'max_parallel_workers_per_gather', 'plan_cache_mode', 'geqo',
  'from_collapse_limit', 'join_collapse_limit', 'cursor_tuple_fraction', 'default_statistics_target',
  'lc_monetary', 'lc_numeric', 'lc_time', 'xmloption', 'row_security', 'synchronous_commit',
  'escape_string_warning', 'array_nulls', 'quote_all_identifiers', 'constraint_exclusion', 'timezone_abbreviations',
  'gin_fuzzy_search_limit', 'default_text_search_config', 'enable_partition_pruning',
  // SET TRANSACTION … / SET SESSION CHARACTERISTICS AS TRANSACTION …
  'transaction', 'session characteristics',
]);

/**
 * Settings harmless only at one value, because any other value makes the server tokenize the
 * statement differently from the gateway's parser (which assumes UTF-8 and standard strings), so
 * a string we read as one literal could hide a statement the server would run.
 */
const SAFE_ONLY_AT = new Map<string, (value: string) => boolean>([
  ['standard_conforming_strings', (v) => ['on', 'true', 'yes', '1'].includes(v)],
  ['client_encoding', (v) => ['utf8', 'utf-8', 'unicode'].includes(v)],
  ['backslash_quote', (v) => ['off', 'false', 'no', '0', 'safe_encoding'].includes(v)],
]);

/** Identity and integrity switches: named in the reason so the approver sees what was asked. */
const IDENTITY_SETTINGS = new Set(['role', 'session_authorization', 'session_replication_role']);

export interface SettingVerdict {
  class: StatementClass;
  reason?: string;
  /** The value takes away a limit the server enforces (see liftsServerLimit). */
  liftsServerLimits?: boolean;
}

const OFF = new Set(['off', 'false', 'no', '0', 'of', 'fa', 'fal', 'fals', 'n']);

/** Timeouts whose 0 means "none": the server stops protecting others from this session. */
const TIMEOUTS = new Set(['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'idle_session_timeout', 'transaction_timeout']);
/** Memory a single sort or hash may take (kB unless a unit is given); above this it can starve the server. */
const MEMORY_SETTINGS = new Set(['work_mem', 'maintenance_work_mem', 'temp_buffers', 'logical_decoding_work_mem']);
const MEMORY_LIMIT_KB = 1024 * 1024; // 1 GB
const UNIT_KB: Record<string, number> = { b: 1 / 1024, kb: 1, mb: 1024, gb: 1024 ** 2, tb: 1024 ** 3 };

/** True for a value that lifts a server-side limit: a zero timeout, a memory setting above 1 GB, hash_mem_multiplier above 8. */
export function liftsServerLimit(setting: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  const m = /^(-?[0-9.]+)\s*([a-z]*)$/.exec(v);
  if (TIMEOUTS.has(setting)) return m !== null && Number(m[1]) <= 0;
  if (MEMORY_SETTINGS.has(setting)) {
    if (!m) return true; // a value we cannot read is not known to be small
    const unit = m[2] === '' ? (setting === 'temp_buffers' ? 8 : 1) : UNIT_KB[m[2]!];
    return unit === undefined || Number(m[1]) * unit > MEMORY_LIMIT_KB;
  }
  if (setting === 'hash_mem_multiplier') return m === null || Number(m[1]) > 8;
  return false;
}

/** Settings whose "off" lets the session write although the gateway opened it read-only. */
const READ_ONLY_SWITCHES = new Set(['default_transaction_read_only', 'transaction_read_only']);

export function judgeSet(kind: string, name: string | undefined, value: string | undefined): SettingVerdict {
  const setting = (name ?? '').toLowerCase();
  if (kind === 'VAR_RESET_ALL') {
    return { class: 'privileged', reason: 'RESET ALL also resets the role' };
  }
  const reset = kind === 'VAR_RESET' || kind === 'VAR_SET_DEFAULT';
  if (IDENTITY_SETTINGS.has(setting)) {
    return { class: 'privileged', reason: `${reset ? 'RESET' : 'SET'} ${setting}` };
  }
  if (!reset && READ_ONLY_SWITCHES.has(setting) && value !== undefined && OFF.has(value.toLowerCase())) {
    return { class: 'write', reason: `SET ${setting} = ${value} lets the session write` };
  }
  if (!reset && liftsServerLimit(setting, value)) {
    return { class: 'read', reason: `SET ${setting} = ${value} lifts a limit the server enforces`, liftsServerLimits: true };
  }
  if (enable_(setting) || HARMLESS_SETTINGS.has(setting) || setting === 'hash_mem_multiplier') return { class: 'read' };
  const safeAt = SAFE_ONLY_AT.get(setting);
  if (safeAt) {
    // Going back to the server default is what the gateway assumes anyway.
    if (reset || (value !== undefined && safeAt(value.toLowerCase()))) return { class: 'read' };
    return { class: 'privileged', reason: `SET ${setting} would make the server parse SQL differently from the gateway` };
  }
  return { class: 'privileged', reason: `SET ${setting || '?'} is not a harmless session setting` };
}

function enable_(setting: string): boolean {
  // Planner switches (enable_seqscan, enable_hashjoin, …) only change plan shapes.
  return /^enable_[a-z_]+$/.test(setting);
}
