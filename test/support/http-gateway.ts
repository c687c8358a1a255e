// The gateway with its HTTP listener in front of test upstreams, and small clients for it: the
// real curl, Node's fetch (undici), node:http2, and raw sockets for what no client would send.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from './gateway.js';

export const HTTP_TEST_POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_read", resource);
@id("no-admin")
@reason("the admin area is closed to agents")
forbid (principal, action in Airlock::Action::"http_request", resource)
  when { context.path == "/admin" || context.path like "/admin/*" };
@id("orders-need-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_write", resource)
  when { context.path == "/orders" };
@id("websocket-echo")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_write", resource)
  when { context.upgrade == "websocket" && context.path == "/ws" };
@id("no-delete")
@reason("agents do not delete through the API")
forbid (principal, action == Airlock::Action::"http_delete", resource);
`;

export interface HttpTestGateway extends TestGateway {
  httpPort: number;
  base: string;
}

export async function startHttpTestGateway(o: {
  targets: Record<string, unknown>[];
  policy?: string;
  listener?: Record<string, unknown>;
  memorySecrets?: Record<string, string>;
  config?: (raw: Record<string, unknown>) => void;
}): Promise<HttpTestGateway> {
  const gw = await startTestGateway(undefined, {
    targets: o.targets,
    policy: o.policy ?? HTTP_TEST_POLICY,
    memorySecrets: o.memorySecrets,
    config: (raw) => {
      raw.listeners = { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true }, http: { host: '127.0.0.1', port: 0, allowPlaintext: true, ...o.listener } };
      o.config?.(raw);
    },
  });
  const httpPort = gw.gw.http!.port;
  return { ...gw, httpPort, base: `${o.listener?.tls ? 'https' : 'http'}://127.0.0.1:${httpPort}` };
}

export interface CurlResult {
  code: number;
  status: number;
  headers: string;
  body: Buffer;
  stderr: string;
}

/** The real curl; `-D` writes the response headers to stdout before the body, split here. */
export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-D', '-', '--max-time', '20', ...args]);
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const all = Buffer.concat(out);
      // With HTTP/2 or a 100 Continue there may be several header blocks: the last one wins.
      let at = 0;
      let headers = '';
      for (;;) {
        const end = all.indexOf('\r\n\r\n', at);
        if (end < 0 || !/^HTTP\//.test(all.subarray(at, at + 5).toString())) break;
        headers = all.subarray(at, end).toString('latin1');
        at = end + 4;
        if (!/^HTTP\/[0-9.]+ 1\d\d/.test(headers)) break;
      }
      const status = Number(/^HTTP\/[0-9.]+ (\d{3})/.exec(headers)?.[1] ?? 0);
      resolve({ code: code ?? -1, status, headers, body: all.subarray(at), stderr });
    });
  });
}

/** Sends raw bytes on a fresh connection and returns everything the gateway answered before closing (or after `waitMs`). */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, waitMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('close', done);
    s.on('error', done);
  });
}

/** Every byte the gateway wrote under its data directory (audit spool, recordings, issuer keys). */
export function dataDirBytes(dir: string): Buffer {
  const parts: Buffer[] = [];
  const walk = (p: string) => {
    for (const name of readdirSync(p)) {
      const f = join(p, name);
      if (statSync(f).isDirectory()) walk(f);
      else parts.push(readFileSync(f));
    }
  };
  walk(dir);
  return Buffer.concat(parts);
}

/** The audit records of every session, parsed. */
export function auditRecords(dir: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const walk = (p: string) => {
    for (const name of readdirSync(p)) {
      const f = join(p, name);
      if (statSync(f).isDirectory()) walk(f);
      else if (name.endsWith('.jsonl')) {
        for (const line of readFileSync(f, 'utf8').split('\n')) {
          if (!line.trim()) continue;
          try {
            out.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            /* a digest or partial line */
          }
        }
      }
    }
  };
  walk(join(dir, 'data', 'audit'));
  return out;
}

export interface H2WebSocketAnswer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  /** The response body when the opening was refused. */
  body: string;
  stream: http2.ClientHttp2Stream;
  /** Open when the status is 200. */
  ws?: WebSocket;
}

/**
 * A WebSocket over HTTP/2 as a browser opens one (RFC 8441): extended CONNECT with `:protocol
 * websocket` on an existing session, then RFC 6455 frames on the stream, spoken by `ws` as a client
 * (masked frames) on a socket it did not handshake itself.
 */
export async function h2WebSocket(session: http2.ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<H2WebSocketAnswer> {
  if (!session.remoteSettings.enableConnectProtocol) await once(session, 'remoteSettings');
  const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, 'sec-websocket-version': '13', ...headers });
  const [answer] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  const status = Number(answer[':status']);
  if (status !== 200) {
    let body = '';
    for await (const chunk of stream) body += chunk;
    return { status, headers: answer, body, stream };
  }
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket & { _isServer: boolean; setSocket(s: Duplex, head: Buffer, o: object): void })(null, undefined, { closeTimeout: 30_000, autoPong: true });
  ws._isServer = false; // a client: masks what it sends, expects unmasked frames back
  ws.setSocket(stream, Buffer.alloc(0), { maxPayload: 64 * 1024 * 1024 });
  return { status, headers: answer, body: '', stream, ws };
}
