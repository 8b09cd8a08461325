#!/usr/bin/env bash
# Bring up a Docker Engine for abtui's docker tests (CI and this kind of VM). Idempotent.
#
#   bash .ci/docker-up.sh            start containerd + dockerd unless `docker info` already works
#   bash .ci/docker-up.sh --restart  restart the dockerd this script started (containers survive:
#                                    --live-restore, and containerd runs on its own)
#
# dockerd runs with --live-restore, as on a shared GPU server, so that a daemon restart does not
# kill the arms. Storage driver: overlay2 when the kernel/filesystem allow it, else vfs.
# Logs: /tmp/dockerd.log, /tmp/containerd.log. Needs root (apt-get, dockerd).
set -euo pipefail

STATE=/var/run/abtui-docker
DOCKERD_PID=$STATE/dockerd.pid
CONTAINERD_PID=$STATE/containerd.pid
CONTAINERD_SOCK=/run/containerd/containerd.sock
DOCKER_SOCK=/var/run/docker.sock
LOG=/tmp/dockerd.log

say() { echo "docker-up: $*" >&2; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_engine() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v busybox >/dev/null || missing+=(busybox-static)
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

start_containerd() {
    alive "$CONTAINERD_PID" && return 0
    say "starting containerd"
    nohup containerd >>/tmp/containerd.log 2>&1 &
    echo $! >"$CONTAINERD_PID"
    wait_for 30 test -S "$CONTAINERD_SOCK" || { tail -20 /tmp/containerd.log >&2; exit 1; }
}

start_dockerd() {  # start_dockerd <storage-driver>
    local driver=$1
    say "starting dockerd (storage driver $driver)"
    echo "$driver" >"$STATE/storage-driver"
    nohup dockerd --live-restore --containerd="$CONTAINERD_SOCK" \
        --storage-driver="$driver" --host="unix://$DOCKER_SOCK" \
        --pidfile="$DOCKERD_PID.daemon" >>"$LOG" 2>&1 &
    echo $! >"$DOCKERD_PID"
    if wait_for 60 docker info; then
        return 0
    fi
    say "dockerd with $driver did not come up"
    kill "$(cat "$DOCKERD_PID")" 2>/dev/null || true
    wait_for 20 bash -c "! kill -0 $(cat "$DOCKERD_PID")" || true
    return 1
}

stop_dockerd() {
    alive "$DOCKERD_PID" || return 0
    local pid; pid=$(cat "$DOCKERD_PID")
    say "stopping dockerd (pid $pid)"
    kill "$pid"
    wait_for 60 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
    rm -f "$DOCKERD_PID" "$DOCKERD_PID.daemon"
}

mkdir -p "$STATE"
if [[ "${1:-}" == "--restart" ]]; then
    [[ -f "$DOCKERD_PID" ]] || { say "no dockerd started by this script to restart"; exit 1; }
    stop_dockerd
elif docker info >/dev/null 2>&1; then
    docker version
    exit 0
fi

install_engine
start_containerd
if [[ -f "$STATE/storage-driver" ]]; then
    start_dockerd "$(cat "$STATE/storage-driver")"
else
    start_dockerd overlay2 || start_dockerd vfs || { tail -30 "$LOG" >&2; exit 1; }
fi
docker version
