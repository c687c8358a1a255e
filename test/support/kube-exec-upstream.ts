// The API server's side of pods/exec, pods/attach and pods/portforward for tests: the WebSocket
// channel protocol (v5/v4 for exec and attach, v4 and the unversioned one for port-forward) in
// front of real processes and real sockets. Each pod is a temporary directory: exec runs the argv
// there (a real /bin/sh for `sh -c …`), under a pty made by util-linux `script` when a tty is asked
// for (resizes are accepted and not applied: `script` cannot be resized from outside), with pipes
// otherwise. A pod's attach target is its "main process", a `/bin/sh` reading commands from stdin,
// started on first attach. Port-forward connects to real loopback TCP servers registered per pod.
//
// `handleUpgrade` can be mounted on any node:http server's 'upgrade' event (the fake API server's
// included); `startKubeExecUpstream` starts a server of its own on a random loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';

const PROTOCOLS = {
  exec: ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
  attach: ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
  portforward: ['v4.channel.k8s.io', 'channel.k8s.io'],
} as const;

const PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/;

export interface SeenRequest {
  subresource: string;
  namespace: string;
  pod: string;
  query: string;
  authorization?: string;
  protocol?: string;
}

export interface KubeExecUpstream {
  /** Handles an upgrade for a pod subresource; false (socket untouched) for any other path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** The pod's working directory (created on first use). */
  podDir(namespace: string, pod: string): string;
  /** Port-forward of `port` on the pod goes to 127.0.0.1:`loopbackPort`. */
  mapPort(namespace: string, pod: string, port: number, loopbackPort: number): void;
  /** Every streaming request that reached the upstream, in order. */
  readonly seen: SeenRequest[];
  close(): void;
}

export interface KubeExecUpstreamOptions {
  /** When set, a request without `Authorization: Bearer <token>` is refused 401 before the upgrade. */
  token?: string;
}

const status = (ok: boolean, message?: string, exitCode?: number) =>
  JSON.stringify(
    ok
      ? { metadata: {}, status: 'Success' }
      : exitCode !== undefined
        ? { metadata: {}, status: 'Failure', message: `command terminated with non-zero exit code: exit status ${exitCode}`, reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] } }
        : { metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 },
  );

const frame = (channel: number, data: Buffer | string) => Buffer.concat([Buffer.from([channel]), typeof data === 'string' ? Buffer.from(data) : data]);
const toBuffer = (d: RawData): Buffer => (Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d));
const bool = (q: URLSearchParams, k: string) => q.has(k) && !['0', 'false'].includes(q.get(k)!.toLowerCase());
const shellQuote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

export function createKubeExecUpstream(opts: KubeExecUpstreamOptions = {}): KubeExecUpstream {
  const root = mkdtempSync(join(tmpdir(), 'kube-exec-upstream-'));
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (offered, req) => ((req as IncomingMessage & { chosen?: string }).chosen ?? false) as string | false });
  const children = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  const ports = new Map<string, number>();
  const mains = new Map<string, ChildProcess>();
  const seen: SeenRequest[] = [];

  const podDir = (namespace: string, pod: string) => {
    const dir = join(root, namespace, pod);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const env = (dir: string) => ({ PATH: '/usr/local/bin:/usr/bin:/bin', HOME: dir, TERM: 'xterm', PS1: '$ ', LANG: 'C.UTF-8' });

  const refuse = (socket: Duplex, code: number, message: string) => {
    const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: code === 401 ? 'Unauthorized' : 'BadRequest', code });
    socket.end(`HTTP/1.1 ${code} ${code === 401 ? 'Unauthorized' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  };

  function exec(ws: WebSocket, protocol: string, namespace: string, pod: string, q: URLSearchParams): void {
    const dir = podDir(namespace, pod);
    const argv = q.getAll('command');
    const tty = bool(q, 'tty');
    const child = tty
      ? spawn('script', ['-qfec', argv.map(shellQuote).join(' '), '/dev/null'], { cwd: dir, env: env(dir) })
      : spawn(argv[0]!, argv.slice(1), { cwd: dir, env: env(dir) });
    children.add(child);
    wire(ws, protocol, child, q, true);
  }

  function attach(ws: WebSocket, protocol: string, namespace: string, pod: string, q: URLSearchParams): void {
    const key = `${namespace}/${pod}`;
    let main = mains.get(key);
    if (!main || main.exitCode !== null) {
      const dir = podDir(namespace, pod);
      main = spawn('/bin/sh', [], { cwd: dir, env: env(dir) });
      children.add(main);
      mains.set(key, main);
    }
    wire(ws, protocol, main, q, false);
  }

  /** Connects the socket's channels to a process; `owned`: the process ends with the socket. */
  function wire(ws: WebSocket, protocol: string, child: ChildProcess, q: URLSearchParams, owned: boolean): void {
    const out = (channel: number) => (d: Buffer) => ws.readyState === WebSocket.OPEN && ws.send(frame(channel, d));
    const onOut = out(1);
    const onErr = out(bool(q, 'stderr') ? 2 : 1);
    if (bool(q, 'stdout')) child.stdout!.on('data', onOut);
    if (bool(q, 'stderr') || bool(q, 'tty')) child.stderr!.on('data', onErr);
    child.stdin!.on('error', () => undefined);
    ws.on('message', (data: RawData) => {
      const m = toBuffer(data);
      if (m[0] === 0 && bool(q, 'stdin')) child.stdin!.write(m.subarray(1));
      else if (m[0] === 255 && m[1] === 0 && protocol.startsWith('v5')) child.stdin!.end();
    });
    const onExit = (code: number | null, signal: string | null) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      // Output still in the pipes goes before the status.
      setTimeout(() => {
        ws.send(frame(3, code === 0 ? status(true) : code !== null ? status(false, undefined, code) : status(false, `terminated by ${signal}`)));
        ws.close(1000);
      }, 20);
    };
    child.once('exit', onExit);
    child.once('error', (err) => {
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(frame(3, status(false, `failed to start: ${err.message}`)));
        ws.close(1000);
      }
    });
    ws.on('close', () => {
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (owned && child.exitCode === null) child.kill('SIGKILL');
    });
  }

  function portforward(ws: WebSocket, namespace: string, pod: string, q: URLSearchParams): void {
    const wanted = q.getAll('ports').flatMap((v) => v.split(',')).map(Number);
    const conns = wanted.map((port, k) => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16LE(port);
      ws.send(frame(2 * k, prefix));
      ws.send(frame(2 * k + 1, prefix));
      const target = ports.get(`${namespace}/${pod}:${port}`);
      if (target === undefined) {
        ws.send(frame(2 * k + 1, `an error occurred forwarding ${port} -> ${port}: nothing listens on port ${port} in pod ${pod}`));
        return undefined;
      }
      const s = connect(target, '127.0.0.1');
      sockets.add(s);
      s.on('data', (d) => ws.readyState === WebSocket.OPEN && ws.send(frame(2 * k, d)));
      s.on('error', (err) => ws.readyState === WebSocket.OPEN && ws.send(frame(2 * k + 1, `an error occurred forwarding ${port} -> ${port}: ${err.message}`)));
      s.on('close', () => {
        sockets.delete(s);
        if ([...conns].every((c) => !c || c.destroyed) && ws.readyState === WebSocket.OPEN) ws.close(1000);
      });
      return s;
    });
    ws.on('message', (data: RawData) => {
      const m = toBuffer(data);
      if (m[0]! % 2 === 0) conns[m[0]! / 2]?.write(m.subarray(1));
    });
    ws.on('close', () => conns.forEach((c) => c?.destroy()));
  }

  return {
    seen,
    podDir,
    mapPort: (namespace, pod, port, loopbackPort) => void ports.set(`${namespace}/${pod}:${port}`, loopbackPort),
    handleUpgrade(req, socket, head) {
      const url = new URL(req.url ?? '/', 'http://x');
      const m = PATH.exec(url.pathname);
      if (!m) return false;
      const [, namespace, pod, sub] = m as unknown as [string, string, string, keyof typeof PROTOCOLS];
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
      const protocol = PROTOCOLS[sub].find((p) => offered.includes(p));
      seen.push({ subresource: sub, namespace: decodeURIComponent(namespace), pod: decodeURIComponent(pod), query: url.search.slice(1), authorization: req.headers.authorization, protocol });
      if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) {
        refuse(socket, 401, 'Unauthorized');
        return true;
      }
      if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || !protocol) {
        refuse(socket, 400, `${sub} needs a WebSocket upgrade with one of ${PROTOCOLS[sub].join(', ')}`);
        return true;
      }
      (req as IncomingMessage & { chosen?: string }).chosen = protocol;
      wss.handleUpgrade(req, socket, head, (ws) => {
        const ns = decodeURIComponent(namespace);
        const p = decodeURIComponent(pod);
        if (sub === 'exec') exec(ws, protocol, ns, p, url.searchParams);
        else if (sub === 'attach') attach(ws, protocol, ns, p, url.searchParams);
        else portforward(ws, ns, p, url.searchParams);
      });
      return true;
    },
    close() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      for (const c of wss.clients) c.terminate();
      wss.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A standalone upstream on a random loopback port: `url` is its base URL (http://127.0.0.1:PORT). */
export async function startKubeExecUpstream(opts: KubeExecUpstreamOptions = {}): Promise<KubeExecUpstream & { url: string; server: Server }> {
  const upstream = createKubeExecUpstream(opts);
  const server = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404 }));
  });
  server.on('upgrade', (req, socket, head) => {
    if (!upstream.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...upstream,
    seen: upstream.seen,
    url: `http://127.0.0.1:${port}`,
    server,
    close() {
      upstream.close();
      server.closeAllConnections();
      server.close();
    },
  };
}
