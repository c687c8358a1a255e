// A real upstream HTTP API for the HTTP gateway tests: JSON with synthetic PII, an echo endpoint,
// server-sent events, a large download, compressed answers and a redirect. It demands its own
// credential, and records every request it receives, exactly as it received it.
import http from 'node:http';
import { WebSocketServer } from 'ws';
import https from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const UPSTREAM_TOKEN = 'upstream-Zx9-credential-7c1e2f0a9b';

export const CUSTOMERS = [
  { id: 1, name: 'Ada Example', email: 'ada@example.com', card: '4111 1111 1111 1111', phone: '+1 415 555 0100', ssn: '123-45-6789', plan: 'pro' },
  { id: 2, name: 'Bo Example', email: 'bo.example@example.org', card: '5500 0000 0000 0004', phone: '+44 20 7946 0958', ssn: '987-65-4321', plan: 'free' },
];

export interface UpstreamRequest {
  method: string;
  /** The request target exactly as received. */
  url: string;
  /** The path as this server routes it (percent-decoded once, as node's URL does not). */
  routedPath: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RunningUpstream {
  url: string;
  port: number;
  requests: UpstreamRequest[];
  /** Sizes and hash of the large download. */
  large: { bytes: number; sha256: string };
  /** WebSockets open at /api/ws now. */
  openSockets(): number;
  /** Requests to /api/slow (never answered) whose connection the client closed. */
  slowAbandoned(): number;
  stop(): Promise<void>;
}

export const LARGE_BYTES = 24 * 1024 * 1024;

export async function startHttpUpstream(): Promise<RunningUpstream> {
  const requests: UpstreamRequest[] = [];
  let slowAbandoned = 0;
  // Deterministic pseudo-random bytes, generated per request in 64 KiB blocks (never held whole).
  const block = (i: number) => createHash('sha512').update(`block-${i}`).digest().toString('hex').repeat(512).slice(0, 65536);
  const largeHash = createHash('sha256');
  for (let i = 0; i < LARGE_BYTES / 65536; i++) largeHash.update(block(i));
  const large = { bytes: LARGE_BYTES, sha256: largeHash.digest('hex') };

  const server = http.createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const body = Buffer.concat(parts);
    const rawPath = (req.url ?? '').split('?')[0]!;
    let routedPath: string;
    try {
      routedPath = decodeURIComponent(rawPath);
    } catch {
      routedPath = rawPath;
    }
    requests.push({ method: req.method ?? '', url: req.url ?? '', routedPath, headers: req.headers, body });
    if (req.headers.authorization !== `Bearer ${UPSTREAM_TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized' }));
      return;
    }
    const json = (status: number, value: unknown, headers: http.OutgoingHttpHeaders = {}) => {
      const text = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(text);
    };
    switch (routedPath) {
      case '/api/slow':
        // Never answers: the test sees whether the client gives the request up.
        res.once('close', () => slowAbandoned++);
        return;
      case '/api/customers':
        return json(200, { customers: CUSTOMERS, count: CUSTOMERS.length });
      case '/api/customers.ndjson':
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        for (const c of CUSTOMERS) res.write(`${JSON.stringify(c)}\n`);
        return res.end();
      case '/api/customers.gz': {
        const enc = String(req.headers['accept-encoding'] ?? '').includes('br') ? 'br' : 'gzip';
        const packed = enc === 'br' ? zlib.brotliCompressSync(JSON.stringify({ customers: CUSTOMERS })) : zlib.gzipSync(JSON.stringify({ customers: CUSTOMERS }));
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': enc });
        return res.end(packed);
      }
      case '/api/echo':
        // An upstream that reflects what it got: headers (with its own credential) and body.
        return json(200, { method: req.method, url: req.url, headers: req.headers, body: body.toString('utf8') }, { 'x-debug-auth': String(req.headers.authorization) });
      case '/api/search':
        return json(200, { results: CUSTOMERS.map((c) => ({ id: c.id, name: c.name })) });
      case '/api/orders':
        return json(req.method === 'POST' ? 201 : 200, { ok: true, method: req.method, received: body.length });
      case '/api/events': {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        let n = 0;
        const tick = () => {
          const c = CUSTOMERS[n % CUSTOMERS.length]!;
          res.write(`id: ${n}\nevent: customer\ndata: ${JSON.stringify({ email: c.email, plan: c.plan })}\n\n`);
          if (++n < 3) setTimeout(tick, 150);
          else res.end();
        };
        return tick();
      }
      case '/api/large': {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': LARGE_BYTES });
        let i = 0;
        const pump = () => {
          while (i < LARGE_BYTES / 65536) {
            if (!res.write(block(i++))) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      case '/api/redirect':
        res.writeHead(302, { location: '/api/admin' });
        return res.end();
      case '/api/admin':
        return json(200, { area: 'admin', secret: 'the admin area' });
      case '/api/binary':
        res.writeHead(200, { 'content-type': 'image/png' });
        return res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
      default:
        return json(404, { error: 'not found', path: routedPath });
    }
  });
  // A WebSocket echo at /api/ws: greets with a PII message and the Authorization it got, then echoes.
  // Of the subprotocols offered it prefers `airlock.v2`, wherever it is in the list.
  const wss = new WebSocketServer({ server, path: '/api/ws', handleProtocols: (offered) => (offered.has('airlock.v2') ? 'airlock.v2' : (offered.values().next().value ?? false)), verifyClient: (info: { req: http.IncomingMessage }) => {
    requests.push({ method: 'GET', url: info.req.url ?? '', routedPath: (info.req.url ?? '').split('?')[0]!, headers: info.req.headers, body: Buffer.alloc(0) });
    return info.req.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`;
  } });
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ hello: CUSTOMERS[0]!.email, auth: req.headers.authorization }));
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    large,
    openSockets: () => wss.clients.size,
    slowAbandoned: () => slowAbandoned,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A throwaway CA and a server certificate for 127.0.0.1 (openssl, as the console TLS test does). */
export function makeTestCertificate(): { dir: string; ca: Buffer; certFile: string; keyFile: string; clientCertFile: string; clientKeyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-http-tls-'));
  const file = (n: string) => join(dir, n);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=Airlock test CA', '-keyout', file('ca.key'), '-out', file('ca.crt')]);
  openssl(['req', '-new', ...ec, '-subj', '/CN=localhost', '-keyout', file('tls.key'), '-out', file('tls.csr')]);
  writeFileSync(file('tls.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', file('tls.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('tls.ext'), '-out', file('tls.crt')]);
  // A client certificate from the same CA, for mTLS to an upstream.
  openssl(['req', '-new', ...ec, '-subj', '/CN=airlock-gateway', '-keyout', file('client.key'), '-out', file('client.csr')]);
  writeFileSync(file('client.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  openssl(['x509', '-req', '-in', file('client.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('client.ext'), '-out', file('client.crt')]);
  return { dir, ca: readFileSync(file('ca.crt')), certFile: file('tls.crt'), keyFile: file('tls.key'), clientCertFile: file('client.crt'), clientKeyFile: file('client.key') };
}

/** A server certificate from the test CA of `cert` for `names` (DNS names and `*.` wildcards), with its own CN. */
export function makeHostCertificate(cert: { dir: string }, cn: string, names: string[]): { certFile: string; keyFile: string } {
  const file = (n: string) => join(cert.dir, `${cn}.${n}`);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`, '-keyout', file('key'), '-out', file('csr')]);
  writeFileSync(file('ext'), `subjectAltName=${names.map((n) => (/^[0-9.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', file('csr'), '-CA', join(cert.dir, 'ca.crt'), '-CAkey', join(cert.dir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('ext'), '-out', file('crt')]);
  return { certFile: file('crt'), keyFile: file('key') };
}

/** An HTTPS upstream that demands a client certificate from the test CA and answers with the certificate's subject. */
export async function startMtlsUpstream(cert: ReturnType<typeof makeTestCertificate>): Promise<{ url: string; stop(): Promise<void> }> {
  const server = https.createServer(
    { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile), ca: cert.ca, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client: peer.subject?.CN, path: req.url, auth: req.headers.authorization === `Bearer ${UPSTREAM_TOKEN}` }));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
