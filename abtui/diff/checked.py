"""What the diff looked at, category by category: the evidence behind "fair".

A list of exceptions cannot tell "identical" from "never recorded". For every category
this says which it was: **identical** (with the value both sides had, "torch 2.13.0+cpu
both"), **treatment** (differs, as intended), **confound** (differs, not intended) or
**not recorded** (a run did not report it, so it was not compared).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from abtui.diff.context import RunFacts
from abtui.diff.findings import CATEGORIES

IDENTICAL, TREATMENT, CONFOUND, NOT_RECORDED = "identical", "treatment", "confound", "not recorded"


@dataclass(frozen=True)
class CategoryCheck:
    category: str
    state: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.category:<12} {self.state:<13} {self.text}"


def _config(f: RunFacts) -> str | None:
    return f"{len(f.config)} config key{'s' if len(f.config) != 1 else ''}" if f.config else None


def _image(f: RunFacts) -> str | None:
    if f.image and f.image.get("id"):
        return f"image {str(f.image['id']).removeprefix('sha256:')[:12]}"
    return None


def _environment(f: RunFacts) -> str | None:
    env = f.env or {}
    if not env:
        return None
    parts = [f"python {env.get('python')}"] if env.get("python") else []
    if env.get("torch"):
        parts.append(f"torch {env['torch']}")
    if env.get("cuda"):
        parts.append(f"CUDA {env['cuda']}")
    if env.get("packages_hash"):
        parts.append(f"packages {str(env['packages_hash'])[:8]}")
    if f.numerics:
        n = f.numerics
        parts.append(f"matmul {n.get('float32_matmul_precision')}, threads {n.get('num_threads')}")
    return ", ".join(parts) or None


def _code(f: RunFacts) -> str | None:
    git = (f.env or {}).get("git")
    if isinstance(git, Mapping) and git.get("commit"):
        dirty = " (uncommitted changes)" if git.get("dirty") else " clean"
        return f"commit {str(git['commit'])[:10]}{dirty}"
    script = (f.env or {}).get("script")
    if isinstance(script, Mapping) and script.get("sha256"):
        return f"script {str(script['sha256'])[:10]}"
    return None


def _hardware(f: RunFacts) -> str | None:
    env = f.env or {}
    host = env.get("host") if isinstance(env.get("host"), Mapping) else {}
    gpus = env.get("gpus")
    parts = []
    if isinstance(gpus, list):
        names = sorted({str(g.get("name")) for g in gpus if isinstance(g, Mapping)})
        parts.append(" + ".join(names) if names else "no GPU")
    if host and host.get("cpu_model"):
        parts.append(f"{host['cpu_model']} ({host.get('cpus_usable') or host.get('cpu_count')} cores)")
    return ", ".join(parts) or None


def _data(f: RunFacts) -> str | None:
    data = (f.env or {}).get("data")
    if isinstance(data, Mapping) and (data.get("fingerprint") or data.get("name")):
        return str(data.get("name") or "") + (f" {str(data['fingerprint'])[:10]}"
                                             if data.get("fingerprint") else "")
    return None


def _envvars(f: RunFacts) -> str | None:
    seen = dict(f.spec_env or {})
    rec = (f.env or {}).get("env_vars")
    if isinstance(rec, Mapping):
        seen.update(rec)
    elif f.env is None:
        return None
    return f"{len(seen)} variable{'s' if len(seen) != 1 else ''}"


def _files(f: RunFacts) -> str | None:
    if f.writes is None:
        return None
    return "no path written by two arms"


VALUE: dict[str, Callable[[RunFacts], str | None]] = {
    "config": _config, "image": _image, "environment": _environment, "code": _code,
    "hardware": _hardware, "data": _data, "files": _files, "envvars": _envvars,
}


def category_checks(facts: Iterable[RunFacts], findings: Iterable[Any]) -> list[CategoryCheck]:
    """One check per category, in display order."""
    facts, findings = list(facts), list(findings)
    out = []
    for cat in CATEGORIES:
        mine = [f for f in findings if getattr(f, "category", None) == cat]
        confounds = [f for f in mine if getattr(f, "is_confound", False)]
        treated = [f for f in mine if getattr(f, "intended", False)]
        values = [VALUE[cat](f) for f in facts] if cat in VALUE else []
        if confounds:
            out.append(CategoryCheck(cat, CONFOUND, "; ".join(
                dict.fromkeys(str(f.message) for f in confounds[:2]))
                + (f" (+{len(confounds) - 2} more)" if len(confounds) > 2 else "")))
        elif treated:
            keys = ", ".join(dict.fromkeys(str(f.key).split(".", 1)[-1] for f in treated))
            out.append(CategoryCheck(cat, TREATMENT, f"differs as intended: {keys}"))
        elif not values or any(v is None for v in values):
            missing = [f.run_id for f, v in zip(facts, values, strict=False) if v is None]
            names = list(dict.fromkeys(missing))
            why = f"no record from {', '.join(names)}" if names else "nothing to compare"
            if cat == "image" and all(f.image is None for f in facts):
                why = "local processes: no image"
            out.append(CategoryCheck(cat, NOT_RECORDED, why))
        else:
            same = set(values)
            text = ((str(values[0]) if cat == "files" else f"{values[0]} in every run")
                    if len(same) == 1 else "compared, no difference")
            out.append(CategoryCheck(cat, IDENTICAL, text))
    return out
