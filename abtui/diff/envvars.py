"""Environment-variable findings: variables that differ, by name, secrets hidden.

What a run saw comes from the runner's env record (``env_vars``: NCCL_*, CUDA_*, OMP_* ...)
plus the variables the spec set for it; a value whose name looks secret is never shown.
"""

from __future__ import annotations

from typing import Any

from abtui.diff.context import RunFacts, RunPair
from abtui.diff.findings import WARNING, Finding, show
from abtui.infra.secrets import MASK, is_secret_name

CATEGORY = "envvars"
#: Variables that differ between runs by design (each run's own GPUs, ports and paths).
PER_RUN_VARS = frozenset({
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "MASTER_PORT",
    "ABTUI_ARM", "ABTUI_RUN_ID", "ABTUI_SEED", "ABTUI_OUT", "PL_TRAINER_DEFAULT_ROOT_DIR",
})


def _vars(facts: RunFacts, with_record: bool) -> dict[str, Any]:
    seen = dict(facts.spec_env or {})
    if with_record:
        recorded = (facts.env or {}).get("env_vars")
        if isinstance(recorded, dict):
            seen.update(recorded)
    return seen


def envvar_findings(pair: RunPair) -> list[Finding]:
    """One finding per variable that differs (set in one run only, or set differently)."""
    with_record = pair.a.env is not None and pair.b.env is not None
    va, vb = _vars(pair.a, with_record), _vars(pair.b, with_record)
    out: list[Finding] = []
    for name in sorted(set(va) | set(vb)):
        if name in PER_RUN_VARS:
            continue
        a, b = va.get(name), vb.get(name)
        key = f"envvar.{name}"
        da = pair.a.secret_digests.get(f"env.{name}")
        db = pair.b.secret_digests.get(f"env.{name}")
        if a == b and da and db and da != db:  # masked alike, set differently at launch
            out.append(pair.finding(key, CATEGORY, MASK, MASK,
                                    f"{pair.where}{name} differs (values hidden)", WARNING))
            continue
        if a == b:
            continue
        if is_secret_name(name):
            if a is None or b is None:
                side = pair.la if a is not None else pair.lb
                out.append(pair.finding(key, CATEGORY, MASK if a is not None else None,
                                        MASK if b is not None else None,
                                        f"{pair.where}{name} is set only in {side} (value hidden)",
                                        WARNING))
            elif MASK not in (a, b):
                out.append(pair.finding(key, CATEGORY, MASK, MASK,
                                        f"{pair.where}{name} differs (values hidden)", WARNING))
            continue  # masked on either side: the values cannot be compared
        if a is None or b is None:
            side, value = (pair.la, a) if a is not None else (pair.lb, b)
            msg = f"{pair.where}{name} is set only in {side} ({show(value)})"
        else:
            msg = f"{pair.where}{name} differs ({pair.la}: {show(a)}, {pair.lb}: {show(b)})"
        out.append(pair.finding(key, CATEGORY, a, b, msg, WARNING))
    return out
