"""The report's ``environment`` section: where each run ran, on which image, with what software."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abtui.infra.secrets import mask_env, mask_env_list


def environment_section(exp: Any) -> dict[str, Any]:
    """Backend, host, the image identity (docker) and per-run facts, from the run dir alone."""
    manifest: Mapping[str, Any] = exp.manifest
    facts = manifest.get("backend_facts") or {}
    image = facts.get("image")
    if isinstance(image, Mapping):
        image = {k: image.get(k) for k in ("ref", "id", "repo_digests", "repo_tags",
                                           "created", "architecture", "os", "labels")
                 if k in image}
        env = (facts.get("image") or {}).get("env")
        if isinstance(env, Mapping):
            image["env"] = mask_env(dict(env))
        elif isinstance(env, list):
            image["env"] = mask_env_list(env)
    runs: dict[str, Any] = {}
    for run_id, entry in (manifest.get("runs") or {}).items():
        state = exp.store.runs.get(run_id)
        env = (state.env if state is not None else None) or {}
        ref = entry.get("ref") or {}
        git = env.get("git") or {}
        runs[run_id] = {
            "image_id": (facts.get("images") or {}).get(run_id),
            "container": ref.get("name") or ref.get("container_id"),
            "pid": ref.get("pid"),
            "gpus": entry.get("gpus", []),
            "seed": entry.get("seed"),
            "hostname": env.get("hostname"),
            "python": env.get("python"),
            "torch": env.get("torch"),
            "cuda": env.get("cuda"),
            "cudnn": env.get("cudnn"),
            "gpu_names": [g.get("name") for g in env.get("gpus") or [] if isinstance(g, Mapping)],
            "git_commit": git.get("commit") if isinstance(git, Mapping) else None,
            "git_dirty": git.get("dirty") if isinstance(git, Mapping) else None,
        }
    return {
        "backend": manifest.get("backend"),
        "host": manifest.get("host"),
        "image": image,
        "runs": runs,
    }


def environment_markdown(report: Mapping[str, Any]) -> list[str]:
    env = report.get("environment") or {}
    if not env:
        return []
    out = ["## Environment", ""]
    host = env.get("host") or {}
    out.append(f"- backend: {env.get('backend')}; monitor host: {host.get('hostname', '?')} "
               f"({host.get('platform', '?')})")
    image = env.get("image")
    if image:
        digests = ", ".join(image.get("repo_digests") or []) or "none (local image, not pushed)"
        out.append(f"- image: `{image.get('ref') or '?'}` → id `{image.get('id')}` (every run launched by this ID)")
        out.append(f"  - repo digests: {digests}; created {image.get('created')}; "
                   f"{image.get('os')}/{image.get('architecture')}")
    out += ["", "| run | image id | container / pid | GPUs | torch | CUDA | python | git |",
            "|---|---|---|---|---|---|---|---|"]
    for run_id, r in (env.get("runs") or {}).items():
        img = (r.get("image_id") or "–")[:19]
        where = r.get("container") or (f"pid {r['pid']}" if r.get("pid") else "–")
        gpus = ",".join(map(str, r.get("gpus") or [])) or "none"
        git = (r.get("git_commit") or "–")[:10] + (" (dirty)" if r.get("git_dirty") else "")
        out.append(f"| {run_id} | {img} | {where} | {gpus} | {r.get('torch') or '–'} | "
                   f"{r.get('cuda') or '–'} | {r.get('python') or '–'} | {git} |")
    return [*out, ""]
