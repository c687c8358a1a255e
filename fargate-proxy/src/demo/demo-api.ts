// The demo HTTP API behind `npm start`'s `demo-api` target: a small customer service with the
// same synthetic PII as the demo database, an admin area policy keeps agents out of, a search
// that is a read though it is a POST, and a stream of events. It accepts only its own API key,
// which the gateway injects; agents never see it.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { demoSeed } from './seed.js';

export interface DemoApi {
  url: string;
  /** The API key the gateway presents (memory only; `memory:demo-api`). */
  apiKey: string;
  close(): Promise<void>;
}

export async function startDemoApi(o: { host: string; port: number }): Promise<DemoApi> {
  const apiKey = randomBytes(18).toString('base64url');
  const customers = demoSeed().customers.slice(0, 50);
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.headers['x-api-key'] !== apiKey) return json(401, { error: 'a valid X-Api-Key is required' });
    const url = new URL(req.url ?? '/', 'http://demo');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/v1/customers') {
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 10) || 10, 50);
      return json(200, { customers: customers.slice(0, limit), total: customers.length });
    }
    const one = /^\/v1\/customers\/(\d+)$/.exec(path);
    if (one) {
      const c = customers.find((x) => x.id === Number(one[1]));
      if (!c) return json(404, { error: 'no such customer' });
      if (req.method === 'GET') return json(200, c);
      if (req.method === 'PATCH') return json(200, { ...c, ...(JSON.parse(body || '{}') as object) });
      if (req.method === 'DELETE') return json(204, {});
    }
    if (req.method === 'POST' && path === '/v1/search') {
      const q = String((JSON.parse(body || '{}') as { q?: string }).q ?? '').toLowerCase();
      return json(200, { results: customers.filter((c) => c.fullName.toLowerCase().includes(q)).slice(0, 10) });
    }
    if (req.method === 'GET' && path === '/v1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (const c of customers.slice(0, 5)) res.write(`event: signup\ndata: ${JSON.stringify({ id: c.id, email: c.email })}\n\n`);
      return res.end();
    }
    if (path.startsWith('/admin')) return json(200, { area: 'admin', apiKeys: ['rotate', 'revoke'] });
    return json(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${o.host}:${port}`,
    apiKey,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
