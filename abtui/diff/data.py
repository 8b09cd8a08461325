"""Data findings: which dataset each run trained on, where it was, and its content
fingerprint (the runner's ``data`` record: ``name``, ``path``, ``fingerprint`` and any
fields describing how it was made)."""

from __future__ import annotations

from typing import Any

from abtui.diff.context import RunPair
from abtui.diff.findings import INFO, WARNING, Finding, show

CATEGORY = "data"
_IDENTITY = ("name", "path", "fingerprint")


def _record(env: dict[str, Any] | None) -> dict[str, Any] | None:
    d = (env or {}).get("data")
    return d if isinstance(d, dict) else None


def data_findings(pair: RunPair) -> list[Finding]:
    """Dataset name, path and fingerprint differences.

    Generated data carries its seed in the record; between replicates of one arm a
    fingerprint that differs with that seed is expected and not reported.
    """
    da, db = _record(pair.a.env), _record(pair.b.env)
    if da is None or db is None:
        return []
    out: list[Finding] = []
    extra = sorted(k for k in set(da) | set(db)
                   if k not in _IDENTITY and da.get(k) != db.get(k))
    seeded = "seed" in extra
    if pair.within_arm and seeded:
        extra = [k for k in extra if k != "seed"]
        if not extra and da.get("name") == db.get("name") and da.get("path") == db.get("path"):
            return []  # same recipe, replicate seed: expected
    na, nb = da.get("name"), db.get("name")
    if na != nb:
        out.append(pair.finding("data.name", CATEGORY, na, nb,
                                f"{pair.where}{pair.la} trained on {show(na)} and {pair.lb} on "
                                f"{show(nb)}: different datasets", WARNING))
    fa, fb = da.get("fingerprint"), db.get("fingerprint")
    pa, pb = da.get("path"), db.get("path")
    if pa != pb:
        same_content = fa is not None and fa == fb
        out.append(pair.finding(
            "data.path", CATEGORY, pa, pb,
            f"{pair.where}the data was read from different paths ({pair.la}: {show(pa)}, "
            f"{pair.lb}: {show(pb)})" + (", with the same content fingerprint" if same_content
                                         else ""),
            INFO if same_content else WARNING))
    if fa != fb and na == nb:
        how = "; ".join(f"{k}: {show(da.get(k))} vs {show(db.get(k))}" for k in extra)
        intended = (not pair.within_arm and bool(extra)
                    and all(pair.treatment.covers_config(k) for k in extra))
        msg = (f"{pair.where}the data content differs ({pair.la}: fingerprint {show(fa)}, "
               f"{pair.lb}: {show(fb)})")
        if how:
            msg += f"; its recipe differs in {how}"
        out.append(pair.finding("data.fingerprint", CATEGORY, fa, fb, msg, WARNING,
                                intended=intended or None))
    return out
