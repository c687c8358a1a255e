// The command line the gateway gives the target for an exec request: the rebuilt command (never
// the agent's text), run by POSIX sh under `env -i` so that nothing from the login environment —
// LD_PRELOAD, BASH_ENV, ENV, PATH additions, PAGER, LESSOPEN, GIT_* — changes what it does. The
// target account's login shell only sees this fixed prefix and one single-quoted word.
import { ALLOWED_VARIABLES } from './inspect.js';
import { quote } from './words.js';

/** The search path programs are found on; no `.` and no user-writable directory. */
export const TARGET_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Pagers are plain `cat`: a pager under a pty would read shell escapes (`!cmd`) the gateway never sees. */
const FIXED_ENV: [string, string][] = [
  ['PATH', TARGET_PATH],
  ['PAGER', 'cat'],
  ['GIT_PAGER', 'cat'],
  ['SYSTEMD_PAGER', 'cat'],
  ['MANPAGER', 'cat'],
  ['LESSSECURE', '1'],
  ['GIT_CONFIG_NOSYSTEM', '1'],
];

/** Variables the target's sshd sets that a decided command may keep, when policy granted what they serve. */
export type InheritedVariable = 'SSH_AUTH_SOCK' | 'DISPLAY';

/**
 * `rebuilt`: an inspection's rebuilt command. `env`: variables the agent asked for (only allowed
 * names pass). HOME is the target account's own (`"$HOME"`, expanded by its login shell), so that
 * `~` and `cd` keep their meaning; `inherit` names more of the target's own (a granted agent or
 * X11 forwarding).
 */
export function targetCommand(rebuilt: string, env: Record<string, string> = {}, inherit: InheritedVariable[] = []): string {
  const vars = [...FIXED_ENV, ...Object.entries(env).filter(([k]) => ALLOWED_VARIABLES.test(k))].map(([k, v]) => `${k}=${quote(v)}`);
  const own = ['HOME', ...inherit].map((k) => `${k}="$${k}"`);
  return `/usr/bin/env -i ${[...own, ...vars].join(' ')} /bin/sh -c ${quote(rebuilt)}`;
}
