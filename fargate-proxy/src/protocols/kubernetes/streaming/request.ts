// The parameters of an exec, attach or port-forward request, read the way the API server reads
// them (PodExecOptions / PodAttachOptions / PodPortForwardOptions from the query), and the query the
// gateway sends upstream rebuilt from that reading alone: parameters it does not know are dropped,
// booleans are spelled `true`/`false`, so the API server cannot read the request differently from
// the gateway.

export interface ExecParams {
  /** exec: the argv (`command`, in order); attach: empty. */
  command: string[];
  container: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export class BadRequest extends Error {}

/**
 * apimachinery's Convert_Slice_string_To_bool: absent is false; the first value decides, and
 * anything but "0" or "false" (any case) is true — an empty `stdin=` included.
 */
function bool(q: URLSearchParams, name: string): boolean {
  const v = q.getAll(name);
  if (v.length === 0) return false;
  return !(v[0] === '0' || v[0]!.toLowerCase() === 'false');
}

export function parseExecParams(query: URLSearchParams, subresource: 'exec' | 'attach'): ExecParams {
  const command = subresource === 'exec' ? query.getAll('command') : [];
  if (subresource === 'exec' && command.length === 0) throw new BadRequest('you must specify at least one command for the container');
  if (command.some((w) => w.includes('\0'))) throw new BadRequest('the command holds a NUL byte');
  const p = {
    command,
    container: query.get('container') ?? '',
    stdin: bool(query, 'stdin'),
    stdout: bool(query, 'stdout'),
    stderr: bool(query, 'stderr'),
    tty: bool(query, 'tty'),
  };
  if (!p.stdin && !p.stdout && !p.stderr) throw new BadRequest('you must specify at least one of stdin, stdout, stderr');
  return p;
}

export function execQuery(p: ExecParams, command: readonly string[]): string {
  const q = new URLSearchParams();
  for (const w of command) q.append('command', w);
  if (p.container) q.set('container', p.container);
  for (const k of ['stdin', 'stdout', 'stderr', 'tty'] as const) q.set(k, String(p[k]));
  return q.toString();
}

/** `ports`, repeated and/or comma-separated, each 1–65535 in decimal. */
export function parsePorts(query: URLSearchParams): number[] {
  const raw = query.getAll('ports').flatMap((v) => v.split(','));
  if (raw.length === 0) throw new BadRequest('query parameter "ports" is required');
  if (raw.length > 64) throw new BadRequest('at most 64 ports per request');
  return raw.map((s) => {
    if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new BadRequest(`"${s.slice(0, 16)}" is not a port number (1-65535)`);
    return Number(s);
  });
}

export function portsQuery(ports: readonly number[]): string {
  const q = new URLSearchParams();
  for (const p of ports) q.append('ports', String(p));
  return q.toString();
}

/** The subresource's path on the API server below its base URL. */
export function subresourcePath(namespace: string, pod: string, subresource: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/${subresource}`;
}
