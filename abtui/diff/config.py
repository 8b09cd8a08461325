"""Config findings: the resolved config each run actually ran with, key by key.

The runner's env record says what it ran with (defaults included); the manifest says
what abtui asked for. Both sides of a pair use the same source: the env records when
both runs reported one, the manifest otherwise.
"""

from __future__ import annotations

from typing import Any

from abtui.diff.context import RunFacts, RunPair, mask_value
from abtui.diff.findings import INFO, WARNING, Finding, show
from abtui.spec.resolve import flatten

CATEGORY = "config"
#: Keys that differ between replicates of one arm by design.
PER_RUN_KEYS = frozenset({"seed"})
_ABSENT = object()


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (a flag is not a count)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _seed(facts: RunFacts) -> Any:
    env = facts.env or {}
    if env.get("seed") is not None:
        return env["seed"]
    cfg = facts.env_config or facts.config
    return cfg.get("seed", facts.seed)


def resolved_configs(pair: RunPair) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Both sides' flattened configs and where they came from."""
    ca, cb = pair.a.env_config, pair.b.env_config
    if ca is not None and cb is not None:
        return flatten(ca), flatten(cb), "env"
    return flatten(pair.a.config or {}), flatten(pair.b.config or {}), "manifest"


def config_findings(pair: RunPair) -> list[Finding]:
    """Every config key that differs, intended (treatment) or a confound; plus the seed,
    the launch command, and a warning when the arms do not differ in the treatment."""
    fa, fb, source = resolved_configs(pair)
    out: list[Finding] = []
    if source == "manifest" and (pair.a.env is not None or pair.b.env is not None):
        missing = pair.lb if pair.a.env is not None else pair.la
        out.append(pair.finding(
            "config.source", CATEGORY, None, None,
            f"{pair.where}{missing} reported no config yet: configs are compared as the "
            "manifest resolved them, without the runner's defaults", severity=INFO))
    treated_differs = False
    for key in sorted(set(fa) | set(fb)):
        if key in PER_RUN_KEYS:
            continue
        va, vb = fa.get(key, _ABSENT), fb.get(key, _ABSENT)
        if va is not _ABSENT and vb is not _ABSENT and _same(va, vb):
            continue
        a = None if va is _ABSENT else mask_value(key, va)
        b = None if vb is _ABSENT else mask_value(key, vb)
        sides = f"{pair.la}: {show(a)}, {pair.lb}: {show(b)}"
        if a == b and va is not _ABSENT and vb is not _ABSENT:
            sides = f"{pair.la} and {pair.lb}: values hidden"
        intended = not pair.within_arm and pair.treatment.covers_config(key)
        treated_differs |= intended
        if intended:
            msg = f"{key} differs ({sides})"
        elif pair.within_arm:
            msg = (f"{pair.where}replicates differ in {key} ({sides}): only the seed should "
                   "differ between replicates, so this is a confound")
        else:
            msg = f"{key} differs ({sides}) but is not part of the treatment: a confound"
        out.append(pair.finding(f"config.{key}", CATEGORY, a, b, msg, WARNING,
                                intended=intended))
    out += _seed_findings(pair)
    out += _command_findings(pair)
    entries = pair.treatment.config_entries(pair.config_keys or set(fa) | set(fb))
    if entries and not pair.within_arm and not treated_differs:
        shown = ", ".join(entries)
        values = "; ".join(f"{t}: {show(_lookup(fa, t))}" for t in entries)
        out.append(pair.finding(
            "config.treatment", CATEGORY, list(entries), list(entries),
            f"{pair.la} and {pair.lb} do not differ in the treatment ({shown}; {values}): "
            "the comparison tests nothing", WARNING, intended=False))
    return out


def _lookup(flat: dict[str, Any], key: str) -> Any:
    k = key.replace("-", "_")
    for name, v in flat.items():
        if name.replace("-", "_") == k:
            return mask_value(name, v)
    sub = {n: v for n, v in flat.items() if n.replace("-", "_").startswith(k + ".")}
    return sub or None


def _seed_findings(pair: RunPair) -> list[Finding]:
    if pair.within_arm:
        return []  # replicate seeds differ by design
    sa, sb = _seed(pair.a), _seed(pair.b)
    if sa is None or sb is None or _same(sa, sb):
        return []
    intended = pair.treatment.covers_config("seed")
    if intended:
        msg = f"seed differs ({pair.la}: {sa}, {pair.lb}: {sb})"
    else:
        msg = (f"seeds differ at replicate {pair.a.replicate} ({pair.la}: {sa}, {pair.lb}: {sb}): "
               "arms must share seeds replicate by replicate, so this is a confound")
    return [pair.finding("config.seed", CATEGORY, sa, sb, msg, WARNING, intended=intended)]


def _command_findings(pair: RunPair) -> list[Finding]:
    ca, cb = pair.a.command, pair.b.command
    if ca is None or cb is None or list(ca) == list(cb):
        return []
    a, b = " ".join(ca), " ".join(cb)
    return [pair.finding(
        "launch.command", CATEGORY, a, b,
        f"{pair.where}the runner command differs ({pair.la}: {show(a)}, {pair.lb}: {show(b)})",
        WARNING)]
