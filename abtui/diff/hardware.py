"""Hardware findings: GPU model, count, memory, driver, clock ceilings, power limits,
throttling, container resources, and the telemetry layer's confound sentences."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from abtui.diff.context import RunFacts, RunPair
from abtui.diff.findings import INFO, WARNING, Finding, show

CATEGORY = "hardware"
#: A throttling share that differs by at least this much between two runs is a confound
#: (the telemetry layer's ``DEFAULT_MATERIAL_SHARE``).
MATERIAL_SHARE = 0.05
#: Container settings compared between runs (from the docker backend's inspect facts).
CONTAINER_FIELDS = ("memory", "nano_cpus", "shm_size", "network_mode", "privileged", "runtime",
                    "init", "mounts")


def _gpus(facts: RunFacts) -> list[dict[str, Any]] | None:
    env = facts.env or {}
    gpus = env.get("gpus")
    if isinstance(gpus, list) and (gpus or "gpus" in env):
        return [g for g in gpus if isinstance(g, dict)]
    models = (facts.telemetry or {}).get("gpu_models")
    if models:
        return [{"name": m} for m in models]
    return None


def _describe(names: list[str]) -> str:
    if not names:
        return "no GPU (CPU only)"
    counts = Counter(names)
    return " + ".join(f"{n} × {name}" if n > 1 else name for name, n in sorted(counts.items()))


def hardware_findings(pair: RunPair) -> list[Finding]:
    """GPU and host differences from env records, telemetry summaries and inspect facts."""
    out: list[Finding] = []
    ga, gb = _gpus(pair.a), _gpus(pair.b)
    if ga is not None and gb is not None:
        out += _gpu_findings(pair, ga, gb)
    ma = (pair.a.telemetry or {}).get("gpu_models") or []
    mb = (pair.b.telemetry or {}).get("gpu_models") or []
    if ma and mb and set(ma) != set(mb) and not any(f.key == "hardware.gpu_model" for f in out):
        a, b = _describe(sorted(ma)), _describe(sorted(mb))
        out.append(pair.finding("hardware.gpu_model", CATEGORY, a, b,
                                f"{pair.where}telemetry saw {a} under {pair.la} and {b} under "
                                f"{pair.lb}: different GPU models", WARNING))
    da, db = (pair.a.env or {}).get("driver"), (pair.b.env or {}).get("driver")
    if da and db and da != db:
        out.append(pair.finding("hardware.driver", CATEGORY, da, db,
                                f"{pair.where}the NVIDIA driver differs ({pair.la}: {da}, "
                                f"{pair.lb}: {db})", WARNING))
    out += _telemetry_findings(pair)
    out += _container_findings(pair)
    out += host_findings(pair)
    return out


HOST_WORDS = {
    "hostname": "the host", "cpu_model": "the CPU model", "cpu_count": "the host's core count",
    "cpus_usable": "the cores the run could use", "memory_mb": "the host's memory (MB)",
    "kernel": "the kernel", "container": "the container runtime",
}


def host_findings(pair: RunPair) -> list[Finding]:
    """The runner-reported host facts (env record ``host``, and ``hostname`` outside a
    container) that differ."""
    ea, eb = pair.a.env, pair.b.env
    if ea is None or eb is None:
        return []
    ha, hb = dict(ea.get("host") or {}), dict(eb.get("host") or {})
    if ha and hb and not ha.get("container") and not hb.get("container"):
        # outside containers the hostname names the machine (a container's is its own id)
        ha["hostname"], hb["hostname"] = ea.get("hostname"), eb.get("hostname")
    out = []
    for field, words in HOST_WORDS.items():
        va, vb = ha.get(field), hb.get(field)
        if va is None or vb is None or va == vb:
            continue
        out.append(pair.finding(f"host.{field}", CATEGORY, va, vb,
                                f"{pair.where}{words} differs ({pair.la}: {va}, {pair.lb}: {vb})",
                                WARNING))
    return out


def _gpu_findings(pair: RunPair, ga: list[dict[str, Any]], gb: list[dict[str, Any]]) -> list[Finding]:
    out = []
    na = sorted(str(g.get("name")) for g in ga if g.get("name"))
    nb = sorted(str(g.get("name")) for g in gb if g.get("name"))
    if set(na) != set(nb):
        a, b = _describe(na), _describe(nb)
        out.append(pair.finding("hardware.gpu_model", CATEGORY, a, b,
                                f"{pair.where}{pair.la} ran on {a} and {pair.lb} on {b}: "
                                "different GPU models", WARNING))
    elif len(ga) != len(gb):
        out.append(pair.finding("hardware.gpu_count", CATEGORY, len(ga), len(gb),
                                f"{pair.where}{pair.la} used {len(ga)} GPU(s) and {pair.lb} "
                                f"{len(gb)}", WARNING))
    else:
        ma = sorted(g["memory_mb"] for g in ga if isinstance(g.get("memory_mb"), (int, float)))
        mb = sorted(g["memory_mb"] for g in gb if isinstance(g.get("memory_mb"), (int, float)))
        if ma and mb and ma != mb:
            out.append(pair.finding("hardware.gpu_memory", CATEGORY, ma, mb,
                                    f"{pair.where}GPU memory differs ({pair.la}: "
                                    f"{', '.join(f'{m} MiB' for m in ma)}, {pair.lb}: "
                                    f"{', '.join(f'{m} MiB' for m in mb)})", WARNING))
    return out


def _share(s: Mapping[str, Any] | None, key: str) -> float | None:
    v = (s or {}).get(key)
    return float(v) if isinstance(v, (int, float)) else None


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _telemetry_findings(pair: RunPair) -> list[Finding]:
    ta, tb = pair.a.telemetry, pair.b.telemetry
    if not ta or not tb:
        return []
    out = []
    for key, field, words, unit in (("hardware.clock_ceiling", "sm_clock_max_mhz",
                                      "maximum SM clock", " MHz"),
                                     ("hardware.power_limit", "power_limit_w",
                                      "GPU power limit", " W")):
        va = sorted(v for v in ta.get(field) or [] if isinstance(v, (int, float)))
        vb = sorted(v for v in tb.get(field) or [] if isinstance(v, (int, float)))
        if va and vb and va != vb:
            fa = ", ".join(f"{v:g}{unit}" for v in va)
            fb = ", ".join(f"{v:g}{unit}" for v in vb)
            out.append(pair.finding(key, CATEGORY, va, vb,
                                    f"{pair.where}the {words} differs ({pair.la}: {fa}, "
                                    f"{pair.lb}: {fb})", WARNING))
    for key, field, words in (("hardware.power_capped", "power_capped_share", "power-capped"),
                              ("hardware.thermal_throttle", "thermal_share",
                               "thermally throttled")):
        sa, sb = _share(ta, field), _share(tb, field)
        if sa is None or sb is None:
            continue
        if abs(sa - sb) >= MATERIAL_SHARE:
            out.append(pair.finding(key, CATEGORY, sa, sb,
                                    f"{pair.where}GPUs were {words} for {_pct(sa)} of busy time "
                                    f"in {pair.la} and {_pct(sb)} in {pair.lb}", WARNING))
        elif min(sa, sb) >= MATERIAL_SHARE:
            out.append(pair.finding(key, CATEGORY, sa, sb,
                                    f"{pair.where}GPUs of both {pair.la} and {pair.lb} were {words} "
                                    f"for about {_pct((sa + sb) / 2)} of busy time: equal, so not a "
                                    "confound, but the results hold only under that limit", INFO))
    return out


def _container_findings(pair: RunPair) -> list[Finding]:
    ia, ib = pair.a.inspect or {}, pair.b.inspect or {}
    out = []
    ha, hb = ia.get("host"), ib.get("host")
    # nodes that report their hardware are compared by it (diff/nodes.py), not by name
    if ha and hb and ha != hb and not (ia.get("node") and ib.get("node")):
        out.append(pair.finding("hardware.host", CATEGORY, ha, hb,
                                f"{pair.where}{pair.la} ran on host {ha} and {pair.lb} on {hb}",
                                WARNING))
    for field in CONTAINER_FIELDS:
        if field not in ia or field not in ib:
            continue
        va, vb = ia[field], ib[field]
        if field == "mounts":
            va, vb = _mounts(pair.a, va), _mounts(pair.b, vb)
        if va == vb:
            continue
        out.append(pair.finding(f"container.{field}", CATEGORY, va, vb,
                                f"{pair.where}container setting {field} differs ({pair.la}: "
                                f"{show(va)}, {pair.lb}: {show(vb)})", WARNING))
    return out


def _mounts(facts: RunFacts, mounts: Any) -> Any:
    """Mounts with each run's own output folder (``arms/<run id>/...``) made comparable."""
    if not isinstance(mounts, list):
        return mounts
    own = f"/arms/{facts.run_id}"
    out = []
    for m in mounts:
        src = m.get("source") if isinstance(m, dict) else None
        if isinstance(src, str) and own in src:
            rest = src[src.index(own) + len(own):]
            if rest == "" or rest.startswith("/"):
                m = {**m, "source": f"<run dir>/arms/<run>{rest}"}
        out.append(m)
    return sorted(out, key=lambda m: str(m))


# ---- telemetry confound sentences ---------------------------------------------------------
_TOPICS = (
    ("different gpu models", "hardware.gpu_model"),
    ("different max sm clocks", "hardware.clock_ceiling"),
    ("different gpu power limits", "hardware.power_limit"),
    ("power-capped", "hardware.power_capped"),
    ("thermally throttled", "hardware.thermal_throttle"),
    ("outside the experiment", "host.foreign_cpu"),
    ("ran alone for", "host.overlap"),
    ("pid", "hardware.shared_gpu"),
)


def sentence_topic(sentence: str) -> str:
    """The finding key a telemetry confound sentence is about."""
    low = sentence.lower()
    for needle, key in _TOPICS:
        if needle in low:
            return key
    return "hardware.telemetry"


def sentence_arms(sentence: str, run_arm: Mapping[str, str], arm_order: Sequence[str],
                  baseline: str) -> tuple[str, str]:
    """The two arms a sentence names (run ids mapped to arms), baseline first; the
    baseline and the first other arm when it names fewer than two."""
    named: list[str] = []
    explicit = re.findall(r"\barm ([A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9_])", sentence)
    candidates = [*explicit, *sorted(run_arm, key=len, reverse=True)]
    for name in candidates:
        if name in run_arm and re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", sentence):
            arm = run_arm[name]
            if arm not in named:
                named.append(arm)
    others = [a for a in arm_order if a != baseline]
    if len(named) >= 2:
        ordered = sorted(named[:2], key=lambda a: (a != baseline, arm_order.index(a)
                                                   if a in arm_order else 0))
        return ordered[0], ordered[1]
    if len(named) == 1 and named[0] != baseline:
        return baseline, named[0]
    return baseline, (others[0] if others else baseline)


def sentence_findings(sentences: Sequence[str], existing: list[Finding],
                      run_arm: Mapping[str, str], arm_order: Sequence[str],
                      baseline: str) -> tuple[list[Finding], list[Finding]]:
    """Turn telemetry confound sentences into findings.

    A sentence about something a finding already reports (same key and arms: a confound,
    or the note that both arms were throttled alike) is attached to that finding's detail
    instead; any other sentence is a confound. Returns (updated existing, new findings).
    """
    updated = list(existing)
    new: list[Finding] = []
    for sentence in sentences:
        text = str(sentence).strip()
        if not text:
            continue
        key = sentence_topic(text)
        arms = sentence_arms(text, run_arm, arm_order, baseline)
        hit = next((i for i, f in enumerate(updated) if f.key == key and f.arms == arms), None)
        if hit is not None:
            f = updated[hit]
            detail = f"{f.detail}\n{text}" if f.detail else text
            updated[hit] = Finding(f.key, f.category, f.a, f.b, f.intended, f.severity,
                                   f.message, f.arms, detail)
            continue
        new.append(Finding(key=key, category=CATEGORY, a=None, b=None, intended=False,
                           severity=WARNING, message=text, arms=arms, detail=None))
    return updated, new
