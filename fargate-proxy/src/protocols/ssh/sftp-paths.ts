// Where an SFTP path lands, asked of the server itself (SSH_FXP_REALPATH), so policy decides the
// file the server will touch, not the string the agent sent: a symlink inside an allowed directory
// that points outside it, or `..` climbing out, is judged at its destination. The request is then
// sent with the resolved path, so the server touches what was decided (short of the file system
// changing between the two requests, which no proxy can rule out).
import { posix } from 'node:path';
import type { Attributes, SFTPWrapper } from 'ssh2';

export type UpstreamError = Error & { code?: number };

export type ResolvedPath =
  | { path: string }
  /** The server cannot say where the path lands: refuse. */
  | { refuse: string }
  /** The server's own answer (no such file, permission denied): relay it. */
  | { error: UpstreamError };

/**
 * `follows`: the request acts on what a symlink in the last component points to (open, stat,
 * opendir, setstat); otherwise on the name itself (lstat, readlink, remove, rename, mkdir, rmdir,
 * symlink), whose directory is resolved and whose last component is kept.
 */
export async function resolveServerPath(sftp: SFTPWrapper, path: string, follows: boolean): Promise<ResolvedPath> {
  const base = posix.basename(path);
  const keepsName = !follows && base !== '' && base !== '.' && base !== '..' && !path.endsWith('/');
  if (keepsName) return under(sftp, posix.dirname(path), base);
  const whole = await call<string>((cb) => sftp.realpath(path, cb));
  if ('value' in whole) return { path: whole.value };
  // OpenSSH resolves a missing last component (a file about to be created); it fails on a symlink
  // to nothing (open would create its target, wherever that is) and on a missing directory.
  const link = await call<Attributes>((cb) => sftp.lstat(path, cb));
  if ('value' in link) return { refuse: `${path} is a symbolic link to a file that does not exist; where it leads cannot be decided` };
  if (base === '' || base === '.' || base === '..') return { error: whole.error };
  return under(sftp, posix.dirname(path), base);
}

async function under(sftp: SFTPWrapper, dir: string, name: string): Promise<ResolvedPath> {
  const parent = await call<string>((cb) => sftp.realpath(dir, cb));
  if ('error' in parent) return { error: parent.error };
  return { path: posix.join(parent.value, name) };
}

function call<T>(request: (cb: (err: UpstreamError | undefined | null, value: T) => void) => void): Promise<{ value: T } | { error: UpstreamError }> {
  return new Promise((resolve) => request((err, value) => resolve(err ? { error: err } : { value })));
}

