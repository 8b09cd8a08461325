"""The one line "what was checked" shows for a category that was identical in every run
("torch 2.13.0+cpu", "commit 3f2a9c1e0b clean"): a function of one run's facts per
category, None where the run did not record it. Declared with their categories in
``categories.py``."""

from __future__ import annotations

from collections.abc import Mapping

from abtui.diff.context import RunFacts


def config(f: RunFacts) -> str | None:
    return f"{len(f.config)} config key{'s' if len(f.config) != 1 else ''}" if f.config else None


def image(f: RunFacts) -> str | None:
    if f.image and f.image.get("id"):
        return f"image {str(f.image['id']).removeprefix('sha256:')[:12]}"
    return None


def environment(f: RunFacts) -> str | None:
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


def code(f: RunFacts) -> str | None:
    git = (f.env or {}).get("git")
    if isinstance(git, Mapping) and git.get("commit"):
        dirty = " (uncommitted changes)" if git.get("dirty") else " clean"
        return f"commit {str(git['commit'])[:10]}{dirty}"
    script = (f.env or {}).get("script")
    if isinstance(script, Mapping) and script.get("sha256"):
        return f"script {str(script['sha256'])[:10]}"
    return None


def hardware(f: RunFacts) -> str | None:
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


def data(f: RunFacts) -> str | None:
    data = (f.env or {}).get("data")
    if isinstance(data, Mapping) and (data.get("fingerprint") or data.get("name")):
        return str(data.get("name") or "") + (f" {str(data['fingerprint'])[:10]}"
                                             if data.get("fingerprint") else "")
    return None


def envvars(f: RunFacts) -> str | None:
    seen = dict(f.spec_env or {})
    rec = (f.env or {}).get("env_vars")
    if isinstance(rec, Mapping):
        seen.update(rec)
    elif f.env is None:
        return None
    return f"{len(seen)} variable{'s' if len(seen) != 1 else ''}"


def files(f: RunFacts) -> str | None:
    if f.writes is None:
        return None
    return "no path written by two arms"
