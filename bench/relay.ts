// The floor for any Node.js proxy: bytes in, bytes out, nothing parsed. Run as its own process so
// its CPU time and memory are measured like the gateway's:
//   node dist/bench/relay.js --upstream 127.0.0.1:5432   (the bench compiles it: bench/build.ts)
import { connect, createServer, type Server } from 'node:net';
import { pathToFileURL } from 'node:url';

export function startRelay(upstreamHost: string, upstreamPort: number, host = '127.0.0.1', port = 0): Promise<Server> {
  const server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = connect(upstreamPort, upstreamHost);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const target = process.argv[process.argv.indexOf('--upstream') + 1] ?? '';
  const [h, p] = target.split(':');
  const server = await startRelay(h ?? '127.0.0.1', Number(p));
  const addr = server.address();
  console.log(`relay listening on 127.0.0.1:${typeof addr === 'object' && addr ? addr.port : '?'}`);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
