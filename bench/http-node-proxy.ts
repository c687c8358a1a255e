// The floor for a Node.js HTTP gateway: node:http in, an undici keep-alive pool out, the response
// piped back — the same two libraries Airlock's HTTP engine uses, with no token, policy, audit or
// masking. Run as its own process so its CPU time is measured like the gateway's:
//   node dist/bench/http-node-proxy.js --upstream http://127.0.0.1:8080 --port 0
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1]!;
const pool = new Pool(arg('--upstream'), { connections: 64, pipelining: 1 });

const server = http.createServer(async (req, res) => {
  try {
    const up = await pool.request({ method: req.method as 'GET', path: req.url ?? '/', headers: { accept: String(req.headers.accept ?? '*/*') } });
    const headers: Record<string, string> = {};
    const type = up.headers['content-type'];
    if (typeof type === 'string') headers['content-type'] = type;
    res.writeHead(up.statusCode, headers);
    for await (const chunk of up.body) if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
    res.end();
  } catch {
    res.destroy();
  }
});
server.on('connection', (s) => s.setNoDelay(true));
server.listen(Number(arg('--port')), '127.0.0.1', () => {
  console.log(`http-node-proxy listening on 127.0.0.1:${(server.address() as AddressInfo).port}`);
});
