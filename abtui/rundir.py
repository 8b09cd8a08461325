"""The run directory: the source of truth that attach, report and diff rebuild from.

Layout::

    runs/<experiment>-<timestamp>/
        manifest.json            resolved spec, runs, backend facts (image identity, container ids)
        arms/<run_id>/events.jsonl  every line an arm printed, as received, with receive time
        arms/<run_id>/output.log    local backend only: the arm's own stdout+stderr file
        arms/<run_id>/exit.json     how the arm ended, once it has
        telemetry.jsonl          GPU / host samples
        report.json, report.md   written at the end and by `abtui report`
        monitor.lock             held by the monitor that writes; others are read-only
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import time
from pathlib import Path
from typing import IO, Any, cast

from abtui.infra.errors import EnvironmentFailure, RunDirError
from abtui.infra.safe_io import atomic_write, open_lock, read_bounded
from abtui.run_files import ArmExit, Manifest, ManifestRun, manifest_problem

__all__ = ["ArmExit", "Manifest", "ManifestRun", "RunDir"]  # the file types: run_files

MANIFEST = "manifest.json"


#: The env record abtui took itself before launching an arm (see LocalBackend.observe_env).
OBSERVED_ENV = "observed_env.json"
# the files an arm's processes wrote (arms/<run>/writes/<pid>.txt): bounds on reading them
MAX_WRITE_FILES = 256
MAX_WRITE_BYTES = 1 << 20
MAX_WRITE_PATHS = 10_000
MAX_JSON_BYTES = 64 << 20  # a manifest, an exit record, a report: far below this
#: A remote arm's node, as its job saw it (``abtui.telemetry.node facts``; Slurm backend).
NODE_FACTS = "node.json"
#: Telemetry sampled on a remote arm's node (``abtui.telemetry.node sample``).
NODE_TELEMETRY = "node_telemetry.jsonl"
#: Slurm job arrays: ``slurm/array-<n>.sh`` (the task dispatch) and Slurm's output per task.
SLURM_ARRAYS = "slurm"


class RunDir:
    """Paths and small atomic writes inside one run directory."""

    def __init__(self, root: str | Path) -> None:
        # absolute: arms run in other working directories and are handed paths inside it
        self.root = Path(root).absolute()

    @classmethod
    def create(cls, base: str | Path, name: str, now: float | None = None) -> RunDir:
        """Make ``base/<name>-<YYYYmmdd-HHMMSS>`` (owner-only permissions), unique."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now or time.time()))
        base = Path(base)
        base.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            root = base / (f"{name}-{stamp}" if n == 0 else f"{name}-{stamp}-{n}")
            try:
                root.mkdir(mode=0o700)
            except FileExistsError:
                continue
            (root / "arms").mkdir(mode=0o700)
            for d in (root, root / "arms"):  # explicit, whatever the umask
                d.chmod(0o700)
            return cls(root)
        raise RunDirError(f"cannot create a run directory under {base}")

    @classmethod
    def open(cls, root: str | Path) -> RunDir:
        """An existing run directory; a clear error if it is not one."""
        rd = cls(root)
        if not rd.root.is_dir():
            raise RunDirError(f"{rd.root}: no such run directory")
        if not rd.manifest_path.is_file():
            raise RunDirError(f"{rd.root}: not an abtui run directory (no {MANIFEST})")
        return rd

    def check_owned(self) -> None:
        """Refuse a run directory that is not the user's own: another owner, or writable
        by others (anyone could have planted its files). Commands that write to a run or
        act on its processes (attach, report, stop) call this first; copy a shared run
        (``cp -r``) to read it as yours."""
        for path in (self.root, self.root / "arms", self.manifest_path):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise RunDirError(f"{path}: {exc.strerror or exc}") from None
            if stat.S_ISLNK(st.st_mode):
                raise RunDirError(f"{path} is a symbolic link: refused (a run directory "
                                  "abtui made has none)")
            if st.st_uid != os.geteuid():
                raise RunDirError(f"{path} belongs to uid {st.st_uid}, not to you (uid "
                                  f"{os.geteuid()}): refused; copy it (cp -r) to work on it")
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise RunDirError(f"{path} is writable by others (mode "
                                  f"{stat.S_IMODE(st.st_mode):o}): refused; chmod go-w it, or "
                                  "copy it, if you trust what is in it")

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def telemetry_path(self) -> Path:
        return self.root / "telemetry.jsonl"

    @property
    def report_json(self) -> Path:
        return self.root / "report.json"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def lock_path(self) -> Path:
        return self.root / "monitor.lock"

    # -- the writer's lock: one monitor writes a run; the others read it
    def take_writer_lock(self) -> IO[str] | None:
        """An exclusive ``flock`` on ``monitor.lock`` (it holds the writer's PID), or None
        when another monitor holds it. Keep the file open to keep the lock."""
        try:
            fh = open(open_lock(self.lock_path), "r+")
        except OSError as exc:  # a link or a FIFO planted in its place: not ours to touch
            raise RunDirError(f"{self.lock_path}: {exc.strerror or exc}; refused") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return None
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        return fh

    @staticmethod
    def release_writer_lock(fh: IO[str]) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def writer_alive(self) -> bool:
        """True while a monitor holds the writer's lock. A probe: it never creates, truncates
        or writes the lock file, and never opens it through a link."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # held by a monitor
        finally:
            os.close(fd)  # closing drops a lock this probe took
        return False

    def arm_dir(self, run_id: str) -> Path:
        if "/" in run_id or run_id in ("", ".", ".."):
            raise RunDirError(f"invalid run id {run_id!r}")
        d = self.root / "arms" / run_id
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        return d

    def observed_env(self, run_id: str) -> dict[str, Any] | None:
        """The env record abtui observed for an arm before it started, if any."""
        try:
            data = self.read_json(self.root / "arms" / run_id / OBSERVED_ENV)
        except RunDirError:
            return None
        return data if isinstance(data, dict) else None

    def events_path(self, run_id: str) -> Path:
        return self.arm_dir(run_id) / "events.jsonl"

    def output_path(self, run_id: str) -> Path:
        return self.arm_dir(run_id) / "output.log"

    def files_path(self, run_id: str) -> Path:
        """Metric lines made from the files the arm writes (see ``abtui.ingest.files``)."""
        return self.arm_dir(run_id) / "files.jsonl"

    def writes_dir(self, run_id: str) -> Path:
        """Where the arm's Python processes record the files they write (abtui/arm_site)."""
        d = self.arm_dir(run_id) / "writes"
        d.mkdir(mode=0o700, exist_ok=True)
        return d

    def written_paths(self, run_id: str) -> list[str] | None:
        """The files the arm's processes opened for writing outside ``$ABTUI_OUT``, first
        seen first; None when nothing recorded them (no ``writes`` folder: an arm without
        abtui's hook). The folder is the arm's (untrusted): regular files only, no link
        followed, bounded in files, bytes and paths."""
        d = self.root / "arms" / run_id / "writes"
        out: dict[str, None] = {}
        try:
            if not stat.S_ISDIR(os.lstat(d).st_mode):
                return None
            names = sorted(os.listdir(d))[:MAX_WRITE_FILES]
        except OSError:
            return None
        for name in names:
            try:
                fd = os.open(d / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    continue
                data = os.read(fd, MAX_WRITE_BYTES)
            except OSError:
                continue
            finally:
                os.close(fd)
            for line in data.decode("utf-8", "replace").splitlines():
                if line.startswith("/") and len(out) < MAX_WRITE_PATHS:
                    out.setdefault(line)
        return list(out)

    def out_dir(self, run_id: str) -> Path:
        """The arm's own output directory (``$ABTUI_OUT``)."""
        return self.arm_dir(run_id) / "out"

    def exit_path(self, run_id: str) -> Path:
        return self.arm_dir(run_id) / "exit.json"

    def read_exit(self, run_id: str) -> ArmExit | None:
        """The arm's exit.json, None before it ended (RunDirError: unreadable)."""
        return ArmExit.from_dict(self.read_json(self.exit_path(run_id)))

    def write_exit(self, run_id: str, ended: ArmExit) -> None:
        self.write_json(self.exit_path(run_id), ended.to_dict())

    def run_ids(self) -> list[str]:
        arms = self.root / "arms"
        return sorted(p.name for p in arms.iterdir() if p.is_dir()) if arms.is_dir() else []

    # -- small JSON documents, written atomically so a crash never leaves half a file
    def write_json(self, path: Path, data: Any) -> None:
        try:
            atomic_write(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        except OSError as exc:  # the old file stays whole: only the temporary one is lost
            raise EnvironmentFailure(f"cannot write {path}: {exc.strerror or exc} "
                                     "(nothing already written was lost)") from None

    def read_json(self, path: Path) -> Any:
        """A JSON document of the run directory: a regular file, never through a link,
        at most ``MAX_JSON_BYTES``; None when it is missing."""
        try:
            raw = read_bounded(path, MAX_JSON_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RunDirError(f"{path}: unreadable ({exc.strerror or exc})") from None
        if len(raw) > MAX_JSON_BYTES:
            raise RunDirError(f"{path}: over {MAX_JSON_BYTES >> 20} MB, not read")
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise RunDirError(f"{path}: unreadable ({str(exc)[:200]})") from None

    def write_manifest(self, manifest: Manifest | dict[str, Any]) -> None:
        self.write_json(self.manifest_path, manifest)

    def read_manifest(self) -> Manifest:
        """The manifest as written (typed as ``Manifest``; keys an older version did not
        write are read with ``.get``)."""
        data = self.read_json(self.manifest_path)
        if not isinstance(data, dict) or not isinstance(data.get("runs", {}), dict):
            raise RunDirError(f"{self.manifest_path}: not a manifest")
        problem = manifest_problem(data)
        if problem is not None:
            raise RunDirError(f"{self.manifest_path}: not a manifest abtui wrote ({problem})")
        return cast(Manifest, data)  # every key abtui reads has its type (manifest_problem)
