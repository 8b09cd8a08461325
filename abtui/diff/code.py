"""Code findings: the git commit and dirty state of the runner code in each run, and the
actual ``git diff`` between two commits when the repository is on this machine.

git is run with list arguments (never a shell), a timeout, no external diff drivers and
no textconv filters: a repository named by a run directory is data, not a program.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from typing import Any

from abtui.diff.context import RunPair
from abtui.diff.findings import INFO, WARNING, Finding, show

CATEGORY = "code"
GIT_TIMEOUT_S = 10.0
MAX_DIFF_CHARS = 200_000
#: What counts as code in a diff (git pathspecs; a bare ``*.py`` matches at any depth).
CODE_PATHS = (
    "*.py", "*.pyi", "*.pyx", "*.pxd", "*.c", "*.h", "*.cc", "*.cpp", "*.hpp", "*.cu", "*.cuh",
    "*.sh", "*.toml", "*.cfg", "*.ini", "*.yaml", "*.yml", "requirements*.txt", "Dockerfile*",
)
_COMMIT = re.compile(r"^[0-9a-fA-F]{4,64}$")


def _git(root: str, *args: str) -> str | None:
    """stdout of ``git -C root args`` or None on any failure (missing git, timeout, error)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"}
    try:
        done = subprocess.run(
            ["git", "-C", root, "-c", "core.fsmonitor=false", "-c", "core.quotepath=false", *args],
            capture_output=True, text=True, errors="replace", timeout=GIT_TIMEOUT_S,
            check=False, env=env, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def has_commit(root: str, commit: str) -> bool:
    """Does the repository at ``root`` hold ``commit``?"""
    if not _COMMIT.match(commit or ""):
        return False
    return _git(root, "cat-file", "-e", f"{commit}^{{commit}}") is not None


_CACHE: dict[tuple[str, str, str], tuple[float, tuple[str, str, str] | None]] = {}
_MISS_TTL_S = 60.0  # a repository can gain a commit (a fetch) while the TUI is open


def commit_diff(root: str, a: str, b: str) -> tuple[str, str, str] | None:
    """(shortstat, stat, diff) of code paths between commits ``a`` and ``b`` in ``root``;
    None when the repository is not here or lacks either commit. Cached: the diff pane
    asks again on every refresh, and commits never change."""
    key = (root, a, b)
    hit = _CACHE.get(key)
    now = time.monotonic()
    if hit is not None and (hit[1] is not None or now - hit[0] < _MISS_TTL_S):
        return hit[1]
    found = _commit_diff(root, a, b)
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[key] = (now, found)
    return found


def _commit_diff(root: str, a: str, b: str) -> tuple[str, str, str] | None:
    if not (_COMMIT.match(a) and _COMMIT.match(b)) or not os.path.isdir(root):
        return None
    if not (has_commit(root, a) and has_commit(root, b)):
        return None
    opts = ("diff", "--no-ext-diff", "--no-textconv", "--no-color")
    span = (a, b, "--", *CODE_PATHS)
    short = _git(root, *opts, "--shortstat", *span)
    stat = _git(root, *opts, "--stat=100", *span)
    diff = _git(root, *opts, *span)
    if short is None or stat is None or diff is None:
        return None
    if len(diff) > MAX_DIFF_CHARS:
        cut = diff.rfind("\n", 0, MAX_DIFF_CHARS)
        diff = diff[: cut + 1] + f"… (diff cut at {MAX_DIFF_CHARS} characters)\n"
    return short.strip(), stat.rstrip(), diff


def _git_state(env: Mapping[str, Any] | None) -> dict[str, Any] | None:
    g = (env or {}).get("git")
    return g if isinstance(g, dict) else None


def code_findings(pair: RunPair) -> list[Finding]:
    """Commit, dirty state, uncommitted-change identity and script fingerprint differences."""
    ea, eb = pair.a.env, pair.b.env
    if ea is None or eb is None:
        return []
    ga, gb = _git_state(ea), _git_state(eb)
    out: list[Finding] = []
    if ga is None and gb is None:
        return _script_findings(pair, ea, eb)
    if ga is None or gb is None:
        inside, outside = (pair.lb, pair.la) if ga is None else (pair.la, pair.lb)
        commit = (gb or ga or {}).get("commit")
        out.append(pair.finding(
            "code.commit", CATEGORY, (ga or {}).get("commit"), (gb or {}).get("commit"),
            f"{pair.where}{inside}'s code is in git (commit {str(commit)[:12]}) but {outside}'s "
            "is not in a git repository: the code cannot be shown to be the same", WARNING))
        return out
    ca, cb = ga.get("commit"), gb.get("commit")
    if ca != cb:
        out.append(_commit_finding(pair, ga, gb))
    if bool(ga.get("dirty")) != bool(gb.get("dirty")):
        dirty, clean = (pair.la, pair.lb) if ga.get("dirty") else (pair.lb, pair.la)
        out.append(pair.finding(
            "code.dirty", CATEGORY, bool(ga.get("dirty")), bool(gb.get("dirty")),
            f"{pair.where}{dirty} ran with uncommitted changes to its code and {clean} did not",
            WARNING))
    elif ga.get("dirty") and gb.get("dirty") and ca == cb:
        ha, hb = ga.get("diff_hash"), gb.get("diff_hash")
        if ha and hb and ha != hb:
            out.append(pair.finding(
                "code.uncommitted", CATEGORY, ha, hb,
                f"{pair.where}both ran uncommitted changes on commit {str(ca)[:12]}, "
                f"and the changes differ ({pair.la}: {ha}, {pair.lb}: {hb})", WARNING))
    if ca == cb and not out:
        out += _script_findings(pair, ea, eb)
    return out


def _commit_finding(pair: RunPair, ga: Mapping[str, Any], gb: Mapping[str, Any]) -> Finding:
    ca, cb = str(ga.get("commit") or ""), str(gb.get("commit") or "")
    head = (f"{pair.where}the runner code differs: {pair.la} ran commit {show(ca[:12] or None)}, "
            f"{pair.lb} ran {show(cb[:12] or None)}")
    roots = [r for r in dict.fromkeys((ga.get("root"), gb.get("root"))) if isinstance(r, str) and r]
    found = None
    for root in roots:
        found = commit_diff(root, ca, cb) if ca and cb else None
        if found is not None:
            break
    if found is None:
        where = roots[0] if roots else "the runner's repository"
        return pair.finding("code.commit", CATEGORY, ca or None, cb or None,
                            f"{head} ({where} is not available here with both commits, "
                            "so the diff cannot be shown)", WARNING)
    short, stat, diff = found
    if not diff.strip():
        return pair.finding("code.commit", CATEGORY, ca, cb,
                            f"{head}, but no code file differs between the two commits", INFO)
    detail = f"git diff --stat {ca[:12]} {cb[:12]} (code files)\n{stat}\n\n{diff}"
    return pair.finding("code.commit", CATEGORY, ca, cb, f"{head} ({short})", WARNING,
                        detail=detail)


def _script_findings(pair: RunPair, ea: Mapping[str, Any], eb: Mapping[str, Any]) -> list[Finding]:
    sa: dict[str, Any] = ea["script"] if isinstance(ea.get("script"), dict) else {}
    sb: dict[str, Any] = eb["script"] if isinstance(eb.get("script"), dict) else {}
    ha, hb = sa.get("sha256"), sb.get("sha256")
    if not ha or not hb or ha == hb:
        return []
    return [pair.finding(
        "code.script", CATEGORY, ha, hb,
        f"{pair.where}the training script differs ({pair.la}: {sa.get('path')} sha256 {ha}, "
        f"{pair.lb}: {sb.get('path')} sha256 {hb})", WARNING)]
