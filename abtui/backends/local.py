"""Local backend: one subprocess per arm, in its own session, writing to a file in the run dir.

The arm's stdout and stderr go to ``arms/<run>/output.log`` (not to a pipe the monitor
holds), so an arm outlives a monitor that dies or detaches, and a later attach resumes
tailing from the byte offset that ``events.jsonl`` recorded last.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from abtui.backends.base import (
    ArmExit,
    ArmHandle,
    Backend,
    LogLine,
    arm_process_env,
    fill_out,
    lightning_env,
)
from abtui.infra.errors import BackendError
from abtui.infra.safe_io import open_read
from abtui.infra.secrets import mask_argv
from abtui.ingest.lines import LineAssembler
from abtui.rundir import RunDir
from abtui.spec import ArmRun, ExperimentSpec

_POLL_S = 0.5  # a line reaches the store within 0.5 s; the console looks every 0.2 s (TICK_S)
_FIRST_POLL_S = 0.1  # until an arm's first lines (its first curve within a second)
_READ = 1 << 16


def _exit_marker(rundir: RunDir, run_id: str) -> Path:
    return rundir.arm_dir(run_id) / "exit_code"


WRAPPER = Path(__file__).with_name("local_wrapper.py")
REPORTER = Path(__file__).resolve().parent.parent / "reporter.py"


def _lowest_priority() -> None:
    """In the child, before exec: nice 19 (an observer yields to every arm)."""
    with contextlib.suppress(OSError):
        os.nice(19)


class FollowsOutputFile:
    """``follow`` / ``follow_batches`` for a backend whose arms write, through abtui's relay,
    to ``arms/<run>/output.log`` on a path the monitor reads (local processes, Slurm jobs):
    the backend says only whether the writer may still append (``_alive``)."""

    def _alive(self, handle: ArmHandle) -> bool:
        raise NotImplementedError

    def follow(self, handle: ArmHandle, rundir: RunDir, resume: int | str | None,
               stop: threading.Event) -> Iterator[LogLine]:
        for batch in self.follow_batches(handle, rundir, resume, stop):
            yield from batch

    def follow_batches(self, handle: ArmHandle, rundir: RunDir, resume: int | str | None,
                       stop: threading.Event) -> Iterator[list[LogLine]]:
        yield from follow_file(rundir.output_path(handle.run_id), resume, stop,
                               lambda: self._alive(handle))


class LocalBackend(FollowsOutputFile, Backend):
    """Arms as local processes; GPUs pinned through ``CUDA_VISIBLE_DEVICES``."""

    name = "local"
    OBSERVES_ENV = True

    def on_this_host(self, spec: ExperimentSpec) -> bool:
        return True
    SUPPORTS_GPUS = True
    SUPPORTS_REATTACH = True

    def __init__(self, spec: ExperimentSpec | None = None, workdir: str | Path | None = None) -> None:
        self.spec = spec
        self.workdir = Path(workdir) if workdir else Path.cwd()

    def _argv(self, run: ArmRun) -> list[str]:
        argv = list(run.command)
        # "python" in a spec means the interpreter abtui runs on (the venv with torch)
        if argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        if len(run.gpus) > 1 and len(argv) > 1 and argv[0] == sys.executable:
            args = argv[1:]
            if args and args[0] == "-u":
                args = args[1:]
            argv = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={len(run.gpus)}", *args]
        elif shutil.which(argv[0]) is None and not Path(self._cwd(run), argv[0]).exists():
            raise BackendError(f"arm {run.run_id}: command not found: {argv[0]!r}")
        return argv

    def _cwd(self, run: ArmRun) -> Path:
        """Where the arm starts: its own worktree for an arm from a git ref, else the workdir."""
        return Path(run.extra["cwd"]) if run.extra.get("cwd") else self.workdir

    def observe_env(self, run: ArmRun) -> dict[str, Any] | None:
        """The env record abtui takes itself for an arm whose command is a Python script
        (``abtui/reporter.py --observe``, in the arm's interpreter, cwd and environment): the
        evidence a script that prints no env record cannot give. None if it cannot."""
        try:
            argv = self._argv(run)
        except BackendError:
            return None
        env = {**os.environ, **run.env, "CUDA_VISIBLE_DEVICES": ",".join(map(str, run.gpus))}
        cwd = self._cwd(run)
        found = python_of(argv, cwd, env.get("PATH"))
        if found is None:
            return None
        python, args = found
        files = [a for a in args if not a.startswith("-") and Path(cwd, a).is_file()]
        script = next((a for a in files if a.endswith(".py")), files[0] if files else "")
        try:
            # at the lowest priority: it runs beside the arms it observes, and must not take
            # their cores (reading every installed package's metadata costs ~1 s of CPU)
            out = subprocess.run([python, str(REPORTER), "--observe", script], cwd=cwd,
                                 env=env, capture_output=True, text=True, timeout=60,
                                 stdin=subprocess.DEVNULL, preexec_fn=_lowest_priority)
            record = json.loads(out.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None
        return record if isinstance(record, dict) and record.get("event") == "env" else None

    def launch(self, run: ArmRun, rundir: RunDir) -> ArmHandle:
        argv = self._argv(run)
        env = dict(os.environ)
        env.update(run.env)
        env.update({
            "PYTHONUNBUFFERED": "1",
            "ABTUI_ARM": run.arm,
            "ABTUI_RUN_ID": run.run_id,
            "ABTUI_EXPERIMENT": rundir.name,
            "ABTUI_SEED": str(run.seed),
            "ABTUI_OUT": str(rundir.arm_dir(run.run_id) / "out"),
            # an arm with no GPUs sees none; never inherit the monitor's devices. The spec's
            # indices are NVML's (PCI bus order); make CUDA count the same way.
            "CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in run.gpus),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        })
        env.update(arm_process_env(env, rundir, run.run_id))
        # Lightning's default loggers write under the arm's own output directory, where
        # abtui.ingest.files finds them (a script's own default_root_dir wins)
        env.update(lightning_env(run.env, env["ABTUI_OUT"]))
        argv = fill_out(argv, env["ABTUI_OUT"])
        cpus = run.extra.get("cpus")
        if cpus:
            env["ABTUI_CPUS"] = ",".join(str(c) for c in cpus)
        out_path = rundir.output_path(run.run_id)
        (rundir.arm_dir(run.run_id) / "out").mkdir(mode=0o700, exist_ok=True)  # ABTUI_OUT
        marker = _exit_marker(rundir, run.run_id)
        # A tiny wrapper records the exit status in the run dir, so that a monitor that
        # was not the parent (attach after a crash) still learns how the arm ended.
        # It is run by path: it imports nothing of abtui. It is also the only writer of the
        # arm's output (a relay that survives a full disk); its own errors go to wrapper.err.
        wrapper = [sys.executable, str(WRAPPER), str(marker), str(out_path), "--", *argv]
        out_path.touch(mode=0o600)
        err_path = out_path.with_name("wrapper.err")
        with open(os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
            try:
                proc = subprocess.Popen(
                    wrapper, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out,
                    cwd=self._cwd(run), env=env, start_new_session=True, close_fds=True,
                )
            except OSError as exc:
                raise BackendError(f"arm {run.run_id}: cannot start {argv[0]!r}: {exc}") from None
        self._children[run.run_id] = proc
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = None
        return ArmHandle(run.run_id, {"pid": proc.pid, "pgid": proc.pid, "marker": str(marker),
                                      "create_time": create_time, "argv": mask_argv(argv)})

    @property
    def _children(self) -> dict[str, subprocess.Popen[bytes]]:
        if not hasattr(self, "_popen"):
            self._popen: dict[str, subprocess.Popen[bytes]] = {}
        return self._popen

    def _alive(self, handle: ArmHandle) -> bool:
        proc = self._children.get(handle.run_id)
        if proc is not None:
            return proc.poll() is None
        pid = handle.ref.get("pid")
        if not pid:
            return False
        try:
            p = psutil.Process(int(pid))
            if handle.ref.get("create_time") and abs(p.create_time() - handle.ref["create_time"]) > 1:
                return False  # the PID was reused by another process
            return p.status() != psutil.STATUS_ZOMBIE
        except (psutil.Error, TypeError, ValueError, OverflowError):
            return False

    def poll(self, handle: ArmHandle) -> ArmExit | None:
        if self._alive(handle):
            return None
        proc = self._children.get(handle.run_id)
        marker = Path(handle.ref.get("marker") or "")
        code = read_marker(marker) if handle.ref.get("marker") else None
        if code is None and proc is not None:
            code = proc.returncode
        try:
            finished = marker.stat().st_mtime
        except OSError:
            finished = time.time()
        return ArmExit(code, error=None if code == 0 else describe_exit(code), finished_at=finished)

    def ours(self, handle: ArmHandle) -> bool:
        """Whether the process group the handle names is still the one abtui started: its
        leader's start time as recorded at launch, its command line abtui's wrapper. A
        manifest is only a file: a PID it names may belong to anyone by now."""
        pgid = handle.ref.get("pgid")
        if handle.run_id in self._children:
            return True
        created = handle.ref.get("create_time")
        if not isinstance(pgid, int) or isinstance(pgid, bool) or pgid <= 1 or \
                not isinstance(created, (int, float)):
            return False
        try:
            p = psutil.Process(pgid)
            return (abs(p.create_time() - float(created)) <= 1 and os.getpgid(pgid) == pgid
                    and str(WRAPPER) in p.cmdline())
        except (psutil.Error, OSError, ValueError, OverflowError):
            return False

    def stop(self, handle: ArmHandle, grace_s: float = 10.0) -> None:
        pgid = handle.ref.get("pgid")
        if not pgid or not self._alive(handle):
            return
        if not self.ours(handle):
            raise BackendError(f"arm {handle.run_id}: process group {pgid} is not the one abtui "
                               "started (its start time or command differ): not signalled")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self._alive(handle):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        proc = self._children.get(handle.run_id)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def inspect(self, handle: ArmHandle) -> dict[str, Any]:
        return {"pid": handle.ref.get("pid"), "argv": handle.ref.get("argv"),
                "host": os.uname().nodename, "python": sys.executable}

    def pids(self, handle: ArmHandle) -> list[int]:
        """The arm's process tree (for telemetry and GPU-process mapping)."""
        pid = handle.ref.get("pid")
        try:
            root = psutil.Process(pid)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except (psutil.Error, TypeError, ValueError):
            return []

    def find(self, rundir: RunDir) -> dict[str, ArmHandle]:
        manifest = rundir.read_manifest()
        found = {}
        for run_id, entry in (manifest.get("runs") or {}).items():
            ref = entry.get("ref") or {}
            if ref.get("pid"):
                found[run_id] = ArmHandle(run_id, dict(ref))
        return found


def follow_file(path: Path, resume: int | str | None, stop: threading.Event,
                alive: Callable[[], bool]) -> Iterator[list[LogLine]]:
    """Complete lines appended to ``path`` after byte ``resume``, in batches, until the
    writer is gone (``alive()`` false) and the file is drained, or ``stop`` is set. The
    token of each line is the byte offset after it (the local and Slurm backends)."""
    offset = int(resume or 0)
    asm = LineAssembler(offset=offset)

    def lines(chunk: bytes) -> list[LogLine]:
        raws, ends, cuts = asm.split_batch(chunk)
        return list(map(LogLine, raws, ends, cuts or [False] * len(raws)))

    while not path.exists():
        if stop.wait(_POLL_S) or not alive():
            return
    try:
        fh = open(open_read(path), "rb")
    except OSError as exc:  # a link or a FIFO in its place: abtui's relay never makes one
        raise BackendError(f"{path}: {exc.strerror or exc}; not read") from None
    with fh:
        fh.seek(offset)
        quick = True  # until the first lines: read often, so the first curve comes soon
        while True:
            chunk = fh.read(_READ)
            if chunk:
                batch = lines(chunk)
                if batch:
                    quick = False
                    yield batch
                continue
            if stop.is_set():
                return
            if not alive():
                # drain what was written between the last read and the exit
                batch = lines(fh.read())
                tail = asm.flush()
                if tail is not None:
                    batch.append(LogLine(tail, asm.offset, False))
                if batch:
                    yield batch
                return
            stop.wait(_FIRST_POLL_S if quick else _POLL_S)


_SHELLS = ("sh", "bash", "dash", "zsh")
_PREFIXES = ("exec", "env", "nice", "nohup", "time", "command")


def python_of(argv: list[str], cwd: Path, path: str | None, depth: int = 0
              ) -> tuple[str, list[str]] | None:
    """The Python interpreter an arm's command ends up running, and the arguments it gets:
    ``python …`` itself; a console script or launcher whose ``#!`` line names a Python
    (``trl``, ``torchrun``, ``accelerate launch``, ``lightning``); a shell's ``-c`` script
    (``sh -c 'exec python x.py'``), behind ``exec`` / ``env`` / ``VAR=value`` words. None
    when it is not (or cannot be told to be) Python."""
    words = list(argv)
    while words and (words[0] in _PREFIXES or ("=" in words[0] and not words[0].startswith("-")
                                               and "/" not in words[0].split("=")[0])):
        words.pop(0)
    if not words or depth > 3:
        return None
    exe = words[0]
    name = Path(exe).name
    if name.startswith("python"):
        found = shutil.which(exe, path=path) if "/" not in exe else exe
        return (found, words[1:]) if found else None
    if name in _SHELLS:
        if "-c" in words[1:-1]:
            script = words[words.index("-c") + 1]
            try:
                inner = shlex.split(script)
            except ValueError:
                return None
            return python_of(inner, cwd, path, depth + 1)
        return None
    target = exe if "/" in exe else shutil.which(exe, path=path)
    if not target:
        return None
    try:
        with open(Path(cwd, target), "rb") as fh:
            first = fh.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    shebang = first[2:].decode("utf-8", "replace").split()
    if shebang and Path(shebang[0]).name == "env":
        shebang = [w for w in shebang[1:] if not w.startswith("-")]
    if not shebang or not Path(shebang[0]).name.startswith("python"):
        return None
    interp = shebang[0] if "/" in shebang[0] else shutil.which(shebang[0], path=path)
    return (interp, words[1:]) if interp else None


def read_marker(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def describe_exit(code: int | None) -> str | None:
    if code is None:
        return "exit status unknown (the arm ended while no monitor watched it)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
            hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
            return f"killed by {name}{hint}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
