// The gateway reads every statement as UTF-8, so it accepts only a client encoding the server
// decodes exactly as it does. In any other (SJIS, BIG5, GBK, GB18030, UHC, JOHAB), a multi-byte
// character's second byte can be a quote or a backslash to one reader and part of a letter to the
// other: the classic way to hide a statement inside what the gateway reads as a string literal.
import { parseStatements } from '../../../../core/classify/parser.js';
import type { StatementInspection } from '../../../../core/model.js';
import { SQLSTATE } from './errors.js';

/** The encoding the gateway and every upstream session use. */
export const CLIENT_ENCODING = 'UTF8';

/** PostgreSQL's spellings of UTF-8 (src/common/encnames.c), as clean_encoding_name leaves them. */
const UTF8_NAMES = new Set(['utf8', 'unicode']);

/** Every other encoding name PostgreSQL knows (encnames.c), cleaned: refused as unsupported, not unknown. */
const OTHER_ENCODINGS = new Set(
  (
    'abc alt big5 euccn eucjis2004 eucjp euckr euctw gb18030 gbk iso88591 iso885910 iso885913 iso885914 ' +
    'iso885915 iso885916 iso88592 iso88593 iso88594 iso88595 iso88596 iso88597 iso88598 iso88599 johab koi8 ' +
    'koi8r koi8u latin1 latin10 latin2 latin3 latin4 latin5 latin6 latin7 latin8 latin9 mskanji muleinternal ' +
    'shiftjis shiftjis2004 sjis sqlascii tcvn tcvn5712 uhc vscii win win1250 win1251 win1252 win1253 win1254 ' +
    'win1255 win1256 win1257 win1258 win866 win874 win932 win936 win949 win950 windows1250 windows1251 ' +
    'windows1252 windows1253 windows1254 windows1255 windows1256 windows1257 windows1258 windows866 windows874 ' +
    'windows932 windows936 windows949 windows950 isoir100 isoir101 isoir109 isoir110 isoir144 isoir148 ' +
    'isoir157 isoir179 koi8ru'
  ).split(' '),
);

/** PostgreSQL's clean_encoding_name: lower case, punctuation dropped (`UTF-8`, `utf_8` → `utf8`). */
const clean = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '');

export interface EncodingRefusal {
  code: string;
  message: string;
  hint: string;
}

const HINT = 'Airlock reads statements as UTF-8 and accepts client_encoding UTF8 only; psql in a C or POSIX locale asks for SQL_ASCII: set PGCLIENTENCODING=UTF8.';

/** Why a requested client encoding is refused, or undefined when it is UTF-8. */
export function clientEncodingRefusal(value: string): EncodingRefusal | undefined {
  const name = clean(value);
  if (UTF8_NAMES.has(name)) return undefined;
  if (OTHER_ENCODINGS.has(name)) return { code: SQLSTATE.featureNotSupported, message: `client_encoding "${value}" is not supported through Airlock`, hint: HINT };
  return { code: SQLSTATE.invalidParameterValue, message: `invalid value for parameter "client_encoding": "${value.slice(0, 64)}"`, hint: HINT };
}

type Node = Record<string, unknown>;

const mayChangeEncoding = (s: StatementInspection): boolean =>
  s.statementTypes.includes('VariableSetStmt') || s.functions.some((f) => f === 'set_config' || f.endsWith('.set_config'));

/**
 * Why statements that would change the session's client encoding are refused: `SET client_encoding`,
 * `SET NAMES`, `set_config('client_encoding', …)` to anything but UTF-8, and `set_config` with a
 * setting name the statement computes. Undefined when none would. Parses again only statements that
 * set something (rare), so the common path costs one scan of the facts.
 */
export function encodingChangeRefusal(sql: string, statements: readonly StatementInspection[]): EncodingRefusal | undefined {
  if (!statements.some(mayChangeEncoding)) return undefined;
  const parsed = parseStatements(sql);
  if (!parsed.ok) return undefined; // the classifier parsed it; a text it cannot parse is refused anyway
  let found: EncodingRefusal | undefined;
  const visit = (value: unknown): void => {
    if (found || typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) return value.forEach(visit);
    const node = value as Node;
    const set = node.VariableSetStmt as Node | undefined;
    if (set && set.name === 'client_encoding' && set.kind === 'VAR_SET_VALUE') found = refusalFor(constantString((set.args as unknown[] | undefined)?.[0]));
    const call = node.FuncCall as Node | undefined;
    if (call && lastName(call.funcname) === 'set_config') {
      const args = (call.args as unknown[] | undefined) ?? [];
      const setting = constantString(args[0]);
      if (setting === undefined) found = { code: SQLSTATE.featureNotSupported, message: 'set_config with a setting name computed at run time is not supported through Airlock: it could change client_encoding', hint: HINT };
      else if (setting.trim().toLowerCase() === 'client_encoding') found = refusalFor(constantString(args[1]));
    }
    for (const child of Object.values(node)) visit(child);
  };
  for (const s of parsed.statements) visit(s.node);
  return found;
}

function refusalFor(value: string | undefined): EncodingRefusal | undefined {
  if (value === undefined) return { code: SQLSTATE.featureNotSupported, message: 'client_encoding can only be set to a constant UTF8 through Airlock', hint: HINT };
  return clientEncodingRefusal(value);
}

function constantString(node: unknown): string | undefined {
  const c = (node as Node | undefined)?.A_Const as Node | undefined;
  const s = (c?.sval as Node | undefined)?.sval;
  return typeof s === 'string' ? s : undefined;
}

function lastName(funcname: unknown): string | undefined {
  const parts = Array.isArray(funcname) ? funcname : [];
  const last = (parts[parts.length - 1] as Node | undefined)?.String as Node | undefined;
  return typeof last?.sval === 'string' ? last.sval.toLowerCase() : undefined;
}
