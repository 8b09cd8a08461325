"""The Docker backend against a real Docker Engine: containers, logs, exits, reattach, restart.

Run `bash .ci/docker-up.sh` first (CI does, and sets ABTUI_REQUIRE_DOCKER=1 so that a missing
daemon fails instead of skipping). Images are built by tests/images/build.sh (cached).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from docker_fixtures import BUSYBOX, REPO, RUNNER, collect, wait_exit

from abtui.backends.docker import DockerBackend
from abtui.backends.docker_logs import STDERR, STDOUT, ResumePoint, format_ts, parse_ts
from abtui.infra.errors import AbtuiError, BackendError
from abtui.rundir import RunDir
from abtui.spec import ExperimentSpec, resolve_runs


def make_spec(image: str = BUSYBOX, script: str | None = None, **over: Any) -> ExperimentSpec:
    """A two-arm docker spec; ``script`` runs under busybox sh (argv extras land in $0 $1 ...)."""
    body: dict[str, Any] = {
        "name": "dockertest", "backend": "docker", "image": image, "steps": 5,
        "arms": {"A": {}, "B": {}},
    }
    if script is not None:
        body["command"] = ["sh", "-c", script]
    body.update(over)
    return ExperimentSpec.model_validate(body)


def launch_one(spec: ExperimentSpec, rundir: RunDir, client: docker.DockerClient,
               arm: str = "A") -> tuple[DockerBackend, Any]:
    backend = DockerBackend(spec, client=client)
    runs = resolve_runs(spec)
    backend.prepare(spec, runs, rundir)
    run = next(r for r in runs if r.arm == arm)
    return backend, backend.launch(run, rundir)


# ----------------------------------------------------------------------------- no daemon needed
def test_resume_token_keeps_one_watermark_per_stream() -> None:
    t = parse_ts("2026-11-23T02:49:42.495164275Z")
    assert format_ts(t) == "2026-11-23T02:49:42.495164275Z"
    assert parse_ts("2026-11-23T02:49:42.4Z") == parse_ts("2026-11-23T02:49:42.400000000Z")
    p = ResumePoint()
    p.advance(STDOUT, t, pending=[])
    assert p.token() == "2026-11-23T02:49:42.495164275Z"  # stdout only: a bare daemon timestamp
    # stderr lags stdout in the daemon's file: its line stamped *before* the last stdout line
    # still counts as not handed on until it is
    q = ResumePoint.parse(p.token())
    assert q.seen(STDOUT, t) and not q.seen(STDOUT, t + 1) and not q.seen(STDERR, t - 5)
    p.advance(STDERR, t - 5, pending=[])
    q = ResumePoint.parse(p.token())
    assert p.token().endswith(";err=2026-11-23T02:49:42.495164270Z")
    assert q.seen(STDERR, t - 5) and not q.seen(STDERR, t - 4) and q.since <= t - 5
    # an incomplete stderr line that began long ago pulls the re-read back to its start
    later = t + 600 * 10**9
    p.advance(STDOUT, later, pending=[t + 1])
    q = ResumePoint.parse(p.token())
    assert ";since=" in p.token() and q.since == t + 1 and not q.seen(STDERR, t + 1)


def test_unreachable_daemon_is_a_clear_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    spec = make_spec(script="true")
    backend = DockerBackend(spec)
    with pytest.raises(BackendError) as err:
        backend.prepare(spec, resolve_runs(spec), RunDir.create(tmp_path, "x"))
    assert isinstance(err.value, AbtuiError)
    assert "is dockerd running" in str(err.value) and "docker group" in str(err.value)


# ----------------------------------------------------------------------------- real daemon
@pytest.mark.docker
@pytest.mark.slow
def test_two_arms_train_in_two_containers(docker_client, docker_images, docker_rundir) -> None:
    spec = make_spec(RUNNER, steps=60, config={"dataset": "digits", "log_interval": 10, "threads": 1},
                     arms={"A": {"config": {"lr": 0.05}}, "B": {"config": {"lr": 0.1}}})
    backend = DockerBackend(spec, client=docker_client)
    runs = resolve_runs(spec)
    facts = backend.prepare(spec, runs, docker_rundir)
    image_id = docker_images[RUNNER]
    assert facts["image"]["id"] == image_id and set(facts["images"].values()) == {image_id}
    assert facts["image"]["labels"]["abtui.torch_version"].startswith("2.")
    assert any("Pin it" in w and "image: sha256:" in w for w in facts["warnings"])
    handles = {r.run_id: backend.launch(r, docker_rundir) for r in runs}
    results: dict[str, list] = {}
    threads = [threading.Thread(target=lambda k=k, h=h: results.__setitem__(
        k, collect(backend, h, docker_rundir, timeout=120))) for k, h in handles.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for run_id, handle in handles.items():
        ended = wait_exit(backend, handle)
        assert ended.ok and ended.exit_code == 0 and ended.finished_at, ended
        records = [json.loads(x.raw) for x in results[run_id] if x.raw.startswith(b"{")]
        assert records[0]["event"] == "env" and records[0]["python"].startswith("3.11")
        steps = [r["step"] for r in records if "step" in r]
        assert steps == [10, 20, 30, 40, 50, 60]
        assert records[-1]["event"] == "final"
        facts = backend.inspect(handle)
        assert facts["image_id"] == image_id  # launched by ID, never by tag
        labels = docker_client.containers.get(handle.ref["container_id"]).labels
        assert labels["abtui.arm"] == run_id and labels["abtui.run_dir"] == str(docker_rundir.root.resolve())
    lr = {k: next(json.loads(x.raw) for x in v if b'"event":"env"' in x.raw.replace(b" ", b""))
          for k, v in results.items()}
    assert lr["A"]["config"]["lr"] == 0.05 and lr["B"]["config"]["lr"] == 0.1
    for handle in handles.values():
        backend.cleanup(handle)
    assert backend.find(docker_rundir) == {}


@pytest.mark.docker
def test_crash_mid_run_reports_exit_code_and_traceback(docker_client, docker_images, docker_rundir) -> None:
    code = "import sys; print('step 1', flush=True); raise RuntimeError('boom at step 2')"
    spec = make_spec(RUNNER, command=["python", "-u", "-c", code])
    backend, handle = launch_one(spec, docker_rundir, docker_client)
    lines = [x.raw for x in collect(backend, handle, docker_rundir)]
    ended = wait_exit(backend, handle)
    assert ended.exit_code == 1 and not ended.ok and not ended.oom_killed
    assert ended.error == "exited with code 1"
    # stdout and stderr are separate streams in the daemon: each keeps its order, but which
    # of two nearly simultaneous lines comes first across them is the daemon's (as `docker logs`)
    stderr = [x for x in lines if x != b"step 1"]
    assert b"step 1" in lines and stderr[0] == b"Traceback (most recent call last):"
    assert stderr[-1] == b"RuntimeError: boom at step 2"


@pytest.mark.docker
def test_oom_kill_under_a_memory_limit(docker_client, docker_images, docker_rundir) -> None:
    spec = make_spec(script='echo start; x=$(head -c 300000000 /dev/zero | tr "\\0" a); echo never',
                     resources={"memory": "32m"})
    backend, handle = launch_one(spec, docker_rundir, docker_client)
    lines = [x.raw for x in collect(backend, handle, docker_rundir)]
    ended = wait_exit(backend, handle)
    assert lines == [b"start"]
    assert ended.oom_killed and ended.exit_code == 137 and not ended.ok
    assert "OOM" in ended.error and "32 MiB" in ended.error
    assert backend.inspect(handle)["memory"] == 32 * 2**20


# Output that the daemon splits and interleaves: a 40 000-byte line (three log entries), a line
# written in pieces, a 20 000 + 20 000-byte line with a stderr line written between its halves,
# a 2 MiB line (cut to 1 MiB), and a last line without a newline.
HUGE_SCRIPT = r"""
x() { head -c "$1" /dev/zero | tr '\0' "$2"; }
echo first
x 40000 a; echo
printf 'pie'; sleep 0.2; printf 'ces\r\n'
x 20000 b; sleep 0.5; echo 'between' >&2; x 20000 c; echo
x 2097152 d; echo
echo 'after the cut'
printf 'no newline at the end'
"""
HUGE_EXPECTED = [b"first", b"a" * 40000, b"pieces", b"between", b"b" * 20000 + b"c" * 20000,
                 b"d" * (1 << 20), b"after the cut", b"no newline at the end"]


@pytest.mark.docker
def test_huge_and_split_lines_reassembled_byte_exact_and_every_token_resumes(
        docker_client, docker_images, docker_rundir) -> None:
    spec = make_spec(script=HUGE_SCRIPT)
    backend, handle = launch_one(spec, docker_rundir, docker_client)
    lines = collect(backend, handle, docker_rundir)
    assert [x.raw for x in lines] == HUGE_EXPECTED
    assert [x.truncated for x in lines] == [False] * 5 + [True, False, False]
    assert wait_exit(backend, handle).ok
    # resuming after any line yields exactly the lines after it: no duplicate, no loss,
    # including the token taken while the b...c line was still incomplete
    between = [x.raw for x in lines].index(b"between")
    assert ";err=" in str(lines[between].token)  # a stderr line: both streams' watermarks
    for i, line in enumerate(lines):
        rest = collect(backend, handle, docker_rundir, resume=line.token)
        assert [x.raw for x in rest] == HUGE_EXPECTED[i + 1:], f"resume after line {i}"


@pytest.mark.docker
def test_follow_ends_promptly_when_the_container_exits_or_on_stop(
        docker_client, docker_images, docker_rundir) -> None:
    spec = make_spec(script="echo one; sleep 1; echo two")
    backend, handle = launch_one(spec, docker_rundir, docker_client)
    lines = collect(backend, handle, docker_rundir, timeout=30)
    done = time.time()
    ended = wait_exit(backend, handle)
    assert [x.raw for x in lines] == [b"one", b"two"]
    assert done - ended.finished_at < 3.0, "follow() outlived its container by more than 3 s"

    spec = make_spec(script="echo up; sleep 300")
    backend, handle = launch_one(spec, docker_rundir, docker_client, arm="B")
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    t0 = time.monotonic()
    lines = collect(backend, handle, docker_rundir, timeout=30, stop=stop)
    assert [x.raw for x in lines] == [b"up"] and time.monotonic() - t0 < 3.0
    assert backend.poll(handle) is None  # stopping the follow never stops the arm
    t0 = time.monotonic()
    backend.stop(handle, grace_s=5)
    ended = wait_exit(backend, handle)
    assert time.monotonic() - t0 < 5.0 and ended.exit_code == 143 and "SIGTERM" in ended.error


# stdout with a stderr line every 7th and a 40 000-byte line every 500th, at ~3 lines per ms:
# the daemon writes the two streams to its file up to several lines out of stamp order
INTERLEAVED = r"""
i=1
while [ $i -le 1500 ]; do
  echo "out $i"
  [ $((i % 7)) -eq 0 ] && echo "err $i" >&2
  [ $((i % 500)) -eq 0 ] && { head -c 40000 /dev/zero | tr '\0' z; echo " big $i"; }
  [ $((i % 10)) -eq 0 ] && usleep 20000
  i=$((i+1))
done
exit 0
"""


@pytest.mark.docker
def test_reattach_finds_containers_by_label_and_resumes_without_dup_or_loss(
        docker_client, docker_images, docker_rundir) -> None:
    spec = make_spec(script=INTERLEAVED)
    backend, handle = launch_one(spec, docker_rundir, docker_client)
    got: list[bytes] = []
    token = None
    rnd = random.Random(7)
    for monitor in range(100):
        if monitor:  # the monitor died; a new one (own client) finds the arm by its labels
            backend = DockerBackend(spec)
            found = backend.find(RunDir(docker_rundir.root))
            assert list(found) == ["A"] and found["A"].ref["container_id"] == handle.ref["container_id"]
            handle = found["A"]
        wanted = rnd.randint(50, 400)
        lines = collect(backend, handle, docker_rundir, resume=token, until=wanted)
        got += [x.raw for x in lines]
        token = lines[-1].token if lines else token
        if len(lines) < wanted:  # follow() ended: the arm exited and its log is drained
            break
    assert monitor >= 4, "the arm ended before the monitor could die a few times"
    assert [x for x in got if x.startswith(b"out")] == [b"out %d" % i for i in range(1, 1501)]
    assert [x for x in got if x.startswith(b"err")] == [b"err %d" % i for i in range(7, 1501, 7)]
    assert [x for x in got if x.startswith(b"z")] == [b"z" * 40000 + b" big %d" % i
                                                      for i in (500, 1000, 1500)]
    assert wait_exit(backend, handle).ok
    backend.cleanup(handle)
    assert backend.poll(handle).error.startswith("container ") and backend.find(docker_rundir) == {}


def _created(client, rundir: RunDir, arms: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Create (never start) every arm's container; the daemon's inspect of each, by arm."""
    spec = make_spec(RUNNER, arms=arms)
    backend = DockerBackend(spec, client=client)
    runs = resolve_runs(spec)
    backend.prepare(spec, runs, rundir)
    handles = {r.arm: backend.create(r, rundir) for r in runs}
    assert backend.inspect(handles["A"])["gpus"] == [str(g) for g in arms["A"].get("gpus", [])]
    attrs = {arm: client.api.inspect_container(h.ref["container_id"]) for arm, h in handles.items()}
    for h in handles.values():
        backend.cleanup(h)
    return attrs


@pytest.mark.docker
def test_gpu_requests_pin_devices_and_multi_gpu_arms_run_under_torchrun(
        docker_client, docker_images, docker_rundir) -> None:
    two = _created(docker_client, docker_rundir, {"A": {"gpus": [0, 1]}, "B": {"gpus": [2, 3]}})
    for arm, ids in (("A", ["0", "1"]), ("B", ["2", "3"])):
        req = two[arm]["HostConfig"]["DeviceRequests"]
        assert len(req) == 1 and req[0]["DeviceIDs"] == ids and req[0]["Capabilities"] == [["gpu"]]
        argv = [two[arm]["Path"], *two[arm]["Args"]]
        assert argv[:4] == ["torchrun", "--standalone", "--nproc_per_node=2", "runners/train.py"]
        assert argv[-4:] == ["--seed", "0", "--steps", "5"]
        env = dict(e.split("=", 1) for e in two[arm]["Config"]["Env"])
        assert env["NVIDIA_VISIBLE_DEVICES"] == ",".join(ids) and env["ABTUI_ARM"] == arm

    one = _created(docker_client, docker_rundir, {"A": {"gpus": [0]}, "B": {"gpus": [1]}})
    assert one["B"]["HostConfig"]["DeviceRequests"][0]["DeviceIDs"] == ["1"]
    assert [one["B"]["Path"], *one["B"]["Args"]][:3] == ["python", "-u", "runners/train.py"]

    # an arm without GPUs asks for none and sees none, even where the NVIDIA runtime is default
    none = _created(docker_client, docker_rundir, {"A": {}, "B": {}})
    assert not none["A"]["HostConfig"].get("DeviceRequests")
    assert "NVIDIA_VISIBLE_DEVICES=void" in none["A"]["Config"]["Env"]


@pytest.mark.docker
def test_security_settings_limits_and_mounts(docker_client, docker_images, docker_rundir,
                                             tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.txt").write_text("shared data\n")
    spec = make_spec(script="cat /data/x.txt; echo out > /abtui/out/result.txt; "
                            "(echo no > /data/y) 2>/dev/null || echo read-only; "
                            "ls /var/run/docker.sock 2>/dev/null || echo no-socket; "
                            "cat /sys/class/net/eth0/address 2>/dev/null || echo no-eth0",
                     volumes=[{"source": str(data), "target": "/data"}],
                     resources={"memory": "256m", "cpus": 1.5, "shm": "64m"}, env={"SHARED": "1"})
    backend, handle = launch_one(spec, docker_rundir, docker_client)
    lines = [x.raw for x in collect(backend, handle, docker_rundir)]
    assert lines == [b"shared data", b"read-only", b"no-socket", b"no-eth0"]
    assert (docker_rundir.arm_dir("A") / "out" / "result.txt").read_text() == "out\n"
    hc = docker_client.api.inspect_container(handle.ref["container_id"])["HostConfig"]
    assert hc["Privileged"] is False and hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["NetworkMode"] == "none" and hc["Init"] is True
    assert hc["Memory"] == 256 * 2**20 and hc["NanoCpus"] == 1_500_000_000 and hc["ShmSize"] == 64 * 2**20
    # least privilege by default: not root, no capabilities, read-only root, bounded pids
    config = docker_client.api.inspect_container(handle.ref["container_id"])["Config"]
    uid = os.getuid()
    assert config["User"] == ("65534:65534" if uid == 0 else f"{uid}:{os.getgid()}")
    assert hc["CapDrop"] == ["ALL"] and not hc.get("CapAdd")
    assert hc["ReadonlyRootfs"] is True and "/tmp" in hc["Tmpfs"]
    assert hc["PidsLimit"] == 4096
    written = docker_rundir.arm_dir("A") / "out" / "result.txt"
    assert written.stat().st_uid == (65534 if uid == 0 else uid)  # not root-owned on the host
    facts = backend.inspect(handle)
    assert {(m["target"], m["rw"]) for m in facts["mounts"]} == {("/data", False), ("/abtui/out", True)}
    assert not any("docker.sock" in (m["source"] or "") for m in facts["mounts"])
    assert facts["pid"] is None  # exited: no host process left

    for source in ("/var/run/docker.sock", "/var/run", "/", "/run/containerd"):
        bad = make_spec(script="true", volumes=[{"source": source, "target": "/x"}])
        with pytest.raises(BackendError, match="refusing to mount a container engine's socket"):
            DockerBackend(bad, client=docker_client).prepare(bad, resolve_runs(bad), docker_rundir)


@pytest.mark.docker
def test_missing_image_names_it_and_the_build_command(docker_client, docker_rundir) -> None:
    spec = make_spec("abtui-test/does-not-exist:1")
    with pytest.raises(BackendError) as err:
        DockerBackend(spec, client=docker_client).prepare(spec, resolve_runs(spec), docker_rundir)
    assert "abtui-test/does-not-exist:1" in str(err.value)
    assert "docker build -f docker/Dockerfile -t abtui-test/does-not-exist:1 ." in str(err.value)


def _our_dockerd() -> bool:
    pid = Path("/var/run/abtui-docker/dockerd.pid")
    try:
        os.kill(int(pid.read_text()), 0)
        return True
    except (OSError, ValueError):
        return False


@pytest.mark.docker
@pytest.mark.slow
def test_daemon_restart_mid_run_resumes_following_without_dup_or_loss(
        docker_client, docker_images, docker_rundir) -> None:
    if not _our_dockerd() or not docker_client.info().get("LiveRestoreEnabled"):
        msg = "needs the live-restore dockerd started by .ci/docker-up.sh (it restarts it)"
        if os.environ.get("ABTUI_REQUIRE_DOCKER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    spec = make_spec(script="i=1; while [ $i -le 100 ]; do echo line $i; i=$((i+1)); sleep 0.1; done")
    backend, handle = launch_one(spec, docker_rundir, docker_client)
    lines: list = []
    done = threading.Event()

    def follow() -> None:
        collect(backend, handle, docker_rundir, timeout=150, into=lines)
        done.set()

    reader = threading.Thread(target=follow)
    reader.start()
    while len(lines) < 10 and reader.is_alive():
        time.sleep(0.05)
    assert len(lines) < 100, "the arm ended before the daemon could be restarted"
    before = Path("/var/run/abtui-docker/dockerd.pid").read_text()
    restart = subprocess.run(["bash", str(REPO / ".ci/docker-up.sh"), "--restart"],
                             capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stderr
    assert Path("/var/run/abtui-docker/dockerd.pid").read_text() != before
    reader.join(timeout=150)
    assert done.is_set()
    assert [x.raw for x in lines] == [b"line %d" % i for i in range(1, 101)]
    assert backend.reconnects["A"] >= 1  # the log stream really broke and was resumed
    assert wait_exit(backend, handle).ok  # the container lived through the restart
