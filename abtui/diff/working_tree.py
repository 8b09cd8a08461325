"""The exact code each run ran: a snapshot of the working tree at launch.

``abtui diff`` can name a commit, but "what did I change since yesterday" is usually
uncommitted. At launch this writes into the run directory ``code/``: ``snapshot.json``
(repository, commit, dirty, each file's size and sha256), ``working.patch`` (``git diff
HEAD``, text, capped) and ``untracked/<path>`` (untracked files under the command's
directory or imported from it, each capped). Two runs are then compared by their patches
and files, line by line.

git runs with list arguments (never a shell), a timeout, no pager, no external diff
drivers or textconv filters, and no fsmonitor: a working tree is data, not a program.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from abtui.infra.safe_io import open_read

GIT_TIMEOUT_S = 10.0
MAX_PATCH_BYTES = 2 * 1024 * 1024
MAX_FILE_BYTES = 256 * 1024
MAX_UNTRACKED_FILES = 200
MAX_UNTRACKED_BYTES = 4 * 1024 * 1024
DIR = "code"


def _git(root: str, *args: str) -> bytes | None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"}
    try:
        done = subprocess.run(
            ["git", "-C", root, "-c", "core.fsmonitor=false", "-c", "core.quotepath=false",
             "-c", "diff.external=", *args],
            capture_output=True, timeout=GIT_TIMEOUT_S, check=False, env=env,
            stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def code_dir(command: Sequence[str], workdir: Path) -> Path:
    """The folder of the command's script (the first argument that is a file), else workdir."""
    for arg in command[1:]:
        if arg.startswith("-"):
            continue
        p = (workdir / arg) if not os.path.isabs(arg) else Path(arg)
        if p.is_file():
            return p.resolve().parent
    return workdir.resolve()


_CREDENTIAL = re.compile(r"(^|/)(\.env[^/]*|[^/]*\.(pem|key|p12|pfx|jks|keystore|kdbx|netrc|pgpass)|"
                         r"id_(rsa|dsa|ecdsa|ed25519)[^/]*|\.netrc|\.pgpass|\.npmrc|\.pypirc|"
                         r"[^/]*(secret|passw|apikey|api_key|credential)[^/]*|"
                         r"([^/]*[._-])?tokens?([._-][^/]*)?)$", re.I)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def credential_file(name: str) -> bool:
    """A file named like a place for credentials (``.env*``, ``*.pem``, ``id_*``, anything
    named secret or token …): the code snapshot never copies it."""
    return bool(_CREDENTIAL.search(name))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(command: Sequence[str], workdir: Path, dest: Path,
             never: Sequence[Path] = ()) -> dict[str, Any]:
    """Write the code snapshot of the repository holding the command's script into
    ``dest`` (the run dir's ``code/``); returns its summary (also ``snapshot.json``)."""
    where = code_dir(command, workdir)
    top = _git(str(where), "rev-parse", "--show-toplevel")
    if top is None:
        return {"repo": None, "code_dir": str(where), "note": "not in a git repository"}
    root = top.decode("utf-8", "replace").strip()
    commit = (_git(root, "rev-parse", "HEAD") or b"").decode().strip() or None
    patch = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv") or b""
    rel = os.path.relpath(where, root)
    listed = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--",
                  "." if rel == "." else rel) or b""
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    summary: dict[str, Any] = {
        "repo": root, "code_dir": str(where), "commit": commit, "dirty": bool(patch),
        "patch": {"bytes": len(patch), "sha256": _sha(patch),
                  "truncated": len(patch) > MAX_PATCH_BYTES},
        "untracked": [],
    }
    (dest / "working.patch").write_bytes(patch[:MAX_PATCH_BYTES])
    total = 0
    for name in [n for n in listed.decode("utf-8", "replace").split("\0") if n][:MAX_UNTRACKED_FILES]:
        src = Path(root, name)
        try:
            with open(open_read(src), "rb") as fh:  # no link followed, no FIFO
                data = fh.read(MAX_FILE_BYTES + 1)
                size = os.fstat(fh.fileno()).st_size
        except OSError:
            continue
        entry = {"path": name, "bytes": size, "sha256": _sha(data) if size <= MAX_FILE_BYTES
                 else None, "truncated": size > MAX_FILE_BYTES}
        summary["untracked"].append(entry)
        if credential_file(name) or any(_same(src, p) for p in never):
            # its digest says whether it changed; its bytes stay home
            entry["kept"] = False
            continue
        if size <= MAX_FILE_BYTES and total + size <= MAX_UNTRACKED_BYTES and ".." not in name:
            out = dest / "untracked" / name
            out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            out.write_bytes(data)
            total += size
    summary["dirty"] = bool(patch) or bool(summary["untracked"])
    (dest / "snapshot.json").write_text(json.dumps(summary, indent=1))
    return summary


def load(run_root: Path) -> tuple[dict[str, Any] | None, str, dict[str, bytes]]:
    """A run directory's code snapshot: (summary or None, patch text, untracked files)."""
    base = run_root / DIR
    try:
        summary = json.loads((base / "snapshot.json").read_text())
    except (OSError, ValueError):
        return None, "", {}
    try:
        patch = (base / "working.patch").read_bytes().decode("utf-8", "replace")
    except OSError:
        patch = ""
    files = {}
    for entry in summary.get("untracked") or ():
        p = base / "untracked" / str(entry.get("path", ""))
        with contextlib.suppress(OSError, KeyError):
            files[str(entry["path"])] = p.read_bytes()
    return summary, patch, files


MAX_DETAIL_LINES = 400


def _patch_stats(patch: str) -> tuple[int, int]:
    files = sum(1 for line in patch.splitlines() if line.startswith("diff --git "))
    changed = sum(1 for line in patch.splitlines()
                  if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return files, changed


def _unified(a: str, b: str, la: str, lb: str) -> str:
    import difflib

    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), la, lb, lineterm=""))
    if len(lines) > MAX_DETAIL_LINES:
        lines = [*lines[:MAX_DETAIL_LINES], f"... {len(lines) - MAX_DETAIL_LINES} more lines"]
    return "\n".join(lines)


def snapshot_findings(root_a: Path, root_b: Path, la: str, lb: str) -> list[Any]:
    """Findings between two runs' code snapshots: uncommitted changes (patch against patch,
    line by line) and untracked files that differ."""
    from abtui.diff.findings import INFO, WARNING, Finding

    sa, pa, fa = load(root_a)
    sb, pb, fb = load(root_b)
    if sa is None and sb is None:
        return []
    if sa is None or sb is None:
        missing = la if sa is None else lb
        return [Finding("code.snapshot", "code", None, None, False, INFO,
                        f"{missing} has no code snapshot (recorded since abtui 0.2): its "
                        "uncommitted changes cannot be compared", (la, lb))]
    out = []
    if (sa.get("patch") or {}).get("sha256") != (sb.get("patch") or {}).get("sha256"):
        (na, ca), (nb, cb) = _patch_stats(pa), _patch_stats(pb)
        if not pa.strip() or not pb.strip():
            dirty, patch = (lb, pb) if not pa.strip() else (la, pa)
            detail = "\n".join(patch.splitlines()[:MAX_DETAIL_LINES])
            msg = f"uncommitted changes in {dirty} only ({max(na, nb)} file(s), {max(ca, cb)} lines)"
        else:
            detail = _unified(pa, pb, f"{la}/working.patch", f"{lb}/working.patch")
            msg = (f"uncommitted changes differ ({la}: {na} file(s), {ca} lines; "
                   f"{lb}: {nb} file(s), {cb} lines)")
        same = sa.get("commit") == sb.get("commit")
        out.append(Finding("code.patch", "code", f"{na} files / {ca} lines",
                           f"{nb} files / {cb} lines", False, WARNING,
                           msg + (" on the same commit" if same else ""), (la, lb), detail))
    hashes_a = {e["path"]: e.get("sha256") for e in sa.get("untracked") or ()}
    hashes_b = {e["path"]: e.get("sha256") for e in sb.get("untracked") or ()}
    for path in sorted(set(hashes_a) | set(hashes_b)):
        if hashes_a.get(path) == hashes_b.get(path):
            continue
        ta = fa.get(path, b"").decode("utf-8", "replace")
        tb = fb.get(path, b"").decode("utf-8", "replace")
        where = ("only in " + (la if path in hashes_a else lb)
                 if (path in hashes_a) != (path in hashes_b) else "differs")
        out.append(Finding(f"code.untracked.{path}", "code", hashes_a.get(path),
                           hashes_b.get(path), False, WARNING,
                           f"untracked file {path} {where}", (la, lb),
                           _unified(ta, tb, f"{la}/{path}", f"{lb}/{path}")))
    return out
