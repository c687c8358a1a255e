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

/** Programs that only read (with the arguments they are usually given). */
export const READ_ONLY = new Set(
  (
    'ls ll cat tac head tail less more grep egrep fgrep rg zgrep zcat bzcat xzcat wc sort uniq cut tr column nl fold ' +
    'echo printf pwd whoami id groups hostname uname date uptime w who last lastlog df du free vmstat iostat mpstat ' +
    'ps pgrep pstree top htop lsof ss netstat ip ifconfig route arp ping traceroute dig nslookup host stat file which ' +
    'whereis type readlink realpath basename dirname diff cmp comm md5sum sha1sum sha256sum sha512sum cksum base64 ' +
    'od hexdump xxd strings jq yq test [ true false sleep seq yes env printenv locale tty getent lsblk blkid findmnt ' +
    'lscpu lsmod lspci lsusb dmesg journalctl nproc timedatectl hostnamectl awk gawk mawk sed tree history ulimit'
  ).split(' '),
);

/** Programs that run the rest of their arguments as another command (after their own options). */
export const WRAPPERS = new Set(['sudo', 'doas', 'env', 'nohup', 'nice', 'ionice', 'timeout', 'time', 'stdbuf', 'exec', 'command', 'builtin', 'xargs', 'watch', 'chroot', 'runuser', 'pkexec', 'setsid', 'unbuffer', 'flock', 'strace', 'ltrace']);

/** Wrappers that change who the command runs as. */
export const ESCALATING = new Set(['sudo', 'doas', 'su', 'runuser', 'pkexec', 'chroot']);

/** Wrapper options that take a value, so the value is not mistaken for the wrapped program. */
export const WRAPPER_VALUE_OPTIONS: Record<string, Set<string>> = {
  sudo: new Set(['-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-T', '-U', '--user', '--group', '--chdir', '--host', '--prompt']),
  doas: new Set(['-u', '-C']),
  env: new Set(['-u', '-C', '-S', '--unset', '--chdir', '--split-string']),
  nice: new Set(['-n', '--adjustment']),
  ionice: new Set(['-c', '-n', '-p', '-t']),
  timeout: new Set(['-s', '-k', '--signal', '--kill-after']),
  stdbuf: new Set(['-i', '-o', '-e']),
  xargs: new Set(['-I', '-L', '-n', '-P', '-s', '-d', '-E', '-a', '--max-args', '--max-procs', '--delimiter', '--arg-file']),
  watch: new Set(['-n', '-d', '--interval']),
  runuser: new Set(['-u', '-g', '-G', '--user', '--group']),
  flock: new Set(['-w', '-E', '--timeout', '--conflict-exit-code']),
  strace: new Set(['-e', '-o', '-p', '-s', '-u']),
  ltrace: new Set(['-e', '-o', '-p', '-s', '-u']),
};

/** Wrappers whose first positional argument is not the program (timeout DURATION, chroot DIR, flock FILE). */
export const WRAPPER_LEADING_ARGS: Record<string, number> = { timeout: 1, chroot: 1, flock: 1 };

export const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'fish', 'busybox']);
export const INTERPRETERS = new Set(['python', 'python2', 'python3', 'perl', 'ruby', 'node', 'nodejs', 'php', 'lua', 'tclsh', 'Rscript', 'osascript', 'pwsh', 'powershell', 'deno', 'bun', 'eval', 'source', '.']);

export const DESTRUCTIVE = new Set(['rm', 'rmdir', 'shred', 'unlink', 'truncate', 'srm', 'wipe']);
export const DISK_TOOLS = new Set([
  'dd', 'fdisk', 'sfdisk', 'gdisk', 'sgdisk', 'cfdisk', 'parted', 'partprobe', 'wipefs', 'mkswap', 'swapon', 'swapoff', 'mount', 'umount',
  'losetup', 'lvremove', 'lvcreate', 'lvextend', 'lvreduce', 'vgremove', 'vgcreate', 'pvremove', 'pvcreate', 'blkdiscard', 'hdparm',
  'cryptsetup', 'mdadm', 'zpool', 'zfs', 'btrfs', 'tune2fs', 'resize2fs', 'e2fsck', 'debugfs', 'xfs_repair',
]);
export const SERVICE_CONTROL = new Set(['systemctl', 'service', 'reboot', 'shutdown', 'halt', 'poweroff', 'init', 'telinit', 'launchctl', 'rc-service', 'supervisorctl', 'docker', 'podman', 'kubectl', 'crontab', 'at', 'iptables', 'ip6tables', 'nft', 'ufw', 'firewall-cmd', 'sysctl', 'modprobe', 'rmmod', 'insmod']);
/** Read-only sub-commands of service tools. */
export const SERVICE_READ_SUBCOMMANDS: Record<string, Set<string>> = {
  systemctl: new Set(['status', 'show', 'list-units', 'list-unit-files', 'list-timers', 'is-active', 'is-enabled', 'is-failed', 'cat', 'list-dependencies']),
  docker: new Set(['ps', 'images', 'logs', 'inspect', 'version', 'info', 'stats', 'top']),
  podman: new Set(['ps', 'images', 'logs', 'inspect', 'version', 'info', 'stats', 'top']),
  kubectl: new Set(['get', 'describe', 'logs', 'top', 'version', 'explain', 'api-resources']),
  crontab: new Set(['-l']),
  iptables: new Set(['-L', '-S', '--list']),
  nft: new Set(['list']),
  sysctl: new Set(['-a']),
};
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
export const FILE_WRITERS = new Set(['cp', 'mv', 'install', 'ln', 'mkdir', 'touch', 'chmod', 'chown', 'chgrp', 'tee', 'tar', 'unzip', 'gzip', 'gunzip', 'bzip2', 'xz', 'zip', 'patch', 'git', 'make', 'vi', 'vim', 'nano', 'emacs', 'ed', 'split', 'csplit', 'mktemp', 'mkfifo', 'mknod', 'rename', 'sync', 'cpio', 'rsync']);

export const SYSTEM_PATHS = ['/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/boot', '/sys', '/proc', '/dev', '/var/lib', '/var/spool', '/root', '/opt', '/srv'];
export const HARMLESS_DEVICES = new Set(['/dev/null', '/dev/stdout', '/dev/stderr', '/dev/tty', '/dev/zero', '/dev/fd/1', '/dev/fd/2']);
export const SYSTEM_BIN_DIRS = new Set(['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']);
