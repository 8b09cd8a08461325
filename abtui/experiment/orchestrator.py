"""The orchestrator both front ends share: launch, watch, persist, re-attach, stop.

No UI here: the TUI and the headless mode read ``experiment.store`` and call these methods.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from abtui.adapters import make_adapter
from abtui.backends import ArmHandle, Backend, make_backend
from abtui.diff import working_tree
from abtui.experiment import git_arms, reattach
from abtui.experiment.design_loop import SequentialDesign
from abtui.experiment.files_watcher import FilesWatcher
from abtui.experiment.manifest import (
    NoBackend,
    cpu_placement,
    new_manifest,
    place_on_cores,
    with_env_file,
)
from abtui.experiment.schedule import gpu_sets, runs_to_start
from abtui.experiment.telemetry_loop import TelemetryLoop
from abtui.experiment.watcher import ArmWatcher, status_for_exit
from abtui.infra.errors import AbtuiError, EnvironmentFailure
from abtui.infra.numeric import numpy
from abtui.infra.safe_io import sweep_temps
from abtui.rundir import OBSERVED_ENV, ArmExit, Manifest, RunDir
from abtui.spec import ArmRun, ExperimentSpec, resolve_runs
from abtui.store import ArmStatus, RunState, Store
from abtui.store.snapshot import covered_size, write_snapshot


class Experiment:
    """One experiment's run: its spec, run directory, backend, store and threads."""

    def __init__(self, spec: ExperimentSpec, rundir: RunDir, backend: Backend,
                 runs: list[ArmRun], manifest: Manifest) -> None:
        self.spec = spec
        self.rundir = rundir
        self.backend = backend
        self.runs = runs
        self.manifest = manifest
        self.store = Store()
        self.handles: dict[str, ArmHandle] = {}
        self.watchers: dict[str, ArmWatcher] = {}
        self.file_watchers: dict[str, FilesWatcher] = {}
        self.stop_event = threading.Event()
        self.telemetry: TelemetryLoop | None = None
        self.metrics_server: Any = None  # the Prometheus endpoint, when served (abtui.experiment.exporter)
        self.read_only = False
        self.resume = False  # attach --resume: start the runs never launched
        self._lock_fh: Any = None
        self.pending: list[ArmRun] = []
        self._scheduler: threading.Thread | None = None
        self._sched_lock = threading.Lock()
        self._manifest_lock = threading.Lock()
        self._observers: list[threading.Thread] = []
        self.design = SequentialDesign(self)
        for run in runs:
            state = self.store.add_run(run.run_id, run.arm, run.replicate, run.steps, run.gpus)
            state.adapter = make_adapter(spec.log_format)

    def _log_to_rundir(self) -> None:
        reattach.log_to_rundir(self.rundir)

    # ---- starting -------------------------------------------------------------------
    @classmethod
    def start(cls, spec: ExperimentSpec, spec_path: str | Path, runs_dir: str | Path = "runs",
              backend: Backend | None = None) -> Experiment:
        """Create the run directory, resolve shared facts, launch every arm, start watching."""
        spec_path = Path(spec_path)
        workdir = (spec_path.parent / spec.workdir).resolve()
        backend = backend or make_backend(spec, workdir)
        runs = with_env_file(resolve_runs(spec), spec, spec_path)
        commits = git_arms.check_refs(spec, workdir)  # before anything is created
        rundir = RunDir.create(runs_dir, spec.name)
        git_arms.make_worktrees(spec, workdir, rundir.root, commits, runs)
        manifest = new_manifest(spec, spec_path, backend, runs, workdir)
        if backend.on_this_host(spec):
            # arms on this host's cores (not for engines on other machines)
            manifest["placement"] = cpu_placement(spec, spec.concurrency or len(spec.arms))
        exp = cls(spec, rundir, backend, runs, manifest)
        exp.take_lock()
        exp._log_to_rundir()
        try:  # the exact code this run ran (a failure here never stops a launch)
            secret_file = (Path(spec_path).parent / spec.env_from_file
                           if spec.env_from_file and spec_path else None)
            manifest["code"] = working_tree.snapshot(runs[0].command, workdir,
                                                     rundir.root / working_tree.DIR,
                                                     never=[secret_file] if secret_file else [])
        except OSError as exc:
            manifest["code"] = {"repo": None, "note": f"no code snapshot: {exc}"}
        rundir.write_manifest(manifest)
        try:
            manifest["backend_facts"] = backend.prepare(spec, runs, rundir)
        except AbtuiError as exc:
            manifest["status"] = "failed"
            manifest["error"] = str(exc)
            rundir.write_manifest(manifest)
            raise
        for w in manifest["backend_facts"].get("warnings", []):
            exp.store.notice(w)
        # numpy (the store's folds) imported now, not on the first records: a fraction of a
        # second of CPU that must not land on an arm's core while the arms are measured
        numpy()
        exp.pending = list(runs)
        exp._start_threads()
        return exp

    @property
    def concurrency(self) -> int:
        """Runs at once: the spec's, or as many as the placement packed onto the cores, or
        every arm."""
        packed = (self.manifest.get("placement") or {}).get("concurrency")
        return self.spec.concurrency or (packed if isinstance(packed, int) and packed > 0
                                         else len(self.spec.arms))

    def _launch_ready(self) -> None:
        """Launch the pending runs ``schedule.runs_to_start`` picks (a barrier per
        replicate, the limit, one run per GPU). CPU arms get disjoint cores
        (``placement.cpu_slots``) when the host has enough."""
        with self._sched_lock:
            active = [r for r in self.runs if r.run_id in self.watchers
                      and self.store.run(r.run_id).status not in ArmStatus.ENDED]
            entries = self.manifest["runs"]
            taken = {entries[r.run_id].get("cpu_slot") for r in active if r.run_id in entries}
            if self.pending and self.design.rule is not None:
                nxt = min(r.replicate for r in self.pending)
                if (not any(r.replicate < nxt for r in active)
                        and self.design.stop_before(nxt)):
                    self.design.drop_pending()
                    self.save_manifest()
                    return
            if self.stop_event.is_set():
                return
            grouped = self.backend.LAUNCHES_GROUPS  # a replicate at once, held to the limit
            sets = gpu_sets(self.spec.gpu_pool, self.spec.gpus_per_run or 0)
            ready = runs_to_start(self.pending, active, self.concurrency, grouped=grouped,
                                  sets=sets)
            placed = [place_on_cores(run, self.manifest, taken) for run in ready]
            if grouped and placed:
                self._launch(placed, self.concurrency)
            for run in placed:
                if not grouped:
                    self._launch([run])
                if run.run_id in self.handles:
                    self._watch(run.run_id, self.handles[run.run_id])
                # only now, so wait() never sees a gap
                self.pending.remove(next(p for p in self.pending if p.run_id == run.run_id))
            if ready:
                self.save_manifest()

    def _observe(self, observe: Any, run: ArmRun) -> None:
        record = observe(run)
        if record is not None:
            with contextlib.suppress(EnvironmentFailure):
                self.rundir.write_json(self.rundir.arm_dir(run.run_id) / OBSERVED_ENV, record)

    def save_manifest(self) -> None:
        """Write the manifest; a full disk is said, never fatal (the arms go on, and the
        next write, or ``attach``, brings the file up to date)."""
        try:
            with self._manifest_lock:  # the scheduler and the watchers both write it
                self.rundir.write_manifest(self.manifest)
        except EnvironmentFailure as exc:
            self.store.notice(str(exc))

    def _schedule_loop(self) -> None:
        while self.pending and not self.stop_event.is_set():
            self._launch_ready()
            self.stop_event.wait(0.2)

    def _launch(self, runs: list[ArmRun], limit: int | None = None) -> None:
        """Start ``runs``, each on its own, or (``limit``) as one group the backend queues
        and holds to ``limit`` at once (a Slurm job array)."""
        for run in runs:
            if run.gpus != self.store.run(run.run_id).gpus:  # packed: its GPUs, chosen now
                self.runs = [run if r.run_id == run.run_id else r for r in self.runs]
                self.manifest["runs"][run.run_id]["gpus"] = list(run.gpus)
                self.store.run(run.run_id).gpus = run.gpus
            self.store.run(run.run_id).move(ArmStatus.STARTING)
            if self.backend.OBSERVES_ENV:  # evidence for a script that prints no env record;
                # in its own thread, so that the arms of a replicate still start together
                t = threading.Thread(target=self._observe, args=(self.backend.observe_env, run),
                                     daemon=True, name=f"abtui-observe-{run.run_id}")
                t.start()
                self._observers.append(t)
            self.manifest["runs"][run.run_id]["started_at"] = time.time()
        # one at a time: the base class's launch_group, each run on its own
        results = (self.backend.launch_group(runs, self.rundir, limit) if limit is not None
                   else Backend.launch_group(self.backend, runs, self.rundir, len(runs)))
        for run, result in zip(runs, results, strict=True):
            self._launched(run, result)

    def _launched(self, run: ArmRun, handle: ArmHandle | AbtuiError) -> None:
        state = self.store.run(run.run_id)
        entry = self.manifest["runs"][run.run_id]
        if isinstance(handle, AbtuiError):
            exc = handle  # one arm that cannot start never stops the others
            state.move(ArmStatus.FAILED)
            state.exit = ArmExit(None, error=str(exc), status=ArmStatus.FAILED)
            entry["launch_error"] = str(exc)
            with contextlib.suppress(EnvironmentFailure):
                self.rundir.write_exit(run.run_id, state.exit)
            self.store.notice(f"arm {run.run_id} could not start: {exc}")
            return
        self.handles[run.run_id] = handle
        entry["ref"] = handle.ref
        with contextlib.suppress(Exception):
            entry["inspect"] = self.backend.inspect(handle)

    def refresh_inspect(self, run_id: str) -> None:
        """The backend's facts about a run again (a Slurm job's node, once it started)."""
        handle = self.handles.get(run_id)
        entry = self.manifest["runs"].get(run_id)
        if handle is None or entry is None or self.read_only:
            return
        with contextlib.suppress(Exception):
            entry["inspect"] = self.backend.inspect(handle)
        self.save_manifest()

    def _watch(self, run_id: str, handle: ArmHandle) -> None:
        w = ArmWatcher(self.backend, handle, self.store.run(run_id), self.rundir,
                       self.stop_event, writable=not self.read_only)
        w.on_notice = self.store.notice
        run = next((r for r in self.runs if r.run_id == run_id), None)
        if run is not None and self.backend.is_remote(run):  # its node is known once it runs
            w.on_started = lambda: self.refresh_inspect(run_id)
        self.watchers[run_id] = w
        w.start()
        f = FilesWatcher(run_id, self.store.run(run_id), self.rundir, self.stop_event,
                         arm_done=lambda: not w.is_alive(), writable=not self.read_only)
        self.file_watchers[run_id] = f
        f.start()

    def _start_threads(self) -> None:
        for run_id, handle in self.handles.items():
            if run_id not in self.watchers:
                self._watch(run_id, handle)
        if self.pending and not self.read_only:
            self._launch_ready()
            self._scheduler = threading.Thread(target=self._schedule_loop, name="abtui-scheduler",
                                               daemon=True)
            self._scheduler.start()
        if not self.read_only:
            self.telemetry = TelemetryLoop(self)
            self.telemetry.start()

    # ---- attaching ------------------------------------------------------------------
    @classmethod
    def attach(cls, root: str | Path, follow: bool = True, resume: bool = False) -> Experiment:
        """Rebuild everything from the run directory, then go on tailing arms still running.
        ``resume``: also start the runs that were never launched (a run directory may come
        from anyone: its commands are run only when asked)."""
        rundir = RunDir.open(root)
        rundir.check_owned()  # it writes there, and may signal or start what it names
        spec, runs, manifest = reattach.stored_plan(rundir)
        backend = None
        if follow:
            with contextlib.suppress(AbtuiError):  # no backend here: the files are read
                backend = make_backend(spec, manifest.get("workdir"))
        exp = cls(spec, rundir, backend or NoBackend(), runs, manifest)
        exp.resume = resume
        if follow and not exp.take_lock():
            exp.read_only = True
            exp.store.notice("another monitor holds this run: this one is read-only")
        if follow and not exp.read_only:
            for folder in (rundir.root, *(rundir.root / "arms" / r for r in rundir.run_ids())):
                sweep_temps(folder)  # what a monitor killed mid-write left behind
            exp._log_to_rundir()
        exp.replay()
        if follow and backend is not None:
            exp._reattach()
        return exp

    @classmethod
    def catch_up(cls, root: str | Path) -> Experiment:
        """The run directory brought up to date without watching (see ``catchup``)."""
        from abtui.experiment.catchup import catch_up

        return catch_up(cls.attach(root, follow=False))

    def replay(self) -> None:
        """Fold every persisted line and telemetry sample into the store (``reattach``)."""
        reattach.replay(self)

    def restore_status(self, run_id: str, state: RunState) -> None:
        """An arm's status as the run dir says (``reattach.restore_status``)."""
        reattach.restore_status(self.rundir, run_id, state)

    def _reattach(self) -> None:
        reattach.follow_again(self)
        self._start_threads()

    # ---- running --------------------------------------------------------------------
    def wait(self, timeout: float | None = None, poll_s: float = 0.2) -> bool:
        """Block until every arm has ended (True) or ``timeout`` passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.check_stalls()
            if not self.pending and all(not w.is_alive() for w in
                                        [*self.watchers.values(), *self.file_watchers.values()]):
                return True
            if self.pending and self.stop_event.is_set():
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(poll_s)

    def check_stalls(self, now: float | None = None) -> None:
        limit = self.spec.stall_timeout_s
        if not limit:
            return
        now = now or time.time()
        for state in self.store.runs.values():
            if state.status == ArmStatus.RUNNING:
                entry = self.manifest["runs"].get(state.run_id)
                since = state.last_time or (entry.get("started_at") if entry else None)
                if since and now - since > limit:
                    state.move(ArmStatus.STALLED)
                    self.store.notice(f"arm {state.run_id} is stalled: no output for {limit:.0f}s")
            elif state.status == ArmStatus.STALLED and state.last_time and now - state.last_time < limit:
                state.move(ArmStatus.RUNNING)

    def stop_arms(self, grace_s: float = 10.0) -> None:
        """Stop every arm (SIGTERM, then SIGKILL / docker stop) and drain their output."""
        with self._sched_lock:
            for run in self.pending:
                self.store.run(run.run_id).move(ArmStatus.STOPPED)
            self.pending.clear()
        for w in self.watchers.values():
            w.stopped_by_user = True
        threads = [threading.Thread(target=self.backend.stop, args=(h, grace_s))
                   for h in self.handles.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.wait(timeout=grace_s + 10)

    def detach(self) -> None:
        """Leave the arms running; stop watching. The run directory has everything so far."""
        self.stop_event.set()
        for w in [*self.watchers.values(), *self.file_watchers.values()]:
            w.join(timeout=5)
        if self.telemetry is not None:
            self.telemetry.join(timeout=5)
        self.manifest["detached_at"] = time.time()
        if not self.read_only:
            self.save_manifest()
            self._snapshot_arms()
        self.release_lock()

    def finish(self, keep: bool = False) -> None:
        """After every arm ended: stop telemetry, clean up containers, mark the run finished."""
        self.stop_event.set()
        for t in self._observers:  # the conclusion reads what they observed
            t.join(timeout=60)
        if self.telemetry is not None:
            self.telemetry.join(timeout=5)
        for handle in self.handles.values():
            with contextlib.suppress(AbtuiError):
                self.backend.cleanup(handle, keep=keep)
        if not self.read_only:
            remote = {r.run_id for r in self.runs if self.backend.is_remote(r)}
            for run_id, handle in self.handles.items():  # a node known only at the end
                if run_id in remote:
                    with contextlib.suppress(Exception):
                        self.manifest["runs"][run_id]["inspect"] = self.backend.inspect(handle)
        self.design.at_end()
        self.manifest["status"] = "finished"
        self.manifest["finished_at"] = time.time()
        if not self.read_only:
            self.save_manifest()
            self._snapshot_arms()
        self.release_lock()

    def _snapshot_arms(self) -> None:
        """Cache each watched arm's store beside its events (``attach`` then skips decoding):
        only arms whose watcher is done and persisted every line, if not cached already."""
        for run_id, w in self.watchers.items():
            path = self.rundir.events_path(run_id)
            with contextlib.suppress(OSError):
                f = self.file_watchers.get(run_id)
                if (not w.is_alive() and w.writable and w.error is None
                        and (f is None or (not f.is_alive() and f.error is None))
                        and covered_size(path) != os.path.getsize(path)):
                    write_snapshot(self.store.run(run_id), path)

    def failed_runs(self) -> list[str]:
        return [r for r, s in self.store.runs.items() if s.status not in (ArmStatus.DONE,)]

    # ---- the writer's lock ----------------------------------------------------------
    def take_lock(self) -> bool:
        self._lock_fh = self.rundir.take_writer_lock()
        return self._lock_fh is not None

    def release_lock(self) -> None:
        if self._lock_fh is not None:
            self.rundir.release_writer_lock(self._lock_fh)
            self._lock_fh = None


__all__ = ["Experiment", "status_for_exit"]
