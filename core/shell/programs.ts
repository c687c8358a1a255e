// What well-known programs do, as far as policy cares. Anything not listed is unknown, and an
// unknown program is opaque: the gateway cannot tell what it will do.
import type { StatementClass } from '../model.js';

export type CommandCategory =
  | 'privilege_escalation'
  | 'destructive_file'
  | 'service_control'
  | 'process_control'
  | 'package_install'
  | 'disk_tool'
  | 'network_exfiltration'
  | 'download_execute'
  | 'system_path_write'
  | 'user_management'
  | 'file_write'
  | 'inline_script';

/** The class each category raises a command to. */
export const CATEGORY_CLASS: Record<CommandCategory, StatementClass> = {
  privilege_escalation: 'privileged',
  destructive_file: 'destructive',
  service_control: 'privileged',
  process_control: 'privileged',
  package_install: 'privileged',
  disk_tool: 'destructive',
  network_exfiltration: 'privileged',
  download_execute: 'opaque',
  system_path_write: 'privileged',
  user_management: 'privileged',
  file_write: 'write',
  inline_script: 'opaque',
};

/** Programs that run another command; each has its own handling in inspect.ts, or is refused. */
export const WRAPPERS = new Set(['sudo', 'doas', 'su', 'env', 'nohup', 'nice', 'timeout', 'command', 'exec', 'xargs', 'ionice', 'stdbuf', 'watch', 'chroot', 'runuser', 'pkexec', 'setsid', 'unbuffer', 'flock', 'strace', 'ltrace', 'time', 'busybox', 'parallel', 'script', 'expect']);

/** Wrappers that change who the command runs as. */
export const ESCALATING = new Set(['sudo', 'doas', 'su', 'runuser', 'pkexec', 'chroot']);

export const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'fish', 'rbash', 'mksh', 'tcsh', 'csh']);
export const INTERPRETERS = new Set(['python', 'python2', 'python3', 'perl', 'ruby', 'node', 'nodejs', 'php', 'lua', 'tclsh', 'Rscript', 'osascript', 'pwsh', 'powershell', 'deno', 'bun', 'gdb', 'vim', 'vi', 'nvim', 'emacs', 'ed', 'ex', 'less', 'more', 'most', 'man', 'pager', 'view', 'nano', 'pico', 'make', 'ansible', 'ssh-agent', 'zip', 'perf', 'valgrind', 'nsenter', 'unshare']);

/** Why an interpreter, editor or pager is refused: it runs code, or shell commands from its prompt. */
export const INTERPRETER_REASON = (name: string): string =>
  /^(less|more|most|man|pager|view|vi|vim|nvim|emacs|nano|pico|ed|ex)$/.test(name)
    ? `\`${name}\` runs shell commands from its prompt (\`!\`)`
    : `\`${name}\` runs code the gateway cannot inspect`;

export const DESTRUCTIVE = new Set(['rm', 'rmdir', 'shred', 'unlink', 'truncate', 'srm', 'wipe']);
export const DISK_TOOLS = new Set([
  'dd', 'fdisk', 'sfdisk', 'gdisk', 'sgdisk', 'cfdisk', 'parted', 'partprobe', 'wipefs', 'mkswap', 'swapon', 'swapoff', 'mount', 'umount',
  'losetup', 'lvremove', 'lvcreate', 'lvextend', 'lvreduce', 'vgremove', 'vgcreate', 'pvremove', 'pvcreate', 'blkdiscard', 'hdparm',
  'cryptsetup', 'mdadm', 'zpool', 'zfs', 'btrfs', 'tune2fs', 'resize2fs', 'e2fsck', 'debugfs', 'xfs_repair',
]);
export const SERVICE_CONTROL = new Set(['systemctl', 'service', 'reboot', 'shutdown', 'halt', 'poweroff', 'init', 'telinit', 'launchctl', 'rc-service', 'supervisorctl', 'docker', 'podman', 'kubectl', 'crontab', 'at', 'iptables', 'ip6tables', 'nft', 'ufw', 'firewall-cmd', 'sysctl', 'modprobe', 'rmmod', 'insmod']);
export const PROCESS_CONTROL = new Set(['kill', 'killall', 'pkill', 'skill', 'renice']);
export const PACKAGE_TOOLS: Record<string, Set<string> | undefined> = {
  // undefined: every use installs or removes; a set: only those sub-commands do.
  'apt-get': new Set(['install', 'remove', 'purge', 'upgrade', 'dist-upgrade', 'autoremove', 'build-dep', 'source', 'update']),
  apt: new Set(['install', 'remove', 'purge', 'upgrade', 'full-upgrade', 'autoremove', 'reinstall', 'update']),
  aptitude: new Set(['install', 'remove', 'purge', 'upgrade', 'full-upgrade', 'safe-upgrade', 'update']),
  dpkg: new Set(['-i', '--install', '-r', '--remove', '-P', '--purge', '--unpack', '--configure']),
  yum: new Set(['install', 'remove', 'erase', 'update', 'upgrade', 'downgrade', 'reinstall', 'localinstall', 'groupinstall']),
  dnf: new Set(['install', 'remove', 'erase', 'update', 'upgrade', 'downgrade', 'reinstall', 'group']),
  rpm: new Set(['-i', '-U', '-F', '-e', '--install', '--upgrade', '--erase', '-ivh', '-Uvh']),
  apk: new Set(['add', 'del', 'upgrade', 'fix']),
  zypper: new Set(['install', 'in', 'remove', 'rm', 'update', 'up', 'dup']),
  pacman: new Set(['-S', '-R', '-U', '-Syu', '-Sy', '-Rs']),
  snap: new Set(['install', 'remove', 'refresh']),
  flatpak: new Set(['install', 'uninstall', 'update']),
  brew: new Set(['install', 'uninstall', 'upgrade', 'reinstall']),
  pip: new Set(['install', 'uninstall', 'download']),
  pip3: new Set(['install', 'uninstall', 'download']),
  pipx: new Set(['install', 'uninstall', 'run']),
  npm: new Set(['install', 'i', 'uninstall', 'ci', 'update', 'exec']),
  npx: undefined,
  yarn: new Set(['add', 'remove', 'install', 'global', 'dlx']),
  gem: new Set(['install', 'uninstall', 'update']),
  cargo: new Set(['install', 'uninstall']),
  go: new Set(['install', 'get']),
};
export const USER_MANAGEMENT = new Set(['useradd', 'userdel', 'usermod', 'adduser', 'deluser', 'groupadd', 'groupdel', 'groupmod', 'passwd', 'chpasswd', 'chage', 'gpasswd', 'visudo', 'vipw', 'setfacl', 'chattr']);
/** Raw network tools: a socket to anywhere is an exfiltration channel. */
export const NETWORK_RAW = new Set(['nc', 'ncat', 'netcat', 'socat', 'telnet', 'ftp', 'tftp', 'ssh', 'scp', 'sftp', 'rsync', 'rclone', 'aws', 'gsutil', 'az']);
export const DOWNLOADERS = new Set(['curl', 'wget', 'fetch', 'aria2c', 'http', 'https', 'lwp-request']);
/** Programs that change files (their targets are examined for system paths). */
export const FILE_WRITERS = new Set(['cp', 'mv', 'install', 'ln', 'mkdir', 'touch', 'chmod', 'chown', 'chgrp', 'tee', 'unzip', 'gzip', 'gunzip', 'bzip2', 'xz', 'patch', 'split', 'csplit', 'mktemp', 'mkfifo', 'mknod', 'rename', 'sync', 'cpio', 'rsync']);

export const SYSTEM_PATHS = ['/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/boot', '/sys', '/proc', '/dev', '/var/lib', '/var/spool', '/root', '/opt', '/srv'];
/** Redirect targets that keep output where it was or discard it (never a program's destination operand: `mv x /dev/null` replaces the device). */
export const HARMLESS_REDIRECTS = new Set(['/dev/null', '/dev/stdout', '/dev/stderr', '/dev/tty', '/dev/fd/1', '/dev/fd/2']);
export const SYSTEM_BIN_DIRS = new Set(['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']);
