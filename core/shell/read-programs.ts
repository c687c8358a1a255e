// The read class: programs the gateway lets run as `read`, each with the table of options it
// really has (GNU coreutils, procps, util-linux, systemd, git as shipped by Debian/Ubuntu/Amazon
// Linux). An option missing from a table makes the command opaque. Options that make a reading
// program write, execute or change the system are listed with the reason, so a refusal can say
// which part was judged and why. Programs that embed a language (sed, awk, find, git) have a
// check that judges what the embedded program can do.
import { analyzeAwk } from './awk-program.js';
import { has, parseOptions, values, type OptionTable, type ParsedArgs } from './options.js';
import type { CommandCategory } from './programs.js';
import { analyzeSed } from './sed-script.js';

/** What a program check may report. */
export interface Judge {
  opaque(reason: string): void;
  flag(category: CommandCategory, reason: string): void;
  /** A file the command writes (classified by where it lands). */
  writes(path: string, reason: string): void;
  /** A file or tree the command deletes (classified by where it is, like a write). */
  removes(path: string, reason: string): void;
  /** A command the program runs (find -exec, xargs): classified like one typed. */
  run(argv: string[], context: string): void;
}

export interface ReadProgram {
  options: OptionTable;
  /** Options whose value is a file the program writes. */
  outputs?: string[];
  /** Options that leave the read class: option → [category, reason]; `opaque` refuses outright. */
  refuse?: Record<string, [CommandCategory | 'opaque', string]>;
  check?(args: ParsedArgs, j: Judge): void;
  /**
   * No option of this program writes or executes and every operand is an input, so extra words
   * it receives from elsewhere (xargs appends its input, a pattern expands to file names) cannot
   * change its class.
   */
  appendSafe?: boolean;
  /** The first operand is a program (sed script, awk program, jq filter), not a file. */
  codeOperand?: boolean;
  /**
   * The option that keeps the program from starting a pager on a terminal. In an interactive shell
   * the agent's next lines would go to the pager (less saves its input to a file on `s`, runs
   * commands on `!` and `|`), not to bash: the gateway always adds it.
   */
  noPager?: string;
}

const digits = /^-\d+$/;

const GREP: ReadProgram = {
  appendSafe: true,
  options: {
    flags: 'EFGPiyvwxcLloqsbHhnTZzUraRI',
    valued: 'efmABCdD',
    patterns: [digits],
    long:
      'extended-regexp fixed-strings basic-regexp perl-regexp regexp= file= ignore-case no-ignore-case word-regexp line-regexp ' +
      'null-data no-messages invert-match max-count= byte-offset line-number no-line-number line-buffered with-filename no-filename label= ' +
      'only-matching quiet silent binary-files= text directories= devices= recursive dereference-recursive include= exclude= exclude-from= ' +
      'exclude-dir= files-without-match files-with-matches count initial-tab null before-context= after-context= context= color? colour? binary',
  },
};

const CHECKSUM: ReadProgram = { appendSafe: true, options: { flags: 'bctwz', long: 'binary check tag text ignore-missing quiet status strict warn zero' } };

const COMPRESSED_CAT: ReadProgram = { appendSafe: true, options: { flags: 'fqv', long: 'force quiet verbose' } };

/** Sub-commands of service managers that only report. */
const SYSTEMCTL_READ = new Set(['status', 'show', 'list-units', 'list-unit-files', 'list-timers', 'list-sockets', 'list-dependencies', 'list-jobs', 'is-active', 'is-enabled', 'is-failed', 'is-system-running', 'cat', 'get-default', 'show-environment']);

export const READ_PROGRAMS: Record<string, ReadProgram> = {
  ls: {
    appendSafe: true,
    options: {
      flags: 'aAbBcCdDfFgGhHiklLmnNopqQrRsStuUvxXZ1',
      valued: 'IwT',
      long:
        'all almost-all author escape block-size= ignore-backups color? directory dired classify? file-type format= full-time ' +
        'group-directories-first no-group human-readable si dereference-command-line dereference-command-line-symlink-to-dir hide= ' +
        'hyperlink? indicator-style= inode ignore= kibibytes dereference numeric-uid-gid literal hide-control-chars show-control-chars ' +
        'quote-name quoting-style= reverse recursive size sort= time= time-style= tabsize= width= context zero',
    },
  },
  cat: { appendSafe: true, options: { flags: 'AbeEnstTuv', long: 'show-all number-nonblank show-ends number squeeze-blank show-tabs show-nonprinting' } },
  tac: { appendSafe: true, options: { flags: 'br', valued: 's', long: 'before regex separator=' } },
  head: { appendSafe: true, options: { flags: 'qvz', valued: 'cn', patterns: [digits], long: 'bytes= lines= quiet silent verbose zero-terminated' } },
  tail: {
    appendSafe: true,
    options: { flags: 'fFqvz', valued: 'cns', patterns: [/^-\d+[bcl]?f?$/], long: 'bytes= follow? lines= max-unchanged-stats= pid= quiet silent retry sleep-interval= verbose zero-terminated' },
  },
  grep: GREP,
  egrep: GREP,
  fgrep: GREP,
  zgrep: GREP,
  wc: { appendSafe: true, options: { flags: 'clmwL', long: 'bytes chars lines words max-line-length files0-from= total=' } },
  sort: {
    options: {
      flags: 'bdfgiMhnRrVcCsumz',
      valued: 'ktoST',
      long:
        'ignore-leading-blanks dictionary-order ignore-case general-numeric-sort ignore-nonprinting month-sort human-numeric-sort ' +
        'numeric-sort random-sort random-source= reverse sort= version-sort batch-size= check? compress-program= debug files0-from= ' +
        'key= merge output= stable buffer-size= field-separator= temporary-directory= parallel= unique zero-terminated',
    },
    outputs: ['-o', '--output', '-T', '--temporary-directory'],
    refuse: { '--compress-program': ['opaque', '`sort --compress-program` executes a program'] },
  },
  uniq: {
    options: { flags: 'cdDiuz', valued: 'fsw', long: 'count repeated all-repeated? skip-fields= ignore-case skip-chars= unique zero-terminated check-chars= group?' },
    check(a, j) {
      // uniq [INPUT [OUTPUT]]: a second operand is a file uniq writes.
      if (a.operands.length > 2) j.opaque('`uniq` takes at most an input and an output file');
      if (a.operands[1] !== undefined) j.writes(a.operands[1], '`uniq INPUT OUTPUT` writes OUTPUT');
    },
  },
  cut: { appendSafe: true, options: { flags: 'nsz', valued: 'bcdf', long: 'bytes= characters= delimiter= fields= complement only-delimited output-delimiter= zero-terminated' } },
  tr: { options: { flags: 'cCdst', long: 'complement delete squeeze-repeats truncate-set1' } },
  column: { appendSafe: true, options: { flags: 'tnex', valued: 'sco', long: 'table separator= output-separator= columns= fillrows' } },
  nl: { appendSafe: true, options: { flags: 'p', valued: 'bdfhilnsvw' } },
  fold: { appendSafe: true, options: { flags: 'bs', valued: 'w', long: 'bytes spaces width=' } },
  pwd: { options: { flags: 'LP' } },
  whoami: { options: {} },
  id: { appendSafe: true, options: { flags: 'aZgGnruz', long: 'context group groups name real user zero' } },
  groups: { appendSafe: true, options: {} },
  hostname: {
    options: { flags: 'aAdfiIsyb', valued: 'F', long: 'alias all-fqdns domain fqdn long ip-address all-ip-addresses short yp nis boot file=' },
    refuse: { '-b': ['service_control', '`hostname -b` sets the host name'], '--boot': ['service_control', '`hostname --boot` sets the host name'], '-F': ['service_control', '`hostname -F` sets the host name'], '--file': ['service_control', '`hostname --file` sets the host name'] },
    check(a, j) {
      if (a.operands.length) j.flag('service_control', '`hostname NAME` sets the host name');
    },
  },
  uname: { options: { flags: 'asnrvmpio', long: 'all kernel-name nodename kernel-release kernel-version machine processor hardware-platform operating-system' } },
  date: {
    options: { flags: 'uRs', valued: 'dfr', patterns: [/^-I(date|hours|minutes|seconds|ns)?$/], long: 'date= file= iso-8601? rfc-email rfc-3339= reference= utc universal debug set=' },
    refuse: { '-s': ['service_control', '`date -s` sets the system clock'], '--set': ['service_control', '`date --set` sets the system clock'] },
    check(a, j) {
      for (const o of a.operands) if (!o.startsWith('+')) j.flag('service_control', '`date` with a date operand sets the system clock');
    },
  },
  uptime: { options: { flags: 'ps', long: 'pretty since' } },
  w: { options: { flags: 'hiusfo', long: 'no-header ip-addr no-current short from old-style' } },
  who: { options: { flags: 'abdHlmpqrsTtuw', long: 'all boot dead heading login lookup message process count runlevel short time users mesg writable' } },
  last: { options: { flags: 'adFiowx', valued: 'fnst', patterns: [digits], long: 'hostlast dns file= fulltimes ip limit= nohostname since= until= present= fullnames system time-format=' } },
  lastlog: { options: { valued: 'btu', long: 'before= time= user=' } },
  df: {
    appendSafe: true,
    options: { flags: 'ahHiklPT', valued: 'Btx', long: 'all block-size= human-readable si inodes local no-sync portability output? print-type sync total type= exclude-type=' },
  },
  du: {
    appendSafe: true,
    options: {
      flags: 'a0bcDhHklLmPsSx',
      valued: 'BdtX',
      long:
        'null all apparent-size block-size= bytes total dereference-args max-depth= human-readable si inodes dereference count-links ' +
        'no-dereference separate-dirs summarize threshold= time? time-style= exclude-from= exclude= one-file-system files0-from=',
    },
  },
  free: { options: { flags: 'bkmghltwv', valued: 'sc', long: 'bytes kibi mebi gibi tebi kilo mega giga tera human si lohi total wide seconds= count=' } },
  vmstat: { options: { flags: 'afmnsdDtwS', valued: 'pc', long: 'active forks slabs stats disk disk-sum timestamp wide unit= partition=' } },
  nproc: { options: { long: 'all ignore=' } },
  ps: {
    appendSafe: true,
    options: {
      flags: 'AadeFfHjlLMmNrSTvwXxyZc',
      valued: 'CGgOopqstUu',
      long:
        'sort= forest no-headers headers pid= ppid= user= User= group= Group= cols= columns= width= lines= rows= format= sid= tty= deselect cumulative',
    },
    check(a, j) {
      // BSD syntax: one word of letters without a dash (`ps aux`), and process ids.
      for (const o of a.operands) if (!/^[aAcefhjlmrsSTuvwxXLZ]+$/.test(o) && !/^[0-9,]+$/.test(o)) j.opaque(`\`ps\` operand \`${o}\` is not one the gateway knows`);
    },
  },
  pgrep: {
    options: {
      flags: 'lafvwcxnoi',
      valued: 'dgGPsuUtF',
      long: 'list-name list-full full inverse lightweight count exact newest oldest ignore-case delimiter= pgroup= group= parent= session= euid= uid= terminal= pidfile=',
    },
  },
  pstree: { options: { flags: 'aAcglnpsStTuUZ', long: 'arguments ascii compact-not long numeric-sort show-pids show-parents highlight-all show-pgids unicode uid-changes' } },
  top: {
    options: { flags: 'bcHiSsE', valued: 'dnpuUwoO' },
    check(a, j) {
      if (!has(a, '-b')) j.opaque('`top` without `-b` reads keystrokes that kill and renice processes');
    },
  },
  lsof: { appendSafe: true, options: { flags: 'nPlitUVhbwRKXZ', valued: 'pucgadsDrFT', patterns: [/^-i[^ ]*$/] } },
  ss: { options: { flags: 'hVnrmpeoisaltuwxSHO46Z0E', valued: 'fA', long: 'numeric resolve all listening options extended memory processes info summary tcp udp raw unix dccp sctp vsock packet ipv4 ipv6 no-header oneline family= query=' } },
  netstat: { options: { flags: 'anltupexrsicvWgMN46o', long: 'all numeric tcp udp listening program route statistics interfaces extend verbose wide timers' } },
  ip: {
    options: { flags: 's46dhroc', patterns: [/^-(br|brief|j|json|p|pretty|o|oneline|c|color|human|details|stats|statistics|family)$/], stopAtOperand: true },
    check(a, j) {
      const [object, action, ...rest] = a.operands;
      const objects = ['a', 'addr', 'address', 'r', 'ro', 'route', 'l', 'link', 'n', 'neigh', 'neighbour', 'neighbor', 'ru', 'rule', 'maddr', 'maddress', 'netns'];
      if (object === undefined) return j.opaque('`ip` without an object');
      if (!objects.includes(object)) return j.opaque(`\`ip ${object}\` is not an object the gateway knows`);
      if (action !== undefined && !['show', 'list', 'ls', 'lst', 'sh', 's'].includes(action) && !(action === 'get' && object.startsWith('r'))) {
        return j.flag('service_control', `\`ip ${object} ${action}\` changes network configuration`);
      }
      if (rest.some((w) => w.startsWith('-'))) j.opaque('`ip` options after the object are not ones the gateway knows');
    },
  },
  stat: { appendSafe: true, options: { flags: 'LftZ', valued: 'c', long: 'dereference file-system format= printf= terse cached=' } },
  file: { appendSafe: true, options: { flags: 'bcdhiklLNnprsv0S', valued: 'efFmP', long: 'brief mime mime-type mime-encoding dereference no-dereference keep-going raw special-files files-from= separator= exclude= print0 no-buffer' } },
  which: { appendSafe: true, options: { flags: 'as' } },
  whereis: { appendSafe: true, options: { flags: 'bmsulg' } },
  readlink: { appendSafe: true, options: { flags: 'efmnqsvz', long: 'canonicalize canonicalize-existing canonicalize-missing no-newline quiet silent verbose zero' } },
  realpath: { appendSafe: true, options: { flags: 'eLmPqsz', long: 'canonicalize-existing canonicalize-missing logical physical quiet strip no-symlinks zero relative-to= relative-base=' } },
  basename: { appendSafe: true, options: { flags: 'az', valued: 's', long: 'multiple suffix= zero' } },
  dirname: { appendSafe: true, options: { flags: 'z', long: 'zero' } },
  diff: {
    appendSafe: true,
    options: {
      flags: 'qsycuenNaitbwBEZpTrl',
      valued: 'UCDFILSWxX',
      patterns: [digits],
      long:
        'brief report-identical-files context? unified? ed normal rcs side-by-side left-column suppress-common-lines show-c-function ' +
        'show-function-line= label= expand-tabs initial-tab tabsize= suppress-blank-empty new-file unidirectional-new-file ignore-case ' +
        'ignore-file-name-case no-ignore-file-name-case ignore-tab-expansion ignore-trailing-space ignore-space-change ignore-all-space ' +
        'ignore-blank-lines ignore-matching-lines= text strip-trailing-cr recursive no-dereference exclude= exclude-from= starting-file= ' +
        'from-file= to-file= minimal horizon-lines= speed-large-files color? width=',
    },
  },
  cmp: { appendSafe: true, options: { flags: 'blsv', valued: 'in', long: 'print-bytes ignore-initial= verbose bytes= quiet silent' } },
  comm: { appendSafe: true, options: { flags: '123iz', long: 'check-order nocheck-order output-delimiter= total zero-terminated' } },
  md5sum: CHECKSUM,
  sha1sum: CHECKSUM,
  sha224sum: CHECKSUM,
  sha256sum: CHECKSUM,
  sha384sum: CHECKSUM,
  sha512sum: CHECKSUM,
  b2sum: CHECKSUM,
  cksum: { appendSafe: true, options: { flags: 'bctwz', valued: 'al', long: 'algorithm= base64 check length= raw tag untagged zero' } },
  base64: { appendSafe: true, options: { flags: 'di', valued: 'w', long: 'decode ignore-garbage wrap=' } },
  od: { appendSafe: true, options: { flags: 'bcdfiloxsvBDFHILOX', valued: 'AjNSwt', long: 'address-radix= endian= skip-bytes= read-bytes= strings? format= output-duplicates width? traditional' } },
  hexdump: { appendSafe: true, options: { flags: 'bcCdovx', valued: 'efns' } },
  xxd: {
    options: { flags: 'abCEipruhdv', valued: 'cglnosRt', long: 'autoskip bits capitalize ebcdic include plain revert uppercase decimal version' },
    check(a, j) {
      if (a.operands[1] !== undefined) j.writes(a.operands[1], '`xxd INFILE OUTFILE` writes OUTFILE');
    },
  },
  strings: { appendSafe: true, options: { flags: 'afwdo', valued: 'nteT', long: 'all data bytes= radix= encoding= include-all-whitespace print-file-name' } },
  jq: {
    codeOperand: true,
    options: {
      flags: 'ncrjasRCMSeh',
      valued: 'fL',
      long:
        'null-input compact-output raw-output raw-output0 join-output ascii-output slurp raw-input color-output monochrome-output sort-keys ' +
        'exit-status tab indent= seq stream stream-errors from-file= arg== argjson== slurpfile== rawfile== args jsonargs unbuffered',
    },
  },
  tree: { options: { flags: 'adlfxpugshDFvtcUrCAJXnNQ', valued: 'LPIo', long: 'noreport charset= filelimit= dirsfirst du si prune timefmt= sort= gitignore matchdirs' }, outputs: ['-o'] },
  dmesg: {
    noPager: '--nopager',
    options: { flags: 'HkrTtuxdeLwWP', valued: 'fls', long: 'human kernel raw ctime notime userspace decode time-format= color? level= facility= follow follow-new nopager since= until= json' },
  },
  journalctl: {
    noPager: '--no-pager',
    options: {
      flags: 'frqxeakmNb',
      valued: 'unSUpotgDMiF',
      patterns: [/^-b-?\d+$/, digits, /^-n\d+$/],
      long:
        'unit= user-unit= since= until= lines? follow reverse output= output-fields= no-pager pager-end all quiet utc no-hostname ' +
        'priority= identifier= grep= case-sensitive? boot? list-boots dmesg system user directory= file= catalog merge disk-usage ' +
        'header field= fields cursor= after-cursor= show-cursor facility= machine= namespace= no-full full cursor-file= ' +
        'vacuum-size= vacuum-time= vacuum-files= rotate flush sync relinquish-var smart-relinquish-var setup-keys update-catalog',
    },
    outputs: ['--cursor-file'],
    refuse: {
      '--vacuum-size': ['destructive_file', '`journalctl --vacuum-size` deletes journal files'],
      '--vacuum-time': ['destructive_file', '`journalctl --vacuum-time` deletes journal files'],
      '--vacuum-files': ['destructive_file', '`journalctl --vacuum-files` deletes journal files'],
      '--rotate': ['service_control', '`journalctl --rotate` rotates the journal'],
      '--flush': ['service_control', '`journalctl --flush` moves the journal'],
      '--sync': ['service_control', '`journalctl --sync` writes the journal'],
      '--relinquish-var': ['service_control', '`journalctl --relinquish-var` changes where the journal is kept'],
      '--smart-relinquish-var': ['service_control', '`journalctl --smart-relinquish-var` changes where the journal is kept'],
      '--setup-keys': ['service_control', '`journalctl --setup-keys` writes sealing keys'],
      '--update-catalog': ['system_path_write', '`journalctl --update-catalog` rewrites the message catalogue'],
    },
  },
  systemctl: {
    noPager: '--no-pager',
    options: {
      flags: 'alqrt',
      valued: 'tpnoPH',
      long: 'no-pager full all type= state= lines= output= no-legend plain property= value user system quiet failed recursive reverse after before legend= no-ask-password',
    },
    check(a, j) {
      const sub = a.operands[0];
      if (sub !== undefined && !SYSTEMCTL_READ.has(sub)) j.flag('service_control', `\`systemctl ${sub}\` controls services or the system`);
      if (has(a, '-H', '-M')) j.flag('network_exfiltration', '`systemctl -H` acts on another host');
    },
  },
  timedatectl: readOnlySubcommands('timedatectl', ['status', 'show', 'list-timezones', 'timesync-status', 'show-timesync']),
  hostnamectl: readOnlySubcommands('hostnamectl', ['status', 'hostname']),
  localectl: readOnlySubcommands('localectl', ['status', 'list-locales', 'list-keymaps']),
  loginctl: readOnlySubcommands('loginctl', ['list-sessions', 'list-users', 'list-seats', 'show-session', 'show-user', 'session-status', 'user-status', 'seat-status']),
  lscpu: { options: { flags: 'aebcpxyJ', long: 'all extended? bytes json online offline parse? hex physical' } },
  lsblk: { appendSafe: true, options: { flags: 'abdDfilmnOpPrStJzS', valued: 'oeIx', long: 'all bytes nodeps discard fs inverse list perms noheadings output= output-all paths pairs raw scsi tree json sort=' } },
  findmnt: { options: { flags: 'AbcDfklmnrsuJ', valued: 'oOtSTN', long: 'all bytes canonicalize df first-only kernel list mtab noheadings raw fstab json output= options= types= source= target=' } },
  lsmod: { options: {} },
  mount: {
    options: { flags: 'lv', valued: 't', long: 'show-labels verbose types=' },
    check(a, j) {
      if (a.operands.length) j.flag('disk_tool', '`mount` with a device or directory mounts a file system');
    },
  },
  lspci: { options: { flags: 'vnkmtDbxq', valued: 's' } },
  lsusb: { options: { flags: 'vt', valued: 'sd' } },
  getent: { appendSafe: true, options: { flags: 'si', valued: 's', long: 'service= no-idn' } },
  locale: { options: { flags: 'ackmv', long: 'all-locales category-name keyword-name charmaps verbose' } },
  tty: { options: { flags: 's', long: 'silent quiet' } },
  printenv: { appendSafe: true, options: { flags: '0', long: 'null' } },
  seq: { options: { flags: 'w', valued: 'sf', patterns: [/^-\d+(\.\d+)?$/], long: 'equal-width format= separator=' } },
  sleep: { options: {} },
  yes: { options: {} },
  zcat: COMPRESSED_CAT,
  bzcat: COMPRESSED_CAT,
  xzcat: COMPRESSED_CAT,
  ping: { options: { flags: '46nqvDOUdaA', valued: 'cWiwIstQ' } },
  dig: {
    options: { flags: '46mhuv', valued: 'bcpqtxyk' },
    check(a, j) {
      if (has(a, '-k')) j.opaque('`dig -k` reads a key file');
    },
  },
  host: { options: { flags: 'aACdlrsTUvVw46', valued: 'cNRtW' } },
  nslookup: {
    options: {},
    check(a, j) {
      // Without a name (or with `-`) nslookup reads queries from its input: `nslookup < FILE` sends
      // the file's lines to a name server, past the output masking.
      if (a.operands[0] === undefined || a.operands[0] === '-') j.opaque('`nslookup` without a name reads queries from its input');
    },
  },
  'ssh-add': {
    // Only listing the forwarded agent's keys; every other use adds, removes or locks keys.
    options: { flags: 'lLq', valued: 'E' },
    check(a, j) {
      if (!has(a, '-l', '-L') || a.operands.length) j.opaque('`ssh-add` without `-l`/`-L` changes the agent\'s keys');
    },
  },
  crontab: {
    options: { flags: 'lu', valued: 'u' },
    check(a, j) {
      if (!has(a, '-l') || a.operands.length) j.flag('service_control', '`crontab` without `-l` replaces the crontab');
    },
  },
  sed: {
    codeOperand: true,
    options: { flags: 'nErsuz', valued: 'efl', patterns: [/^-i.*$/, /^--in-place(=.*)?$/], long: 'quiet silent expression= file= regexp-extended separate unbuffered null-data posix sandbox debug follow-symlinks line-length= null-data' },
    check(a, j) {
      const scripts = values(a, '-e', '--expression');
      const operands = [...a.operands];
      if (has(a, '-f', '--file')) return j.opaque('`sed -f` runs a script file the gateway cannot read');
      if (scripts.length === 0) {
        const first = operands.shift();
        if (first === undefined) return j.opaque('`sed` without a script');
        scripts.push(first);
      }
      const sed = analyzeSed(scripts.join('\n'));
      if (!sed.ok) return j.opaque(sed.reason);
      if (sed.effects.executes) j.flag('inline_script', sed.effects.executes);
      for (const w of sed.effects.writes) j.writes(w, `\`sed\` with the \`w\` command writes ${w}`);
      if (a.options.some((o) => o.name.startsWith('-i') || o.name.startsWith('--in-place'))) {
        if (operands.length === 0) j.flag('file_write', '`sed -i` edits files in place');
        for (const p of operands) j.writes(p, `\`sed -i\` edits ${p} in place`);
      }
    },
  },
  tar: {
    // Only listing an archive is read-only; tar's other modes write files, and options such as
    // --to-command, --checkpoint-action, -I or a `host:file` archive run programs.
    options: { flags: 'tvzjJ', valued: 'f', long: 'list verbose gzip gunzip bzip2 xz zstd file= numeric-owner force-local wildcards no-wildcards' },
    check(a, j) {
      if (!has(a, '-t', '--list')) return j.opaque('`tar` other than listing (`-t`) writes files or runs programs');
      for (const f of values(a, '-f', '--file')) if (f.includes(':') && !has(a, '--force-local')) j.flag('network_exfiltration', `\`tar -f ${f}\` reaches another host through rsh`);
    },
  },
  awk: awkProgram('awk'),
  gawk: awkProgram('gawk'),
  mawk: awkProgram('mawk'),
};

function readOnlySubcommands(name: string, subs: string[]): ReadProgram {
  return {
    noPager: '--no-pager',
    options: { flags: 'a', long: 'no-pager no-ask-password all value property= full' },
    check(a, j) {
      const sub = a.operands[0];
      if (sub !== undefined && !subs.includes(sub)) j.flag('service_control', `\`${name} ${sub}\` changes the system`);
      // `hostnamectl hostname NAME` sets the name it shows without one.
      if (name === 'hostnamectl' && sub === 'hostname' && a.operands.length > 1) j.flag('service_control', '`hostnamectl hostname NAME` sets the host name');
    },
  };
}

function awkProgram(name: string): ReadProgram {
  return {
    codeOperand: true,
    options: { valued: 'vF', long: 'field-separator= assign= posix traditional lint? sandbox re-interval characters-as-bytes' },
    check(a, j) {
      const program = a.operands[0];
      if (program === undefined) return j.opaque(`\`${name}\` without a program`);
      const r = analyzeAwk(program);
      if (!r.ok) return j.flag('inline_script', r.reason);
    },
  };
}

// find (judged by judgeFind, not a table): the expression is a small language of its own. Tests and actions are listed; -exec and
// friends run their command (classified as if typed, with `{}` as a found file name).
const FIND_FLAGS = new Set([
  '-print', '-print0', '-ls', '-prune', '-quit', '-empty', '-readable', '-writable', '-executable', '-follow', '-xdev', '-mount',
  '-depth', '-not', '!', '(', ')', '-a', '-o', '-and', '-or', '-true', '-false', '-nouser', '-nogroup', '-noleaf', '-daystart', ',',
  '-ignore_readdir_race', '-noignore_readdir_race',
]);
const FIND_VALUED = new Set([
  '-name', '-iname', '-path', '-ipath', '-wholename', '-iwholename', '-regex', '-iregex', '-type', '-xtype', '-size', '-mtime', '-mmin',
  '-atime', '-amin', '-ctime', '-cmin', '-newer', '-anewer', '-cnewer', '-user', '-group', '-uid', '-gid', '-perm', '-maxdepth', '-mindepth',
  '-links', '-inum', '-samefile', '-regextype', '-printf', '-lname', '-ilname', '-used', '-fstype', '-context',
]);
const FIND_WRITERS = new Set(['-fprint', '-fprint0', '-fls', '-fprintf']);
const FIND_EXEC = new Set(['-exec', '-execdir', '-ok', '-okdir']);

export function judgeFind(args: string[], j: Judge): void {
  let i = 0;
  while (i < args.length && /^-[HLP]+$/.test(args[i]!)) i++;
  if (args[i] === '-D' || args[i] === '-O' || /^-O\d$/.test(args[i] ?? '')) return j.opaque('`find -D`/`-O` debug and optimisation options are not ones the gateway knows');
  const start = i;
  while (i < args.length && !args[i]!.startsWith('-') && args[i] !== '(' && args[i] !== '!') i++; // starting points
  const roots = i > start ? args.slice(start, i) : ['.'];
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (FIND_FLAGS.has(a)) continue;
    if (/^-newer[aBcmt][aBcmt]$/.test(a) || FIND_VALUED.has(a)) {
      if (i + 1 >= args.length) return j.opaque(`\`find ${a}\` lacks its value`);
      i++;
      continue;
    }
    if (a === '-delete') {
      for (const root of roots) j.removes(root, `\`find ${root} -delete\` removes files under ${root}`);
      continue;
    }
    if (FIND_WRITERS.has(a)) {
      const path = args[i + 1];
      if (path === undefined) return j.opaque(`\`find ${a}\` lacks its file`);
      j.writes(path, `\`find ${a}\` writes ${path}`);
      i += a === '-fprintf' ? 2 : 1;
      continue;
    }
    if (FIND_EXEC.has(a)) {
      let end = i + 1;
      while (end < args.length && args[end] !== ';' && args[end] !== '+') end++;
      if (end >= args.length) return j.opaque(`\`find ${a}\` without its terminating \`;\` or \`+\``);
      const inner = args.slice(i + 1, end);
      if (inner.length === 0) return j.opaque(`\`find ${a}\` without a command`);
      if (inner[0]!.includes('{}')) return j.opaque(`\`find ${a}\` runs the found file itself as the program`);
      j.run(inner, `\`find ${a}\``);
      i = end;
      continue;
    }
    return j.opaque(`\`find\` has no expression \`${a}\` the gateway knows`);
  }
}

// git: global options, then a sub-command with its own table. Configuration given on the command
// line (`-c`, `--config-env`, `--exec-path`) can name programs git runs (pagers, editors, hooks,
// fsmonitor), so it is refused.
const GIT_GLOBAL: OptionTable = { flags: 'P', valued: 'C', long: 'no-pager no-replace-objects literal-pathspecs no-optional-locks' };
const REV = [digits, /^-n\d+$/];
const LOG_LONG =
  'oneline graph decorate? no-decorate all branches? tags? remotes? stat? shortstat numstat name-only name-status patch no-patch ' +
  'abbrev-commit no-abbrev-commit pretty? format= date= since= after= until= before= author= committer= grep= invert-grep ' +
  'regexp-ignore-case max-count= skip= reverse first-parent merges no-merges follow relative-date color? no-color word-diff? ' +
  'cached staged summary full-history simplify-merges topo-order date-order left-right cherry-pick ignore-all-space ignore-space-change ' +
  'ignore-blank-lines unified= minimal patience histogram diff-filter= raw dirstat? find-renames? find-copies? no-renames ' +
  'abbrev? full-index binary src-prefix= dst-prefix= no-prefix function-context exit-code quiet check ws-error-highlight= show-signature ' +
  'no-walk? boundary ancestry-path decorate-refs= oneline source log-size no-notes notes? mailmap use-mailmap no-ext-diff no-textconv';
const GIT_SUBCOMMANDS: Record<string, OptionTable> = {
  status: { flags: 'sbvuz', patterns: [/^-u(no|normal|all)$/], long: 'short branch porcelain? long verbose untracked-files? ignored? ignore-submodules? column? no-column ahead-behind no-ahead-behind renames no-renames show-stash' },
  log: { flags: 'pqsuMCBWw', valued: 'nSGL', patterns: REV, long: LOG_LONG },
  show: { flags: 'pqsuMCBWw', valued: 'n', patterns: REV, long: LOG_LONG },
  diff: { flags: 'pqsuMCBWwR', valued: 'USG', patterns: [/^-U\d+$/], long: LOG_LONG },
  shortlog: { flags: 'nsec', long: 'numbered summary email committer all group= format=' },
  branch: { flags: 'avrl', long: 'all remotes list verbose contains= no-contains= merged? no-merged? sort= format= show-current points-at= color? no-color column? no-column' },
  tag: { flags: 'ln', patterns: [/^-n\d+$/], long: 'list sort= contains= no-contains= merged? no-merged? points-at= format= column? no-column' },
  remote: { flags: 'v', long: 'verbose' },
  'rev-parse': { flags: 'q', long: 'abbrev-ref? short? verify quiet show-toplevel git-dir absolute-git-dir is-inside-work-tree is-bare-repository show-prefix show-cdup symbolic-full-name all branches? tags? remotes? git-common-dir' },
  'ls-files': { flags: 'cdmoisuktvfz', valued: 'xX', long: 'cached deleted modified others ignored stage unmerged killed exclude= exclude-standard full-name error-unmatch directory no-empty-directory abbrev? debug eol' },
  'ls-tree': { flags: 'dlrtz', long: 'long name-only name-status object-only full-name full-tree abbrev? format=' },
  blame: { flags: 'bcefhlnpstwM', valued: 'L', long: 'line-porcelain porcelain incremental show-email show-name show-number root show-stats date= ignore-rev= abbrev=' },
  describe: { flags: '', long: 'tags all always long abbrev= dirty? exact-match contains first-parent match= exclude=' },
  grep: { flags: 'iIvwaElcLhHnoqzFGP', valued: 'efABC', patterns: [digits], long: 'cached untracked no-index recurse-submodules text ignore-case word-regexp invert-match line-number column files-with-matches name-only files-without-match count heading break only-matching extended-regexp basic-regexp perl-regexp fixed-strings and or not all-match quiet max-depth= threads= function-context show-function' },
  config: { flags: 'lz', long: 'list get= get-all= get-regexp= show-origin show-scope name-only global system local file= null' },
  'cat-file': { flags: 'tpse', long: 'textconv filters batch-check? batch? follow-symlinks' },
  reflog: { flags: 'n', patterns: REV, long: 'oneline date= all' },
  stash: { flags: 'p', long: 'stat patch' },
  version: {},
  'count-objects': { flags: 'vH', long: 'verbose human-readable' },
};

READ_PROGRAMS.git = {
  options: { ...GIT_GLOBAL, stopAtOperand: true },
  check(a, j) {
    const [sub, ...rest] = a.operands;
    if (has(a, '-c', '--config-env', '--exec-path')) return j.opaque('`git -c` sets configuration that can name programs git runs');
    if (sub === undefined) return j.opaque('`git` without a sub-command');
    const table = GIT_SUBCOMMANDS[sub];
    if (table === undefined) {
      if (['push', 'send-email', 'fetch', 'pull', 'clone', 'ls-remote'].includes(sub)) return j.flag('network_exfiltration', `\`git ${sub}\` talks to another host`);
      return j.opaque(`\`git ${sub}\` is not a git sub-command the gateway knows as read-only`);
    }
    if (sub === 'stash' && rest[0] !== 'list' && rest[0] !== 'show') return j.flag('file_write', '`git stash` without `list`/`show` changes the working tree');
    // `git reflog` shows; its other sub-commands delete entries (`expire` by the repository's own
    // gc.reflogExpire, which may be `now`).
    const reflogSub = rest.find((w) => !w.startsWith('-'));
    if (sub === 'reflog' && reflogSub !== undefined && ['expire', 'delete', 'drop', 'write'].includes(reflogSub)) {
      return j.flag('file_write', `\`git reflog ${reflogSub}\` changes the repository's reflogs`);
    }
    if (sub === 'config' && !rest.some((w) => ['--list', '-l', '--get', '--get-all', '--get-regexp'].some((o) => w === o || w.startsWith(`${o}=`)))) {
      return j.flag('file_write', '`git config` without `--list`/`--get` changes configuration');
    }
    if (sub === 'remote' && rest.some((w) => !w.startsWith('-')) && !['show', 'get-url'].includes(rest.find((w) => !w.startsWith('-'))!)) {
      return j.flag('file_write', '`git remote` with a sub-command changes the repository');
    }
    if (sub === 'tag' && !rest.some((w) => w === '-l' || w === '--list') && rest.some((w) => !w.startsWith('-'))) return j.flag('file_write', '`git tag NAME` creates a tag');
    if (sub === 'branch' && !rest.some((w) => ['-l', '--list', '-a', '-r', '--all', '--remotes', '--show-current'].includes(w)) && rest.some((w) => !w.startsWith('-'))) {
      return j.flag('file_write', '`git branch NAME` creates a branch');
    }
    const r = parseOptions(table, rest, `git ${sub}`);
    if (!r.ok) return j.opaque(r.reason);
  },
};
