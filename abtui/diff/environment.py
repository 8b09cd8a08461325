"""Software-environment findings: interpreter, framework and library versions, packages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from abtui.diff.context import RunPair
from abtui.diff.findings import WARNING, Finding, show

CATEGORY = "environment"
#: Env-record fields compared as versions, with the words a sentence uses for them.
VERSIONS = {
    "python": "Python", "torch": "PyTorch", "cuda": "CUDA", "cudnn": "cuDNN", "nccl": "NCCL",
    "platform": "the OS platform", "device": "the training device",
    "world_size": "the number of processes", "torch_threads": "PyTorch's CPU thread count",
}
SHOWN_PACKAGES = 6


def environment_findings(pair: RunPair) -> list[Finding]:
    """Version differences between the two runs' env records, and their package lists."""
    ea, eb = pair.a.env, pair.b.env
    if ea is None or eb is None:
        return []
    out: list[Finding] = []
    for field, words in VERSIONS.items():
        va, vb = ea.get(field), eb.get(field)
        if va == vb:
            continue
        out.append(pair.finding(
            f"env.{field}", CATEGORY, va, vb,
            f"{pair.where}{words} differs ({pair.la}: {show(va)}, {pair.lb}: {show(vb)})",
            WARNING))
    found = package_finding(pair, ea, eb)
    if found is not None:
        out.append(found)
    return out


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_changes(pa: Mapping[str, str], pb: Mapping[str, str]) -> list[str]:
    """``numpy 1.26.4 → 2.0.1``, ``+ rich 13.7.1`` (only in b), ``- tqdm 4.66.0`` (only in a)."""
    ca = {_canon(k): (k, v) for k, v in pa.items()}
    cb = {_canon(k): (k, v) for k, v in pb.items()}
    lines = []
    for key in sorted(set(ca) | set(cb)):
        a, b = ca.get(key), cb.get(key)
        if a and b:
            if str(a[1]) != str(b[1]):
                lines.append(f"{a[0]} {a[1]} → {b[1]}")
        elif b:
            lines.append(f"+ {b[0]} {b[1]}")
        elif a:
            lines.append(f"- {a[0]} {a[1]}")
    return lines


def package_finding(pair: RunPair, ea: Mapping[str, Any], eb: Mapping[str, Any]) -> Finding | None:
    """One finding for the installed-package sets, listing what differs."""
    ha, hb = ea.get("packages_hash"), eb.get("packages_hash")
    pa, pb = ea.get("packages"), eb.get("packages")
    have_lists = isinstance(pa, dict) and isinstance(pb, dict) and bool(pa or pb)
    changes = package_changes(pa, pb) if isinstance(pa, dict) and isinstance(pb, dict) and have_lists else []
    if have_lists and not changes:
        return None
    if not have_lists and (ha is None or hb is None or ha == hb):
        return None
    if changes:
        shown = ", ".join(changes[:SHOWN_PACKAGES])
        more = f" and {len(changes) - SHOWN_PACKAGES} more" if len(changes) > SHOWN_PACKAGES else ""
        msg = (f"{pair.where}installed packages differ ({pair.la} → {pair.lb}): {shown}{more}")
        detail = f"{pair.la} → {pair.lb}\n" + "\n".join(changes)
    else:
        msg = (f"{pair.where}installed packages differ (hash {ha} vs {hb}); "
               "the runners did not record the lists")
        detail = None
    return pair.finding("env.packages", CATEGORY, ha, hb, msg, WARNING, detail=detail)
