// The forward half of an exchange: the upstream request (undici, credential injected, routing
// headers gone) and the response back to the agent — decoded, masked, scrubbed of the credential,
// recorded and streamed with backpressure — ending in the request's `statement.outcome`.
import { EventEmitter, once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { ResponseCapture } from '../../../../core/audit/response-capture.js';
import type { HttpAuditSession } from './audit-session.js';
import { bodyKindOf, createTextMasker, type BodyKind } from './body-mask.js';
import { injectCredential, scrubText, StreamScrubber, type InjectedCredential } from './credential.js';
import type { AgentRequest, AgentResponse, ExchangeContext } from './exchange.js';
import { sendProblem } from './exchange.js';
import { agentResponseHeaders, mediaType, upstreamRequestHeaders } from './headers.js';
import type { HttpTarget } from './target.js';

export interface Outgoing {
  method: string;
  path: string;
  query: string;
  body: Buffer;
  requestId: string;
  statementId: string;
  headers: AgentRequest['headers'];
}

export async function forward(x: ExchangeContext, s: HttpAuditSession, target: HttpTarget, o: Outgoing, res: AgentResponse): Promise<void> {
  const { ports } = x;
  const started = Date.now();
  const credRef = 'secret' in target.config.credential ? target.config.credential.secret : undefined;
  const cred: InjectedCredential = injectCredential(target.config.credential, credRef ? await ports.secrets.get(credRef) : undefined);
  const headers = upstreamRequestHeaders(o.headers);
  if (cred.header) headers[cred.header.name] = cred.header.value;
  headers['x-airlock-request-id'] = o.requestId;
  // The upstream request is cancelled when the agent goes away. undici also takes an EventEmitter as
  // its signal: an AbortController with its listener costs ~25 µs per request here, an emitter ~1 µs
  // (bench/findings.md, HTTP, 2026-12-07 17:50).
  const cancel = new EventEmitter();
  let agentGone = false;
  const onClose = () => {
    agentGone = true;
    cancel.emit('abort');
  };
  res.once('close', onClose);
  let upstream;
  try {
    upstream = await target.pool.request({
      method: o.method as 'GET',
      path: `${target.basePath}${o.path}${o.query ? `?${o.query}` : ''}`,
      headers,
      body: o.body.length > 0 || !['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(o.method) ? o.body : undefined,
      signal: cancel,
    });
  } catch (err) {
    const message = scrubText((err as Error).message, cred.revealing);
    ports.audit.appendDeferred?.({ type: 'statement.outcome', sessionId: s.sessionId, statementId: o.statementId, status: 'error', bytes: 0, durationMs: Date.now() - started, error: { code: 'upstream_unreachable', message } });
    sendProblem(res, { status: 502, code: 'upstream_unreachable', title: 'The upstream did not answer', detail: message, requestId: o.requestId });
    return;
  }

  const status = upstream.statusCode;
  const encoding = String(upstream.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  const type = mediaType(upstream.headers['content-type']);
  const masker = s.masker;
  const kind: BodyKind | undefined = bodyKindOf(type);
  const decoder = decoderFor(encoding);
  const noBody = o.method === 'HEAD' || status === 204 || status === 304 || upstream.headers['content-length'] === '0';
  const scrubber = new StreamScrubber(cred.revealing);
  const respHeaders = agentResponseHeaders(upstream.headers as Record<string, string | string[]>, (v) => scrubText(v, cred.revealing));
  const responseCapture = ports.responseCapture?.() ?? new ResponseCapture(0);

  const finish = (statusText: 'ok' | 'error' | 'cancelled', bytes: number, error?: { code: string; message: string }) => {
    s.bytesOut += bytes;
    const summary = masker?.takeSummary();
    const counts: Record<string, number> = { ...(summary?.detectors ?? {}) };
    for (const [k, v] of Object.entries(summary?.columns ?? {})) counts[`key:${k}`] = v;
    if (scrubber.hits) counts.credential = scrubber.hits;
    // Each masked JSON value is counted once under its key, each masked line or text once in `texts`;
    // detector counts are findings (a value may hold several).
    const total = Object.values(summary?.columns ?? {}).reduce((a, b) => a + b, 0) + (summary?.texts ?? 0) + scrubber.hits;
    ports.audit.appendDeferred?.({
      type: 'statement.outcome',
      sessionId: s.sessionId,
      statementId: o.statementId,
      status: statusText,
      bytes,
      durationMs: Date.now() - started,
      ...(error && { error }),
      ...(masker && { masking: { counts, total } }),
      response: responseCapture.finish(),
      http: { status, headers: Object.fromEntries(Object.entries(respHeaders).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])) },
    });
  };

  if (noBody) {
    upstream.body.resume();
    res.writeHead(status, respHeaders);
    res.end();
    finish(status >= 500 ? 'error' : 'ok', 0);
    return;
  }
  // What the gateway cannot read (unknown encoding, a type with no masker) is passed or refused per target.
  const inspectable = decoder !== null && (masker === undefined || kind !== undefined);
  if (!inspectable && target.config.uninspectable === 'refuse' && (await hasBytes(upstream.body))) {
    upstream.body.destroy();
    const detail = decoder === null ? `content-encoding "${encoding}" cannot be decoded for inspection` : `content-type "${type || '(none)'}" cannot be inspected`;
    finish('error', 0, { code: 'uninspectable_response', message: detail });
    sendProblem(res, { status: 502, code: 'uninspectable_response', title: 'The response cannot be inspected, and this target refuses what it cannot inspect', detail, requestId: o.requestId });
    return;
  }
  if (!inspectable && encoding !== 'identity') respHeaders['content-encoding'] = encoding;
  res.writeHead(status, respHeaders);

  let source: Readable = upstream.body;
  if (inspectable && decoder) {
    source = upstream.body.pipe(decoder);
    upstream.body.on('error', (e) => decoder.destroy(e));
  }
  const text = inspectable && masker && kind ? { dec: new StringDecoder('utf8'), m: createTextMasker(kind, masker, x.listener.maxMaskTokenBytes) } : undefined;
  let bytes = 0;
  const send = async (buf: Buffer) => {
    const out = scrubber.push(buf);
    if (out.length === 0) return;
    bytes += out.length;
    // Masked text is recorded as text (readable in replay); anything else as bytes.
    responseCapture.add(text ? out.toString('utf8') : out);
    if (!(res as ServerResponse).write(out)) await once(res as NodeJS.EventEmitter, 'drain');
  };
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (res.destroyed) break;
      await send(text ? Buffer.from(text.m.push(text.dec.write(chunk)), 'utf8') : chunk);
    }
    if (text) await send(Buffer.from(text.m.push(text.dec.end()) + text.m.end(), 'utf8'));
    const rest = scrubber.end();
    if (rest.length) {
      bytes += rest.length;
      responseCapture.add(text ? rest.toString('utf8') : rest);
      (res as ServerResponse).write(rest);
    }
    res.end();
    res.off('close', onClose);
    finish(status >= 500 ? 'error' : 'ok', bytes);
  } catch (err) {
    const cancelled = res.destroyed || agentGone;
    finish(cancelled ? 'cancelled' : 'error', bytes, { code: cancelled ? 'agent_gone' : 'upstream_body_failed', message: scrubText((err as Error).message, cred.revealing) });
    res.destroy();
  }
}

/** Waits for the body's first bytes (left in the stream) or its end: an empty body needs no inspection. */
async function hasBytes(body: Readable): Promise<boolean> {
  if (body.readableLength > 0) return true;
  if (body.readableEnded) return false;
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      body.off('readable', onReadable);
      body.off('end', onEnd);
      body.off('error', onEnd);
      resolve(v);
    };
    // 'readable' with nothing buffered is the end of the stream.
    const onReadable = () => done(body.readableLength > 0);
    const onEnd = () => done(false);
    body.once('readable', onReadable);
    body.once('end', onEnd);
    body.once('error', onEnd);
  });
}

/** A decompressor for the response's content-encoding; undefined for identity, null when unknown. */
function decoderFor(encoding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined | null {
  switch (encoding) {
    case 'identity':
    case '':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      return null;
  }
}
