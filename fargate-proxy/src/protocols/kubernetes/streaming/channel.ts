// The Kubernetes channel protocol over WebSocket (k8s.io/apimachinery wsstream, kubelet's
// remotecommand and portforward): every binary message is one byte naming the channel, then data.
// exec/attach: 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status as JSON; the last message),
// 4 resize (`{"Width":W,"Height":H}`). v5 adds 255, the close signal: `[255, n]` says channel n
// ended (kubectl sends `[255, 0]` at the end of its stdin). Port-forward: for the k-th port of the
// request, channel 2k carries its data and 2k+1 its errors; the server's first message on each
// begins with the port as two bytes, little-endian.
// Only the binary protocols are spoken; the base64 ones (`base64.channel.k8s.io`) and the unnumbered
// v1–v3 error formats are not offered.

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
export const CLOSE = 255;

export const V5 = 'v5.channel.k8s.io';
export const V4 = 'v4.channel.k8s.io';
/** The protocol the kubelet's WebSocket port-forward also answers to (no version prefix). */
export const V1 = 'channel.k8s.io';

/** What each subresource speaks, preferred first. */
export const PROTOCOLS = {
  exec: [V5, V4],
  attach: [V5, V4],
  // kubelet's WebSocket port-forward answers v4 and the unversioned protocol; no close signal.
  portforward: [V4, V1],
} as const;

/** The first protocol of ours the client offers (clients list theirs by preference, but ours decides). */
export function chooseProtocol(offered: Iterable<string>, ours: readonly string[]): string | undefined {
  const set = new Set(offered);
  return ours.find((p) => set.has(p));
}

export function frame(channel: number, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  body.copy(out, 1);
  return out;
}

export function parseFrame(message: Buffer): { channel: number; data: Buffer } | undefined {
  if (message.length === 0) return undefined;
  return { channel: message[0]!, data: message.subarray(1) };
}

export function portPrefix(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port, 0);
  return b;
}

/** metav1.Status, as the API server and kubelet write it. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { reason: string; message: string }[] };
}

export function success(): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
}

export function failure(code: number, reason: string, message: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** A command that exited non-zero: kubectl exits with the same code. */
export function exitStatus(exitCode: number): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** The exit code a Status reports: 0 for Success, the ExitCode cause for NonZeroExitCode, else undefined. */
export function exitCodeOf(s: Partial<Status>): number | undefined {
  if (s.status === 'Success') return 0;
  const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
  return cause && /^\d+$/.test(cause.message) ? Number(cause.message) : undefined;
}

/** A terminal size from the resize channel, or undefined when it is not one. */
export function parseResize(data: Buffer): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(data.toString('utf8')) as { Width?: unknown; Height?: unknown };
    const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffff;
    return ok(v.Width) && ok(v.Height) ? { width: v.Width, height: v.Height } : undefined;
  } catch {
    return undefined;
  }
}
