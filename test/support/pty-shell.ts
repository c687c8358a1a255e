// An interactive shell with a pty through the gateway, driven from ssh2 the way a terminal would:
// type, then wait for what the screen shows.
import { after } from 'node:test';
import ssh2, { type ClientChannel } from 'ssh2';

export interface PtyShell {
  channel: ClientChannel;
  /** Everything received so far. */
  seen(): string;
  /** Waits (up to 5 s) until the output matches; says whether it did. */
  waitFor(re: RegExp, from?: number): Promise<boolean>;
}

/** Opens `ssh -t box@gateway` as ssh2; the connection ends with the test. */
export async function openPtyShell(port: number, token: string, target = 'box'): Promise<PtyShell> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({ host: '127.0.0.1', port, username: target, password: token, hostVerifier: () => true });
  });
  after(() => client.end());
  const channel = await new Promise<ClientChannel>((resolve, reject) => client.shell({ term: 'xterm', rows: 24, cols: 80 }, (err, c) => (err ? reject(err) : resolve(c))));
  let seen = '';
  channel.on('data', (d: Buffer) => (seen += d.toString()));
  const waitFor = async (re: RegExp, from = 0) => {
    for (let i = 0; i < 200 && !re.test(seen.slice(from)); i++) await new Promise((r) => setTimeout(r, 25));
    return re.test(seen.slice(from));
  };
  return { channel, seen: () => seen, waitFor };
}
