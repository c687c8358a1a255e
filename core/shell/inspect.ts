// Classifies a shell command line for policy: which programs run, what they do (categories), and
// the class of the whole line — the most dangerous class of anything inside it. Anything the
// parser or the program tables cannot vouch for is opaque: unknown programs, computed program
// names, inline scripts, substitutions.
import { posix } from 'node:path';
import { moreDangerous, type StatementClass } from '../model.js';
import { displayWord, expandsVariable, parseShell, type SimpleCommand } from './parse.js';
import {
  CATEGORY_CLASS,
  DESTRUCTIVE,
  DISK_TOOLS,
  DOWNLOADERS,
  ESCALATING,
  FILE_WRITERS,
  HARMLESS_DEVICES,
  INTERPRETERS,
  NETWORK_RAW,
  PACKAGE_TOOLS,
  PROCESS_CONTROL,
  READ_ONLY,
  SERVICE_CONTROL,
  SERVICE_READ_SUBCOMMANDS,
  SHELLS,
  SYSTEM_BIN_DIRS,
  SYSTEM_PATHS,
  USER_MANAGEMENT,
  WRAPPER_LEADING_ARGS,
  WRAPPER_VALUE_OPTIONS,
  WRAPPERS,
  type CommandCategory,
} from './programs.js';

/** What inspection found in one command line (an SSH exec request, or a line typed in a shell). */
export interface CommandInspection {
  class: StatementClass;
  /** Program names run (base names), wrappers such as sudo included, in order of appearance. */
  binaries: string[];
  /** Every word of every command, expansions shown as `$NAME`. */
  argv: string[];
  categories: CommandCategory[];
  /** Something runs as another user (sudo, su, doas, pkexec, runuser, chroot). */
  sudo: boolean;
  /** Files the line writes to (redirect targets, destinations of file tools), as written. */
  paths: string[];
  /** Human-readable reasons for the class. */
  reasons: string[];
  /** The command line as sent. */
  text: string;
}

const BUILTINS = new Set(['cd', 'export', 'unset', 'exit', 'wait', 'jobs', 'umask', 'alias', 'unalias', 'set', 'shopt', 'hash', 'dirs', 'pushd', 'popd', 'logout', ':']);
const OUTPUT_REDIRECTS = new Set(['>', '>>', '&>', '&>>', '>|', '<>']);
const MAX_NESTING = 3;

class Findings {
  cls: StatementClass = 'read';
  readonly binaries: string[] = [];
  readonly argv: string[] = [];
  readonly categories = new Set<CommandCategory>();
  readonly paths: string[] = [];
  readonly reasons: string[] = [];
  sudo = false;

  raise(cls: StatementClass, reason: string): void {
    this.cls = moreDangerous(this.cls, cls);
    if (!this.reasons.includes(reason)) this.reasons.push(reason);
  }
  flag(category: CommandCategory, reason: string): void {
    this.categories.add(category);
    this.raise(CATEGORY_CLASS[category], reason);
  }
}

export function inspectCommand(text: string): CommandInspection {
  const f = new Findings();
  inspectLine(text, f, 0);
  return {
    class: f.cls,
    binaries: [...new Set(f.binaries)],
    argv: f.argv,
    categories: [...f.categories],
    sudo: f.sudo,
    paths: [...new Set(f.paths)],
    reasons: f.reasons,
    text,
  };
}

function inspectLine(text: string, f: Findings, depth: number): void {
  if (depth > MAX_NESTING) return f.raise('opaque', 'shell commands nested too deeply');
  const parsed = parseShell(text);
  for (const r of parsed.opaque) f.raise('opaque', r);
  for (const cmd of parsed.commands) {
    f.argv.push(...cmd.argv.map(displayWord));
    for (const a of cmd.assignments) {
      if (/^(LD_|BASH_ENV=|ENV=|PATH=|PROMPT_COMMAND=|IFS=)/.test(a)) f.raise('opaque', `sets ${a.slice(0, a.indexOf('='))}, which changes what runs`);
    }
    for (const r of cmd.redirects) {
      if (OUTPUT_REDIRECTS.has(r.op) || (r.op === '>&' && !/^\d+$|^-$/.test(r.target))) writes(displayWord(r.target), f, `redirects output to ${displayWord(r.target)}`);
    }
    if (cmd.argv.length) examine(cmd.argv, cmd, f, depth);
  }
}

function writes(path: string, f: Findings, reason: string): void {
  f.paths.push(path);
  if (HARMLESS_DEVICES.has(path)) return;
  if (isSystemPath(path)) f.flag('system_path_write', `writes under a system path: ${path}`);
  else f.flag('file_write', reason);
}

export function isSystemPath(path: string): boolean {
  if (path.startsWith('~') && !path.startsWith('~/') && path !== '~') return true; // another user's home
  if (!path.startsWith('/')) return path.split('/').includes('..') || expandsVariable(path); // cannot tell where it lands
  const p = posix.normalize(path);
  return SYSTEM_PATHS.some((s) => p === s || p.startsWith(`${s}/`)) || p === '/';
}

const positional = (args: string[]): string[] => args.filter((a) => !a.startsWith('-'));

function examine(argv: string[], cmd: SimpleCommand, f: Findings, depth: number): void {
  const word = argv[0]!;
  const shown = displayWord(word);
  if (expandsVariable(word) || /[*?[\]{}]/.test(word)) return f.raise('opaque', `the program name ${shown} is computed when the line runs`);
  let name = word;
  if (word.includes('/')) {
    const dir = posix.dirname(posix.normalize(word));
    name = posix.basename(word);
    if (!SYSTEM_BIN_DIRS.has(dir)) {
      f.binaries.push(name);
      return f.raise('opaque', `runs ${shown}, a program outside the system directories`);
    }
  }
  f.binaries.push(name);
  const args = argv.slice(1);

  if (ESCALATING.has(name) || name === 'su') {
    f.sudo = true;
    f.flag('privilege_escalation', `runs as another user (${name})`);
  }
  if (name === 'su') {
    const c = args.indexOf('-c');
    if (c >= 0 && args[c + 1] !== undefined) inspectLine(args[c + 1]!, f, depth + 1);
    return;
  }
  if (WRAPPERS.has(name)) return unwrap(name, args, cmd, f, depth);
  if (SHELLS.has(name)) return shell(name, args, cmd, f, depth);
  if (INTERPRETERS.has(name)) {
    if (fromDownloader(cmd)) f.flag('download_execute', `pipes a download into ${name}`);
    return f.flag('inline_script', `runs ${name} code the gateway cannot inspect`);
  }
  if (BUILTINS.has(name)) return;
  if (READ_ONLY.has(name)) return readOnly(name, args, cmd, f, depth);
  if (name === 'find') return find(args, cmd, f, depth);
  if (DESTRUCTIVE.has(name)) {
    f.flag('destructive_file', `${name} deletes or overwrites files`);
    for (const p of positional(args)) if (isSystemPath(p)) f.flag('system_path_write', `writes under a system path: ${p}`);
    f.paths.push(...positional(args));
    return;
  }
  if (DISK_TOOLS.has(name) || /^(mkfs|fsck|mke2fs|mkdosfs|mkswap)/.test(name)) {
    if ((name === 'mount' && args.length === 0) || (name === 'swapon' && args.includes('--show'))) return;
    return f.flag('disk_tool', `${name} changes disks or file systems`);
  }
  if (SERVICE_CONTROL.has(name)) {
    const sub = args.find((a) => !a.startsWith('-') || SERVICE_READ_SUBCOMMANDS[name]?.has(a));
    if (sub !== undefined && SERVICE_READ_SUBCOMMANDS[name]?.has(sub)) return;
    return f.flag('service_control', `${name} controls services or the system`);
  }
  if (PROCESS_CONTROL.has(name)) return f.flag('process_control', `${name} signals or reprioritises processes`);
  if (name in PACKAGE_TOOLS) {
    const subs = PACKAGE_TOOLS[name];
    if (!subs || args.some((a) => subs.has(a))) return f.flag('package_install', `${name} installs or removes software`);
    if ((name === 'npm' || name === 'yarn') && args.some((a) => ['run', 'run-script', 'test', 'start', 'x'].includes(a))) {
      return f.flag('inline_script', `${name} runs package scripts`);
    }
    return;
  }
  if (USER_MANAGEMENT.has(name)) return f.flag('user_management', `${name} changes users, groups or permissions`);
  if (NETWORK_RAW.has(name)) return f.flag('network_exfiltration', `${name} opens a connection to another host`);
  if (DOWNLOADERS.has(name)) return downloader(name, args, f);
  if (FILE_WRITERS.has(name)) return fileWriter(name, args, f);
  f.raise('opaque', `${name} is not a program the gateway knows`);
}

function unwrap(name: string, args: string[], cmd: SimpleCommand, f: Findings, depth: number): void {
  const valued = WRAPPER_VALUE_OPTIONS[name];
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (name === 'env' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) {
      if (/^(LD_|BASH_ENV=|PATH=)/.test(a)) f.raise('opaque', `sets ${a.slice(0, a.indexOf('='))}, which changes what runs`);
      i++;
      continue;
    }
    if (!a.startsWith('-') || a === '-') break;
    if (name === 'env' && (a === '-S' || a.startsWith('--split-string'))) f.raise('opaque', 'env -S splits a string into a command');
    i += valued?.has(a) ? 2 : 1;
  }
  i += WRAPPER_LEADING_ARGS[name] ?? 0;
  const rest = args.slice(i);
  if (rest.length) return examine(rest, cmd, f, depth);
  if (ESCALATING.has(name)) f.raise('privileged', `${name} opens a shell as another user`);
}

function shell(name: string, args: string[], cmd: SimpleCommand, f: Findings, depth: number): void {
  const c = args.findIndex((a) => /^-[a-z]*c[a-z]*$/.test(a));
  if (c >= 0) {
    const script = args[c + 1];
    if (script === undefined) return f.raise('opaque', `${name} -c without a command`);
    if (expandsVariable(script)) return f.raise('opaque', `${name} -c runs a computed string`);
    return inspectLine(script, f, depth + 1);
  }
  if (fromDownloader(cmd)) return f.flag('download_execute', `pipes a download into ${name}`);
  if (positional(args).length) return f.raise('opaque', `${name} runs a script file the gateway cannot inspect`);
  f.raise('opaque', `${name} reads commands from its input`);
}

function fromDownloader(cmd: SimpleCommand): boolean {
  for (let p = cmd.pipedFrom; p; p = p.pipedFrom) {
    const prog = p.argv[0] ? posix.basename(p.argv[0]) : '';
    if (DOWNLOADERS.has(prog) || NETWORK_RAW.has(prog)) return true;
  }
  return false;
}

function readOnly(name: string, args: string[], cmd: SimpleCommand, f: Findings, depth: number): void {
  if (name === 'sed' && args.some((a) => a === '-i' || a.startsWith('--in-place') || /^-[a-zA-Z]*i/.test(a))) {
    for (const p of positional(args).slice(1)) writes(p, f, 'sed -i edits files in place');
    return;
  }
  if ((name === 'awk' || name === 'gawk' || name === 'mawk') && args.some((a) => /system\s*\(|\|\s*"|print[^;]*>\s*"/.test(a))) {
    return f.flag('inline_script', `${name} program runs commands or writes files`);
  }
  if (name === 'sed' && args.some((a) => /(^|[;}\s])[0-9,$/]*[we]\s/.test(a) || /\/[we]\s*$/.test(a))) {
    return f.flag('inline_script', 'sed program runs commands or writes files');
  }
  if (name === 'env' || name === 'time') return args.length ? examine(args, cmd, f, depth) : undefined;
}

function find(args: string[], cmd: SimpleCommand, f: Findings, depth: number): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-delete') f.flag('destructive_file', 'find -delete removes files');
    if (a === '-fprint' || a === '-fprintf' || a === '-fls') writes(args[i + 1] ?? '', f, `find ${a} writes a file`);
    if (['-exec', '-execdir', '-ok', '-okdir'].includes(a)) {
      let end = i + 1;
      while (end < args.length && args[end] !== ';' && args[end] !== '+') end++;
      const inner = args.slice(i + 1, end).filter((w) => w !== '{}');
      if (inner.length) examine(inner, cmd, f, depth);
      i = end;
    }
  }
}

function downloader(name: string, args: string[], f: Findings): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1] ?? '';
    if (['-T', '--upload-file', '--post-file', '--body-file'].includes(a) || a.startsWith('--post-file=') || a.startsWith('--body-file=')) {
      f.flag('network_exfiltration', `${name} uploads a file`);
    }
    if ((/^(-d|--data.*|-F|--form.*|--json)$/.test(a) && next.includes('@')) || /^--data[a-z-]*=@/.test(a)) {
      f.flag('network_exfiltration', `${name} sends file contents`);
    }
    if (['-o', '--output', '-O', '--output-document'].includes(a) && next && next !== '-') {
      writes(next, f, `${name} saves a download`);
      i++;
    }
  }
}

function fileWriter(name: string, args: string[], f: Findings): void {
  if (name === 'git') {
    const sub = positional(args)[0];
    if (sub === 'push') return f.flag('network_exfiltration', 'git push sends data to another host');
    if (sub && ['status', 'log', 'diff', 'show', 'branch', 'rev-parse', 'ls-files', 'blame', 'grep', 'describe', 'remote', 'tag', 'shortlog'].includes(sub)) return;
  }
  if (name === 'tar' && args.some((a) => /^-?[a-zA-Z]*t/.test(a) && !/x|c|r|u/.test(a))) return;
  const paths = positional(args);
  const destinations = ['cp', 'mv', 'install', 'ln', 'rsync'].includes(name) ? paths.slice(-1) : name === 'chmod' || name === 'chown' || name === 'chgrp' ? paths.slice(1) : paths;
  if (destinations.length === 0) return f.flag('file_write', `${name} changes files`);
  for (const p of destinations) writes(p, f, `${name} changes files`);
}
