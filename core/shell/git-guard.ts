// git reads configuration from the repository it runs in (.git/config, and what that includes), and
// some configuration names programs git runs for read-only commands: `core.fsmonitor` on every
// status or diff, `core.pager`/`pager.<cmd>`, hooks (`post-index-change` when status refreshes
// the index), `gpg.program` with `log.showSignature`, and per-driver programs chosen by
// .gitattributes — `diff.external`, `diff.<driver>.command`/`.textconv`, `filter.<driver>.clean`/
// `.smudge`/`.process`, `merge.<driver>.driver`. A read-only `git log` in a repository someone
// else configured would run them. So every git the gateway forwards runs through one fixed
// script: it drops the environment variables that point git at other configuration or programs,
// ignores the system and global files, refuses (exit 126) when the repository's configuration
// names a driver program — driver names are the repository's own, so no fixed override can reach
// them — and runs git with command-line overrides for every fixed-name key that runs a program.
// The script is a constant, so the classifier recognises the rebuilt form (`sh -c GIT_GUARD git …`)
// and judges it as the git command it wraps.
import { posix } from 'node:path';

/** Configuration keys that name a program for a driver the repository names itself (git config --get-regexp syntax). */
export const DRIVER_PROGRAM_KEYS = '^(filter\\..*\\.(clean|smudge|process)|diff\\.external|diff\\..*\\.(command|textconv)|merge\\..*\\.driver)$';

/** Fixed-name keys that run programs, each set to something that runs none (or only /bin/false). */
export const GIT_OVERRIDES: [string, string][] = [
  ['core.fsmonitor', 'false'],
  ['core.hooksPath', '/dev/null'],
  ['core.pager', 'cat'],
  ['core.editor', 'false'],
  ['sequence.editor', 'false'],
  ['core.sshCommand', 'false'],
  ['core.askPass', 'false'],
  ['core.gitProxy', 'false'],
  ['core.attributesFile', '/dev/null'],
  ['credential.helper', ''],
  ['gpg.program', 'false'],
  ['gpg.openpgp.program', 'false'],
  ['gpg.x509.program', 'false'],
  ['gpg.ssh.program', 'false'],
  ['log.showSignature', 'false'],
  ['diff.ignoreSubmodules', 'all'],
  ['status.submoduleSummary', 'false'],
  ['submodule.recurse', 'false'],
  ['protocol.allow', 'never'],
];

/** Variables that point git at other configuration, repositories or programs. */
const GIT_VARIABLES =
  'GIT_DIR GIT_WORK_TREE GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT GIT_EXTERNAL_DIFF GIT_EXEC_PATH GIT_PAGER GIT_SSH ' +
  'GIT_SSH_COMMAND GIT_ASKPASS GIT_EDITOR GIT_SEQUENCE_EDITOR GIT_PROXY_COMMAND GIT_INDEX_FILE GIT_OBJECT_DIRECTORY ' +
  'GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_NAMESPACE GIT_TEMPLATE_DIR GIT_ATTR_SOURCE';

export const GIT_REFUSAL = 'airlock: refused: the repository configuration names programs git would run (filter, diff or merge drivers); not run';

/**
 * `sh -c GIT_GUARD git ARGS…`: `$0` is the git to run, `"$@"` its arguments as judged. The guard
 * reads the configuration where git will (after its `-C` options, in order) without running it.
 */
export const GIT_GUARD = [
  'export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_ATTR_NOSYSTEM=1',
  `unset ${GIT_VARIABLES}`,
  `if ( c=; for a in "$@"; do if [ -n "$c" ]; then cd -- "$a" || exit 1; c=; continue; fi; case $a in -C) c=1;; -*) ;; *) break;; esac; done; "$0" config --get-regexp '${DRIVER_PROGRAM_KEYS}' >/dev/null 2>&1 )`,
  `then echo '${GIT_REFUSAL}' >&2; exit 126; fi`,
  `exec "$0" --no-pager --no-optional-locks ${GIT_OVERRIDES.map(([k, v]) => `-c ${k}=${v}`).join(' ')} "$@"`,
].join('; ');

/** Is `argv` the gateway's own guarded git (`sh -c GIT_GUARD git …`)? Then argv[3…] is the git command. */
export function isGuardedGit(argv: string[]): boolean {
  return argv.length >= 4 && posix.basename(argv[0]!) === 'sh' && argv[1] === '-c' && argv[2] === GIT_GUARD && posix.basename(argv[3]!) === 'git';
}
