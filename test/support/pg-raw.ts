// A raw PostgreSQL protocol session through the gateway, for tests that send bytes no client would.
import net from 'node:net';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';

/** A StartupMessage with exactly these parameters (pg-protocol's adds client_encoding by itself). */
export function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.from(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('') + '\0', 'utf8');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

/** A logged-in raw session: start-up, cleartext token, until the first ReadyForQuery. */
export async function loggedIn(port: number, token: string, params: Record<string, string> = {}): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser();
    const onData = (d: Buffer) =>
      parser.parse(d, (m) => {
        if (m.name === 'authenticationCleartextPassword') s.write(serialize.password(token));
        else if (m.name === 'error') reject(new Error(`login failed: ${(m as { message?: string }).message}`));
        else if (m.name === 'readyForQuery') {
          s.off('data', onData);
          resolve();
        }
      });
    s.on('data', onData);
    s.once('error', reject);
    s.write(startupMessage({ user: 'agent', database: 'app', ...params }));
  });
  return s;
}
