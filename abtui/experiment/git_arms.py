"""Arms from git refs: each arm runs the code of one commit, in a worktree of its own.

``code: {git: REF}`` on every arm (or ``abtui ab --git A --git B -- CMD``). Before
anything runs, each ref must name a commit of the repository that holds the spec's
workdir, and a ref that is the checked-out commit is refused while the working tree has
uncommitted changes (they would silently not be in that arm). Each arm then gets
``git worktree add --detach`` at ``<run>/worktrees/<arm>``, made read-only (the arm writes
to ``$ABTUI_OUT``), and runs there at the workdir's place within the repository. The code
difference between the refs is the treatment: the spec's treatment gains ``code``.

git runs with list arguments, a timeout and no hooks or external helpers, as in
``abtui.diff.working_tree``.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

from abtui.infra.errors import SpecError
from abtui.spec import ArmRun, ExperimentSpec

GIT_TIMEOUT_S = 60.0
DIR = "worktrees"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"}
    return subprocess.run(["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null",
                           "-c", "core.fsmonitor=false", *args], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL, check=False)


def git_refs(spec: ExperimentSpec) -> dict[str, str]:
    """arm -> ref, for a spec whose arms come from git refs (else empty)."""
    return {name: arm.code.git for name, arm in spec.arms.items() if arm.code is not None}


def check_refs(spec: ExperimentSpec, workdir: Path) -> dict[str, str]:
    """arm -> the commit each ref names; SpecError (exit 2) for anything that cannot run."""
    refs = git_refs(spec)
    if not refs:
        return {}
    top = _git(workdir, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise SpecError("code.git", [f"the workdir {workdir} is not in a git repository: "
                                     "arms from git refs need one"])
    repo = Path(top.stdout.strip())
    commits: dict[str, str] = {}
    problems = []
    for arm, ref in refs.items():
        got = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        if got.returncode != 0:
            problems.append(f"arm {arm}: {ref!r} is not a commit of {repo} (unknown ref)")
        else:
            commits[arm] = got.stdout.strip()
    if problems:
        raise SpecError("code.git", problems)
    head = _git(repo, "rev-parse", "HEAD").stdout.strip()
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if dirty:
        at_head = [f"{a} ({refs[a]})" for a, c in commits.items() if c == head]
        if at_head:
            raise SpecError("code.git", [
                f"the working tree of {repo} has uncommitted changes, and arm "
                f"{', '.join(at_head)} names the checked-out commit: those changes would not "
                "be in it. Commit or stash them first."])
    return commits


def make_worktrees(spec: ExperimentSpec, workdir: Path, run_root: Path,
                   commits: dict[str, str], runs: Sequence[ArmRun]) -> None:
    """A worktree per arm; each run of the arm starts at the workdir's place in it (its
    ``extra``: ``cwd``, and ``git`` with the ref and commit, for the manifest)."""
    if not commits:
        return
    repo = Path(_git(workdir, "rev-parse", "--show-toplevel").stdout.strip())
    inside = workdir.resolve().relative_to(repo.resolve())
    for arm, commit in commits.items():
        path = run_root / DIR / arm
        got = _git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
        if got.returncode != 0:
            raise SpecError("code.git", [f"arm {arm}: git worktree add failed: "
                                         f"{got.stderr.strip()[:300]}"])
        _read_only(path)
        code = spec.arms[arm].code
        for run in runs:
            if run.arm == arm:
                run.extra.update(cwd=str(path / inside),
                                 git={"ref": code.git if code else None, "commit": commit})


def _read_only(root: Path) -> None:
    """No write bits under ``root`` (the arm writes to $ABTUI_OUT, not into its code)."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) & ~0o222)
        os.chmod(dirpath, stat.S_IMODE(os.lstat(dirpath).st_mode) & ~0o222)
