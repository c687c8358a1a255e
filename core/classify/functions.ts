// Which function calls and operators we can see through. A call is judged by its bare name;
// the schema matters only to decide whether a name may be trusted as the built-in one.
import type { StatementClass } from '../model.js';
import { READ_ONLY_BUILTIN_FAMILIES } from './builtin-families.js';

export interface CallVerdict {
  class: StatementClass;
  reason?: string;
}

/**
 * Built-ins that only compute a value or read what the caller may already read. Trusted only when
 * unqualified or qualified `pg_catalog.` — a `myschema.lower()` is someone's own code.
 * (An unqualified name could be shadowed only by a function created earlier, and creating one is
 * itself classified `opaque`; putting pg_catalog late in search_path is what would allow it.)
 */
const SAFE_FUNCTIONS = new Set<string>([
  // aggregates and window functions
  'count', 'sum', 'avg', 'min', 'max', 'array_agg', 'string_agg', 'json_agg', 'jsonb_agg',
  'json_object_agg', 'jsonb_object_agg', 'bool_and', 'bool_or', 'every', 'bit_and', 'bit_or', 'bit_xor',
  'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'percentile_cont',
  'percentile_disc', 'mode', 'corr', 'covar_pop', 'covar_samp', 'regr_slope', 'regr_intercept', 'regr_count',
  'regr_r2', 'regr_avgx', 'regr_avgy', 'any_value', 'grouping',
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value',
  'last_value', 'nth_value',
  // date and time
  'now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'timeofday', 'date_trunc',
  'date_part', 'extract', 'age', 'make_date', 'make_time', 'make_timestamp', 'make_timestamptz',
  'make_interval', 'to_timestamp', 'to_date', 'to_char', 'to_number', 'date_bin', 'justify_days',
  'justify_hours', 'justify_interval', 'isfinite', 'timezone', 'date_add', 'date_subtract', 'overlaps',
  // strings
  'lower', 'upper', 'initcap', 'length', 'char_length', 'character_length', 'octet_length', 'bit_length',
  'substring', 'substr', 'position', 'strpos', 'btrim', 'ltrim', 'rtrim', 'trim', 'lpad', 'rpad', 'replace',
  'translate', 'concat', 'concat_ws', 'format', 'left', 'right', 'repeat', 'reverse', 'split_part',
  'starts_with', 'regexp_match', 'regexp_matches', 'regexp_replace', 'regexp_split_to_array',
  'regexp_split_to_table', 'regexp_count', 'regexp_instr', 'regexp_like', 'regexp_substr', 'md5', 'sha224',
  'sha256', 'sha384', 'sha512', 'encode', 'decode', 'quote_ident', 'quote_literal', 'quote_nullable', 'ascii',
  'chr', 'to_hex', 'overlay', 'normalize', 'is_normalized', 'unistr', 'string_to_array', 'string_to_table',
  'like_escape', 'similar_to_escape', 'similar_escape', 'textcat', 'casefold', 'ts_rank', 'ts_rank_cd',
  'ts_headline', 'setweight', 'strip', 'numnode', 'querytree',
  // numbers
  'abs', 'ceil', 'ceiling', 'floor', 'round', 'trunc', 'sign', 'sqrt', 'cbrt', 'power', 'pow', 'exp', 'ln',
  'log', 'log10', 'mod', 'div', 'random', 'random_normal', 'pi', 'degrees', 'radians', 'sin', 'cos', 'tan',
  'asin', 'acos', 'atan', 'atan2', 'width_bucket', 'gcd', 'lcm', 'factorial', 'scale', 'trim_scale',
  'gen_random_uuid', 'uuidv4', 'uuidv7',
  // arrays, sets, rows
  'generate_series', 'generate_subscripts', 'unnest', 'array_length', 'array_upper', 'array_lower',
  'cardinality', 'array_position', 'array_positions', 'array_append', 'array_prepend', 'array_cat',
  'array_remove', 'array_replace', 'array_to_string', 'array_dims', 'array_ndims', 'array_fill',
  'array_reverse', 'array_sort', 'to_json', 'to_jsonb', 'row_to_json', 'array_to_json',
  // type conversion spelled as a call
  'int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'text', 'bool', 'date', 'varchar', 'bpchar',
  // session and catalog introspection (reads what the role may read anyway)
  'current_setting', 'current_database', 'current_schema', 'current_schemas', 'current_user', 'session_user',
  'current_role', 'current_catalog', 'user', 'system_user', 'version', 'pg_backend_pid', 'pg_typeof',
  'format_type', 'pg_collation_for', 'pg_is_in_recovery', 'txid_current', 'pg_current_xact_id', 'currval',
  'lastval', 'obj_description', 'col_description', 'shobj_description', 'pg_table_size',
  'pg_relation_size', 'pg_total_relation_size', 'pg_indexes_size', 'pg_database_size', 'pg_size_pretty',
  'pg_size_bytes', 'to_regclass', 'to_regtype', 'to_regproc', 'to_regnamespace', 'to_regrole',
  'pg_postmaster_start_time', 'inet_client_addr', 'inet_server_addr', 'pg_column_size', 'pg_has_role',
  'pg_table_is_visible', 'pg_type_is_visible', 'pg_function_is_visible', 'pg_encoding_to_char',
  'pg_char_to_encoding', 'pg_relation_filenode', 'pg_input_is_valid', 'pg_input_error_info',
  'pg_column_compression', 'pg_relation_is_publishable', 'pg_tablespace_location', 'pg_my_temp_schema',
  'pg_is_other_temp_schema', 'pg_conf_load_time', 'pg_jit_available',
  'pg_opclass_is_visible',
  'pg_operator_is_visible',
  'pg_opfamily_is_visible',
  'pg_partition_ancestors',
  // monitoring: lock graphs, WAL positions and replication lag, transaction ids and snapshots
  'pg_blocking_pids', 'pg_safe_snapshot_blocking_pids', 'pg_wal_lsn_diff', 'pg_current_wal_lsn',
  'pg_current_wal_insert_lsn', 'pg_current_wal_flush_lsn', 'pg_last_wal_receive_lsn', 'pg_last_wal_replay_lsn',
  'pg_last_xact_replay_timestamp', 'pg_walfile_name', 'pg_walfile_name_offset', 'pg_is_wal_replay_paused',
  'txid_current_if_assigned', 'txid_current_snapshot', 'txid_snapshot_xmin', 'txid_snapshot_xmax', 'txid_snapshot_xip',
  'txid_status', 'txid_visible_in_snapshot', 'pg_current_xact_id_if_assigned', 'pg_current_snapshot', 'pg_snapshot_xmin',
  'pg_snapshot_xmax', 'pg_snapshot_xip', 'pg_xact_status', 'pg_visible_in_snapshot', 'mxid_age',
  'pg_xact_commit_timestamp', 'pg_last_committed_xact', 'pg_backup_start_time', 'pg_is_in_backup',
  // ranges and multiranges
  'int4range', 'int8range', 'numrange', 'tsrange', 'tstzrange', 'daterange', 'int4multirange', 'int8multirange',
  'nummultirange', 'tsmultirange', 'tstzmultirange', 'datemultirange', 'isempty', 'lower_inc', 'upper_inc',
  'lower_inf', 'upper_inf', 'range_merge', 'multirange', 'range_agg', 'range_intersect_agg',
  // network addresses
  'host', 'masklen', 'network', 'family', 'inet_same_family', 'inet_merge', 'set_masklen', 'broadcast', 'netmask',
  'hostmask', 'abbrev', 'macaddr8_set7bit', 'cidr', 'inet',
  // waiting only holds this session's own connection (bounded by statement_timeout)
  'pg_sleep', 'pg_sleep_for', 'pg_sleep_until',
  ...READ_ONLY_BUILTIN_FAMILIES,
]);

/** Built-ins that change state but only as ordinary DML would. */
const WRITE_FUNCTIONS = new Map<string, string>([
  ['nextval', 'advances a sequence'],
  ['setval', 'sets a sequence'],
  ['pg_notify', 'sends a notification'],
  ['pg_advisory_lock', 'takes an advisory lock'],
  ['pg_advisory_xact_lock', 'takes an advisory lock'],
  ['pg_try_advisory_lock', 'takes an advisory lock'],
  ['pg_try_advisory_xact_lock', 'takes an advisory lock'],
]);

/**
 * Functions that reach past SQL privileges: the server's files, other backends, the server's
 * configuration, other databases. Matched by bare name whatever the schema, because extensions
 * (dblink, adminpack) install them wherever they are told to.
 */
const PRIVILEGED_FUNCTIONS = new Set<string>([
  'pg_read_file', 'pg_read_binary_file', 'pg_stat_file', 'pg_file_write', 'pg_file_rename', 'pg_file_unlink',
  'pg_file_sync', 'pg_logdir_ls', 'pg_current_logfile', 'loread', 'lowrite',
  'set_config', 'pg_terminate_backend', 'pg_cancel_backend', 'pg_signal_backend', 'pg_reload_conf',
  'pg_rotate_logfile', 'pg_promote', 'pg_switch_wal', 'pg_create_restore_point', 'pg_backup_start',
  'pg_backup_stop', 'pg_start_backup', 'pg_stop_backup', 'pg_drop_replication_slot',
  'pg_copy_physical_replication_slot', 'pg_copy_logical_replication_slot', 'pg_wal_replay_pause',
  'pg_wal_replay_resume', 'pg_import_system_collations', 'pg_log_backend_memory_contexts',
  'pg_stat_reset', 'pg_stat_reset_shared', 'pg_stat_reset_single_table_counters',
  'pg_stat_reset_single_function_counters', 'pg_stat_reset_slru', 'pg_stat_reset_replication_slot',
  'pg_stat_reset_subscription_stats', 'pg_replication_origin_create', 'pg_replication_origin_drop',
  'pg_replication_origin_session_setup', 'pg_sync_replication_slots',
]);
const PRIVILEGED_PREFIXES = ['lo_', 'pg_ls_', 'dblink', 'pg_create_', 'pg_logical_', 'pg_replication_slot'];

/** Built-ins that run SQL handed to them as a string: nothing about the call says what it does. */
const DYNAMIC_SQL_FUNCTIONS = new Set<string>([
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema',
  'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema', 'schema_to_xml', 'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema', 'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema',
]);

const TRUSTED_SCHEMAS = new Set(['pg_catalog']);

/** True for the exact (case-sensitive) name of a built-in this module trusts as read-only. */
export function isTrustedBuiltinName(name: string): boolean {
  return SAFE_FUNCTIONS.has(name) || WRITE_FUNCTIONS.has(name);
}

/**
 * `parts` is the name exactly as the parser produced it (unquoted parts folded to lower case,
 * quoted ones kept): `['pg_catalog', 'lower']` or `['lower']`. Trust needs the exact built-in
 * name — `"LOWER"` is some other function — while distrust by name also catches odd spellings.
 */
export function judgeFunction(parts: string[]): CallVerdict {
  const name = parts[parts.length - 1] ?? '';
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
  const shown = parts.join('.');
  const lower = name.toLowerCase();
  if (PRIVILEGED_FUNCTIONS.has(lower) || PRIVILEGED_PREFIXES.some((p) => lower.startsWith(p))) {
    return { class: 'privileged', reason: `calls ${shown}()` };
  }
  const builtin = schema === undefined || TRUSTED_SCHEMAS.has(schema);
  if (builtin && DYNAMIC_SQL_FUNCTIONS.has(lower)) {
    return { class: 'opaque', reason: `calls ${shown}(), which runs SQL from a string` };
  }
  if (builtin) {
    const write = WRITE_FUNCTIONS.get(name);
    if (write) return { class: 'write', reason: `calls ${shown}() (${write})` };
    if (SAFE_FUNCTIONS.has(name)) return { class: 'read' };
  }
  return { class: 'opaque', reason: `calls ${shown}(), not known to be safe` };
}

/** Built-in operator spellings. Anything else is a user-defined operator, i.e. a user function. */
const SAFE_OPERATORS = new Set<string>([
  '=', '<>', '!=', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '^', '||', '|/', '||/', '@', '&', '|', '#',
  '~', '<<', '>>', '~~', '!~~', '~~*', '!~~*', '~*', '!~', '!~*', '@>', '<@', '&&', '?', '?|', '?&', '->',
  '->>', '#>', '#>>', '#-', '@?', '@@', '@@@', '<->', '<<|', '|>>', '&<', '&>', '&<|', '|&>', '<^', '>^',
  '?#', '?-', '?|', '?-|', '?||', '~=', '<<=', '>>=', '-|-', '!!', '##', '^@',
  'between', 'not between', 'between symmetric', 'not between symmetric',
]);

export function judgeOperator(parts: string[]): CallVerdict {
  // BETWEEN and its variants arrive in upper case: they are syntax, not operator names.
  const written = parts[parts.length - 1] ?? '';
  const op = /^[A-Z ]+$/.test(written) ? written.toLowerCase() : written;
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
  if ((schema === undefined || TRUSTED_SCHEMAS.has(schema)) && SAFE_OPERATORS.has(op)) return { class: 'read' };
  return { class: 'opaque', reason: `uses operator ${parts.join('.')}, not known to be built in` };
}
