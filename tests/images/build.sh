#!/usr/bin/env bash
# Build the local images abtui's docker tests run (nothing is pulled: no registry is reachable).
#
#   bash tests/images/build.sh [busybox|runner|agent|all]     (default: all)
#
#   abtui-test/busybox  a static busybox root (~2 MB): protocol tests (printing, huge lines,
#                       crashes, sleeps, OOM) that need no Python.
#   abtui-test/agent    the runner plus abtui.telemetry, psutil and nvidia-ml-py: the telemetry
#                       agent abtui runs beside each arm on a remote Docker host.
#   abtui-test/runner   Debian bookworm minbase (debootstrap) + Python 3.11 + torch CPU (the
#                       local wheel) + numpy / scikit-learn, with abtui/reporter.py and runners/
#                       in /opt/abtui: `python -u runners/train.py ...` trains on digits.
#
# Cached: every image carries the label abtui.inputs = a hash of what it was built from, and is
# skipped when that label matches. The debootstrap root and the downloaded wheels are kept under
# .testimages/ (gitignored), so a warm rebuild after a runner change takes seconds.
# Needs root (debootstrap), busybox-static, debootstrap, python3 -m pip (for `pip download`).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${ABTUI_TESTIMAGES_CACHE:-$ROOT/.testimages}
TORCH_WHEEL=${ABTUI_TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
SUITE=bookworm
MIRROR=${ABTUI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PY=${PYTHON:-python3}
[[ -x "$ROOT/.venv/bin/python" ]] && PY=$ROOT/.venv/bin/python

say() { echo "build-images: $*" >&2; }
die() { say "$*"; exit 1; }
sha() { sha256sum | cut -c1-16; }
label_of() {  # label_of <image> <label>: the label's value, empty when the image is absent
    docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}
is_current() { [[ "$(label_of "$1" abtui.inputs)" == "$2" ]]; }
mkdir -p "$CACHE"

build_busybox() {
    local image=abtui-test/busybox bb
    bb=$(command -v busybox) || die "busybox not found: apt-get install busybox-static"
    local inputs
    inputs=$( { sha256sum "$bb"; sed -n '/^build_busybox()/,/^}/p' "$0"; } | sha)
    if is_current "$image" "$inputs"; then say "$image is current ($inputs)"; return; fi
    local t0=$SECONDS tmp
    tmp=$(mktemp -d)
    mkdir -p "$tmp/bin" "$tmp/tmp" "$tmp/etc" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/abtui/out"
    chmod 1777 "$tmp/tmp"
    cp "$bb" "$tmp/bin/busybox"
    for applet in $("$tmp/bin/busybox" --list); do
        [[ "$applet" == busybox ]] || ln -s busybox "$tmp/bin/$applet"
    done
    echo "root:x:0:0:root:/:/bin/sh" >"$tmp/etc/passwd"
    tar -C "$tmp" -c . | docker import \
        -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' \
        -c "LABEL abtui.inputs=$inputs org.opencontainers.image.title=abtui-test-busybox" \
        - "$image:latest" >/dev/null
    rm -rf "$tmp"
    say "$image built in $((SECONDS - t0)) s"
}

download_wheels() {  # the runner's pinned dependencies, for Python 3.11 manylinux
    local dir=$CACHE/wheels stamp
    stamp=$(sha <"$HERE/runner/requirements.txt")
    [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]] && return
    say "downloading the runner's wheels into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform any \
        -r "$HERE/runner/requirements.txt" -d "$dir" 2> >(grep -v "is ignored" >&2)
    echo "$stamp" >"$dir/.stamp"
}

build_rootfs() {  # prints the path of a cached debootstrap root as a tarball
    local key tar
    key=$(echo "$SUITE minbase python3,python3-pip" | sha)
    tar=$CACHE/rootfs-$SUITE-python3-$key.tar
    if [[ ! -f "$tar" ]]; then
        command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"
        say "debootstrap $SUITE (about a minute)"
        local tmp; tmp=$(mktemp -d "$CACHE/rootfs.XXXX")
        debootstrap --variant=minbase --include=python3,python3-pip "$SUITE" "$tmp/root" "$MIRROR" \
            >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
        rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
        tar -C "$tmp/root" -cf "$tar.part" . && mv "$tar.part" "$tar"
        rm -rf "$tmp"
    fi
    echo "$tar"
}

prune_stale() {  # prune_stale <repository> <current tag>: drop the builds of older inputs
    local ref
    for ref in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$1"); do
        [[ "$ref" == "$1:$2" ]] || docker rmi "$ref" >/dev/null 2>&1 || true
    done
}

build_runner_deps() {  # build_runner_deps <tag>: Python + torch + deps, committed (the slow part)
    local deps=$1 t0=$SECONDS tar base=abtui-test/bookworm-python:${1##*:}
    download_wheels
    tar=$(build_rootfs)
    docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tar" "$base" >/dev/null
    # Install from wheels mounted read-only, then commit: no 200 MB COPY layer, no network.
    local box=abtui-build-deps-$$ versions torch_v py_v
    docker rm -f "$box" >/dev/null 2>&1 || true
    versions=$(docker run --name "$box" --network none \
        -v "$TORCH_WHEEL:/wheels/torch/$(basename "$TORCH_WHEEL"):ro" -v "$CACHE/wheels:/wheels/deps:ro" \
        "$base" sh -c 'python3 -m pip install -q --no-index --no-deps --no-cache-dir \
            --root-user-action=ignore --break-system-packages --no-warn-script-location \
            /wheels/torch/*.whl /wheels/deps/*.whl \
            && ln -sf /usr/bin/python3 /usr/local/bin/python \
            && python3 -c "import platform, numpy, sklearn, scipy, torch; \
                           print(torch.__version__, platform.python_version())"') \
        || { docker rm -f "$box" >/dev/null 2>&1; die "installing the wheels failed"; }
    read -r torch_v py_v <<<"$versions"
    docker commit \
        -c "LABEL abtui.torch_version=$torch_v abtui.python_version=$py_v abtui.inputs=${1##*:}" \
        -c 'ENV PYTHONUNBUFFERED=1' -c 'CMD ["python3"]' "$box" "$deps" >/dev/null
    docker rm -f "$box" >/dev/null
    docker rmi "$base" >/dev/null 2>&1 || true
    say "$deps built in $((SECONDS - t0)) s (torch $torch_v, python $py_v)"
}

build_runner() {
    local image=abtui-test/runner
    [[ -f "$TORCH_WHEEL" ]] || die "torch wheel not found: $TORCH_WHEEL (set ABTUI_TORCH_WHEEL)"
    [[ -f "$ROOT/runners/train.py" && -f "$ROOT/abtui/reporter.py" ]] || die "runners/train.py or abtui/reporter.py missing"
    local deps_inputs inputs
    deps_inputs=$( { echo "$SUITE $(basename "$TORCH_WHEEL") $(stat -c %s "$TORCH_WHEEL")";
                     cat "$HERE/runner/requirements.txt";
                     sed -n '/^build_runner_deps()/,/^}/p;/^build_rootfs()/,/^}/p' "$0"; } | sha)
    inputs=$( { echo "$deps_inputs"; cat "$HERE/runner/Dockerfile" "$ROOT/abtui/__init__.py" \
                "$ROOT/abtui/reporter.py" "$ROOT"/runners/*.py; } | sha)
    if is_current "$image" "$inputs"; then say "$image is current ($inputs)"; return; fi
    local t0=$SECONDS deps=abtui-test/runner-deps:$deps_inputs
    docker image inspect "$deps" >/dev/null 2>&1 || build_runner_deps "$deps"
    local ctx log
    ctx=$(mktemp -d) log=$(mktemp)
    cp "$HERE/runner/Dockerfile" "$ctx/"
    mkdir -p "$ctx/abtui" "$ctx/runners"
    cp "$ROOT/abtui/__init__.py" "$ROOT/abtui/reporter.py" "$ctx/abtui/"
    cp "$ROOT"/runners/*.py "$ctx/runners/"
    docker build --network none --build-arg "DEPS=$deps" --label "abtui.inputs=$inputs" \
        -t "$image:latest" "$ctx" >"$log" 2>&1 || { cat "$log" >&2; die "docker build failed"; }
    rm -rf "$ctx" "$log"
    prune_stale abtui-test/runner-deps "$deps_inputs"
    docker image prune -f --filter label=abtui.inputs >/dev/null  # the runner builds it replaced
    say "$image built in $((SECONDS - t0)) s"
}

build_agent() {  # the telemetry agent beside remote docker arms: the runner + abtui.telemetry
    local image=abtui-test/agent inputs dir=$CACHE/agent-wheels
    inputs=$( { label_of abtui-test/runner abtui.inputs; cat "$HERE/agent/Dockerfile" \
                "$HERE/agent/requirements.txt" "$ROOT/abtui/__init__.py" "$ROOT/abtui/reporter.py" \
                "$ROOT"/abtui/telemetry/*.py; } | sha)
    if is_current "$image" "$inputs"; then say "$image is current ($inputs)"; return; fi
    local t0=$SECONDS ctx log
    if [[ ! -f "$dir/.stamp" || "$(cat "$dir/.stamp")" != "$(sha <"$HERE/agent/requirements.txt")" ]]; then
        rm -rf "$dir" && mkdir -p "$dir"
        "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
            --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform any --abi cp311 --abi abi3 --abi none \
            -r "$HERE/agent/requirements.txt" -d "$dir" 2> >(grep -v "is ignored" >&2)
        sha <"$HERE/agent/requirements.txt" >"$dir/.stamp"
    fi
    ctx=$(mktemp -d) log=$(mktemp)
    cp "$HERE/agent/Dockerfile" "$ctx/" && mkdir -p "$ctx/abtui/telemetry" "$ctx/wheels"
    cp "$ROOT/abtui/__init__.py" "$ROOT/abtui/reporter.py" "$ctx/abtui/"
    cp "$ROOT"/abtui/telemetry/*.py "$ctx/abtui/telemetry/"
    cp "$dir"/*.whl "$ctx/wheels/"
    docker build --network none --label "abtui.inputs=$inputs" -t "$image:latest" "$ctx" \
        >"$log" 2>&1 || { cat "$log" >&2; die "docker build of $image failed"; }
    rm -rf "$ctx" "$log"
    say "$image built in $((SECONDS - t0)) s"
}

case "${1:-all}" in
    busybox) build_busybox ;;
    runner) build_runner ;;
    agent) build_runner; build_agent ;;
    all) build_busybox; build_runner; build_agent ;;
    *) die "usage: $0 [busybox|runner|agent|all]" ;;
esac
