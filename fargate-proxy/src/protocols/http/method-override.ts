// A request whose method the upstream would read from its parameters: Rack::MethodOverride (Rails),
// Symfony and Laravel, and Express's method-override turn a POST carrying `_method=DELETE` (in the
// form body, and for Symfony and Laravel in the query too) into a DELETE. The gateway decides on
// the wire method, so such a request has two readings and is refused. (The header spellings,
// `X-HTTP-Method-Override` and kin, are dropped instead: headers.ts.)
import { queryParamNames } from './query-names.js';

const NAME = '_method';

/** Where a `_method` parameter is, or undefined. `contentType` is the media type, lower case. */
export function methodOverrideIn(query: string, contentType: string, body: Buffer): 'query' | 'body' | undefined {
  if (queryParamNames(query).includes(NAME)) return 'query';
  if (body.length === 0) return undefined;
  if (contentType === 'application/x-www-form-urlencoded' && queryParamNames(body.toString('latin1')).includes(NAME)) return 'body';
  // A multipart field may be named in several ways (quoted, RFC 2231, percent-encoded): any mention is enough.
  if (contentType.startsWith('multipart/') && /_method|%5fmethod/i.test(body.toString('latin1'))) return 'body';
  return undefined;
}
