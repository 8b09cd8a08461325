#!/usr/bin/env bash
# A second Docker Engine reached over a real SSH hop, for abtui's multi-host docker tests.
# Idempotent. Needs root, and the first engine (bash .ci/docker-up.sh) for its containerd.
#
#   bash .ci/docker-remote-up.sh          start dockerd #2 (own socket, data root, containerd
#                                         namespace) and an sshd on 127.0.0.1:2222 in front of it
#   bash .ci/docker-remote-up.sh --cut    kill every SSH session of the hop (the listener stays):
#                                         what a network blip does to a monitor's connections
#
# The SSH side: a key made here (/root/.ssh/abtui_remote), a Host alias `abtui-remote` in
# /root/.ssh/config, so the engine is `ssh://root@127.0.0.1:2222` to docker-py (and
# `ssh://abtui-remote` to the docker CLI). sshd sets DOCKER_HOST for its sessions (SetEnv), so `docker system dial-stdio` on the
# far side talks to engine #2, not to the first one.
# Logs: /tmp/dockerd2.log, /tmp/sshd-abtui.log.
set -euo pipefail

STATE=/run/abtui-docker2
SOCK=$STATE/docker.sock
DATA=/var/lib/abtui-docker2
SSHD_DIR=/etc/abtui-sshd
PORT=2222
say() { echo "docker-remote-up: $*" >&2; }

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${1:-}" == "--cut" ]]; then
    # sessions are children of the listener; the listener itself carries -f $SSHD_DIR
    listener=$(pgrep -f "sshd -f $SSHD_DIR/sshd_config" | head -n 1 || true)
    [[ -n "$listener" ]] && pkill -KILL -P "$listener" || true
    exit 0
fi

missing=()
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v ip >/dev/null || missing+=(iproute2)
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- engine #2 ----------------------------------------------------------------------------
mkdir -p "$STATE" "$DATA"
if ! DOCKER_HOST=unix://$SOCK docker info >/dev/null 2>&1; then
    driver=$(docker info -f '{{.Driver}}' 2>/dev/null || echo vfs)
    say "starting dockerd #2 ($driver) on $SOCK"
    # its own bridge: a daemon started with --bridge=none deletes docker0, the first engine's
    if ! ip link show abtui-docker2 >/dev/null 2>&1; then
        ip link add name abtui-docker2 type bridge
        ip addr add 172.30.0.1/24 dev abtui-docker2
        ip link set abtui-docker2 up
    fi
    nohup dockerd --host="unix://$SOCK" --data-root="$DATA" --exec-root="$STATE/exec" \
        --pidfile="$STATE/dockerd.pid" --containerd=/run/containerd/containerd.sock \
        --containerd-namespace=abtui2 --containerd-plugins-namespace=abtui2-plugins \
        --storage-driver="$driver" --bridge=abtui-docker2 --iptables=false --ip-masq=false \
        --live-restore >>/tmp/dockerd2.log 2>&1 &
    wait_for 60 env DOCKER_HOST="unix://$SOCK" docker info || { tail -30 /tmp/dockerd2.log >&2; exit 1; }
fi

# ---- the SSH hop --------------------------------------------------------------------------
mkdir -p "$SSHD_DIR" /root/.ssh /run/sshd
chmod 0700 /root/.ssh
[[ -f /root/.ssh/abtui_remote ]] || ssh-keygen -q -t ed25519 -N "" -f /root/.ssh/abtui_remote
[[ -f $SSHD_DIR/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N "" -f "$SSHD_DIR/host_ed25519"
cp /root/.ssh/abtui_remote.pub "$SSHD_DIR/authorized_keys"
chmod 0600 "$SSHD_DIR/authorized_keys"
cat >"$SSHD_DIR/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_ed25519
PidFile $STATE/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 64
MaxStartups 64:30:128
SetEnv DOCKER_HOST=unix://$SOCK
EOF
if ! grep -q "^# abtui-remote" /root/.ssh/config 2>/dev/null; then
    # docker-py passes the URL's port itself (-p), so the key is matched by address too
    cat >>/root/.ssh/config <<EOF

# abtui-remote: the test hop of .ci/docker-remote-up.sh
Host abtui-remote 127.0.0.1
    HostName 127.0.0.1
    User root
    IdentityFile /root/.ssh/abtui_remote
    IdentitiesOnly yes
    StrictHostKeyChecking accept-new
    UserKnownHostsFile /root/.ssh/abtui_known_hosts
    ConnectTimeout 10
    ServerAliveInterval 5
    ServerAliveCountMax 2
    # one SSH connection for every request docker-py makes (docs/scale.md recommends it)
    ControlMaster auto
    ControlPath /run/abtui-docker2/ssh-%C
    ControlPersist 120
Host abtui-remote
    Port $PORT
EOF
    chmod 0600 /root/.ssh/config
fi
if ! pgrep -f "sshd -f $SSHD_DIR/sshd_config" >/dev/null; then
    say "starting sshd on 127.0.0.1:$PORT"
    /usr/sbin/sshd -f "$SSHD_DIR/sshd_config" -E /tmp/sshd-abtui.log
fi
wait_for 30 ssh -o BatchMode=yes abtui-remote true || { tail -20 /tmp/sshd-abtui.log >&2; exit 1; }
say "up: $(DOCKER_HOST=ssh://abtui-remote docker version -f 'engine {{.Server.Version}} over ssh')"
