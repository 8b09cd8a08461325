"""Image findings: which image each run really ran, by ID, and how two images differ.

A tag is a name that can move; the image ID cannot. Two runs that name the same tag
but ran different IDs are the classic silent confound, reported as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abtui.diff.context import RunFacts, RunPair, Treatment, mask_value, pairs_of
from abtui.diff.findings import ERROR, INFO, WARNING, Finding, short_id, show
from abtui.infra.secrets import is_secret_name, mask_env

CATEGORY = "image"
_SCALARS = ("created", "architecture", "os", "entrypoint", "cmd", "working_dir")


def image_identity(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Normalise an image description: the docker backend's facts (``id``, ``repo_digests``,
    ``labels``, ``env`` ...) or raw ``docker inspect`` attrs (``Id``, ``Config`` ...).
    Env values whose names look secret are masked here, before anything compares them."""
    if not image:
        return None
    if "Id" in image or "Config" in image:
        cfg = image.get("Config") or {}
        ident: dict[str, Any] = {
            "id": image.get("Id"), "repo_digests": list(image.get("RepoDigests") or []),
            "repo_tags": list(image.get("RepoTags") or []), "created": image.get("Created"),
            "labels": dict(cfg.get("Labels") or {}), "env": cfg.get("Env") or [],
            "architecture": image.get("Architecture"), "os": image.get("Os"),
            "entrypoint": cfg.get("Entrypoint"), "cmd": cfg.get("Cmd"),
            "working_dir": cfg.get("WorkingDir") or None,
        }
    else:
        ident = dict(image)
    env = ident.get("env") or {}
    if isinstance(env, list):
        env = {k: v for k, _, v in (str(e).partition("=") for e in env)}
    ident["env"] = mask_env(dict(env))
    ident["labels"] = {k: mask_value(k, v) for k, v in dict(ident.get("labels") or {}).items()}
    return ident


def _shown_id(ident: Mapping[str, Any]) -> str:
    return short_id(ident.get("id") or next(iter(ident.get("repo_digests") or []), None))


def compare_images(pair: RunPair) -> list[Finding]:
    """Findings for one pair of runs whose ``image`` / ``image_ref`` facts are set."""
    ia, ib = pair.a.image, pair.b.image
    ra, rb = pair.a.image_ref, pair.b.image_ref
    if ia is None and ib is None:
        return []
    if ia is None or ib is None:
        known, unknown = (pair.la, pair.lb) if ia is not None else (pair.lb, pair.la)
        return [pair.finding("image.digest", CATEGORY, _id(ia), _id(ib),
                             f"{pair.where}the image {unknown} ran is not recorded "
                             f"(only {known}'s is), so it cannot be compared", INFO)]
    if _id(ia) == _id(ib):
        if ra and rb and ra != rb:
            return [pair.finding("image.tag", CATEGORY, ra, rb,
                                 f"{pair.where}{pair.la} names {ra!r} and {pair.lb} names {rb!r}, "
                                 f"but both are the same image {_shown_id(ia)}", INFO)]
        return []
    both = "both replicates" if pair.within_arm else "both arms"
    if ra and ra == rb:
        msg = (f"{pair.where}{both} say {ra!r} but run different images: "
               f"{_shown_id(ia)} vs {_shown_id(ib)} — the tag moved between launches")
        severity = ERROR
    else:
        msg = (f"{pair.where}{pair.la} runs {show(ra)} ({_shown_id(ia)}) and {pair.lb} runs "
               f"{show(rb)} ({_shown_id(ib)}): different images")
        severity = WARNING
    out = [pair.finding("image.digest", CATEGORY, _id(ia), _id(ib), msg, severity,
                        detail=_identity_table(pair, ia, ib))]
    out += _details(pair, ia, ib)
    return out


def _id(ident: Mapping[str, Any] | None) -> str | None:
    if not ident:
        return None
    return ident.get("id") or next(iter(ident.get("repo_digests") or []), None)


def _identity_table(pair: RunPair, ia: Mapping[str, Any], ib: Mapping[str, Any]) -> str:
    rows = []
    for field in ("id", "repo_digests", "repo_tags", "created"):
        rows.append(f"{field:13} {pair.la}: {show(ia.get(field), 200)}")
        rows.append(f"{'':13} {pair.lb}: {show(ib.get(field), 200)}")
    return "\n".join(rows)


def _details(pair: RunPair, ia: Mapping[str, Any], ib: Mapping[str, Any]) -> list[Finding]:
    """How two different images differ: info notes under the main ``image.digest`` one."""
    out: list[Finding] = []
    for field in _SCALARS:
        va, vb = ia.get(field), ib.get(field)
        if va != vb:
            out.append(pair.finding(f"image.{field}", CATEGORY, va, vb,
                                    f"{pair.where}image {field} differs "
                                    f"({pair.la}: {show(va)}, {pair.lb}: {show(vb)})", INFO))
    for group, label in (("labels", "label"), ("env", "env")):
        da, db = ia.get(group) or {}, ib.get(group) or {}
        for name in sorted(set(da) | set(db)):
            va, vb = da.get(name), db.get(name)
            if va == vb:
                continue
            what = f"image {label} {name}"
            if is_secret_name(name) and va is not None and vb is not None:
                text = f"{pair.where}{what} differs (values hidden)"
            else:
                text = f"{pair.where}{what} differs ({pair.la}: {show(va)}, {pair.lb}: {show(vb)})"
            out.append(pair.finding(f"image.{label}.{name}", CATEGORY, va, vb, text, INFO))
    return out


def image_findings(images_by_run: Mapping[str, Mapping[str, Any] | None],
                   requested_tags: Mapping[str, str | None],
                   arms: Mapping[str, str] | None = None,
                   baseline: str | None = None,
                   treatment: list[str] | tuple[str, ...] = ()) -> list[Finding]:
    """Compare the images runs really ran.

    ``images_by_run``: run id → image facts (``abtui.backends.docker_image.image_facts``)
    or raw ``docker inspect`` attrs of the image. ``requested_tags``: run id → the
    reference the spec named. ``arms``: run id → arm name (default: the run id itself);
    ``baseline``: the first run compared (default: the first given). Runs of one arm are
    compared as replicates. Returns findings; a moved tag is an error.
    """
    arms = dict(arms or {})
    facts = {
        run_id: RunFacts(run_id=run_id, arm=arms.get(run_id, run_id),
                         image=image_identity(img), image_ref=requested_tags.get(run_id))
        for run_id, img in images_by_run.items()
    }
    tr = Treatment(treatment)
    run_ids = list(facts)
    if not run_ids:
        return []
    first = baseline if baseline in facts else run_ids[0]
    out: list[Finding] = []
    for x, y in pairs_of(run_ids, first):
        fx, fy = facts[x], facts[y]
        out += compare_images(RunPair(fx, fy, tr, within_arm=fx.arm == fy.arm))
    return out
