#!/usr/bin/env bash
# Try the SSH gateway in five minutes, without touching a real server: a throw-away OpenSSH server
# on 127.0.0.1 that lets in only a key the gateway holds, and `airlock serve` in front of it with a
# policy that permits read-only commands. Everything lives in a temporary directory, removed at exit.
#
# Commands run on this machine as you (the sshd accepts only your user), so the policy allows only
# commands classified `read` (ls, cat, ps, df, …); everything else is refused before it is sent.
# Needs OpenSSH's server and client: apt-get install openssh-server openssh-client (sshpass helps).
set -euo pipefail
cd "$(dirname "$0")/.."
sshd=/usr/sbin/sshd
[ -x "$sshd" ] || { echo "try-ssh: needs OpenSSH's server ($sshd): apt-get install openssh-server" >&2; exit 1; }
ssh_port=${AIRLOCK_TRY_SSH_PORT:-2222}
target_port=${AIRLOCK_TRY_TARGET_PORT:-2223}
issuer_port=${AIRLOCK_TRY_ISSUER_PORT:-8445}
user=$(id -un)

dir=$(mktemp -d "${TMPDIR:-/tmp}/airlock-try-ssh.XXXXXX")
cleanup() {
  if [ -f "$dir/sshd.pid" ]; then kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -C try-ssh-target -f "$dir/target_host_key"
ssh-keygen -q -t ed25519 -N '' -C try-ssh-gateway -f "$dir/gateway_key"
ssh-keygen -q -t ed25519 -N '' -C try-ssh-airlock -f "$dir/airlock_host_key"
cp "$dir/gateway_key.pub" "$dir/authorized_keys"
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi # OpenSSH's privilege separation directory
cat > "$dir/sshd_config" <<EOF
Port $target_port
ListenAddress 127.0.0.1
HostKey $dir/target_host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $user
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
"$sshd" -f "$dir/sshd_config"

cat > "$dir/try-ssh.cedar" <<'EOF'
@id("try-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource == Airlock::Target::"box");

@id("try-read-commands")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource == Airlock::Target::"box");
EOF
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
cat > "$dir/airlock.yaml" <<EOF
dataDir: data
listeners:
  ssh: { host: 127.0.0.1, port: $ssh_port, hostKeyFiles: [airlock_host_key] }
identity:
  issuer: http://127.0.0.1:$issuer_port
  audience: urn:airlock
  localIssuer: { port: $issuer_port, clients: [{ clientId: agent, clientSecret: "$secret", groups: [agents] }] }
targets:
  - name: box
    kind: ssh
    environment: demo
    host: 127.0.0.1
    port: $target_port
    user: $user
    credential: "file:gateway_key"
    hostKeys: ["$(cut -d' ' -f1,2 "$dir/target_host_key.pub")"]
policy: { file: try-ssh.cedar }
EOF

cat <<EOF
An SSH target "box" (this machine, as $user, through a throw-away sshd on 127.0.0.1:$target_port) is
behind Airlock on 127.0.0.1:$ssh_port; policy allows read-only commands. In a second terminal:

  export AIRLOCK_CONFIG_FILE=$dir/airlock.yaml
  export SSHPASS="\$(npm run -s airlock -- token --client agent)"     # the token is the password
  sshpass -e ssh -p $ssh_port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null box@127.0.0.1 'uname -a; df -h /'   # allowed
  sshpass -e ssh -p $ssh_port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null box@127.0.0.1 'rm -f /tmp/x'       # refused, exit 126
  npm run -s airlock -- sessions; npm run -s airlock -- replay <session id>               # the audit trail

(Without sshpass, run ssh alone and paste the token at the password prompt.) Stop with Ctrl-C:
the sshd and $dir are removed.

EOF
node --import tsx fargate-proxy/src/cli/main.ts serve -c "$dir/airlock.yaml"
