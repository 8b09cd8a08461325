"""Co-run interference: what ran beside each run during its steady state.

Two effects make arms that share a host unequal without any difference in their config:

- **Overlap.** Concurrent arms share the machine; when one finishes, the other runs on
  alone and speeds up. Each run's steady state is compared with the time spans of every
  other run of the experiment: ``alone_share`` is the part of it during which nothing
  else of the experiment ran. Two runs compared with each other whose alone shares differ
  by more than ``ALONE_GAP`` were not measured under the same conditions.
- **Foreign load.** Processes outside the experiment taking CPU (host CPU minus the arms'
  process trees and the monitor's own share, per telemetry sample): a run whose steady
  state had more than ``FOREIGN_CORES`` cores taken for more than ``FOREIGN_SHARE`` of its
  samples shared its host with someone else, and the busiest such processes are named.

Pure functions over the store's receive times and the telemetry samples.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALONE_GAP = 0.2
# Compare over the overlap when it keeps at least a quarter of each steady state. The rate
# measured while both ran is the co-run rate, the one to compare; what the window needs is
# enough of each run to stand for it (the stationarity check flags a run whose rate drifts).
# A treatment that makes its arm twice as slow per step leaves it about half its steady
# state beside its partner: with "half" as the floor, every such A/B read as confounded.
MIN_OVERLAP = 0.25
FOREIGN_CORES = 0.5
FOREIGN_SHARE = 0.2
# on the cores a run was pinned to: busy time there that was neither the run's own (its
# process tree, sampled on the same beat) nor the monitor's (not pinned, so counted whole):
# more than a fifth of a core is someone else's.
OWN_CORES_FOREIGN = 0.2
# a steady state with fewer samples is too short to tell a neighbour from a burst (a shell
# command, an `abtui stop`): judged on three samples or more
OWN_MIN_SAMPLES = 3
THROUGHPUT = "throughput_samples_per_sec"


@dataclass(frozen=True)
class RunSpan:
    """One run's time on the host: ``start``..``end`` (first to last line received) and
    its steady state (the records the throughput figure uses)."""

    run_id: str
    arm: str
    replicate: int
    start: float
    end: float
    steady_start: float
    steady_end: float


def span_of(run_id: str, arm: str, replicate: int, first: float | None, last: float | None,
            steady_times: Sequence[float]) -> RunSpan | None:
    """A ``RunSpan`` from receive times; the steady state is the whole span without
    steady-state records. None for a run that printed nothing."""
    if first is None or last is None:
        return None
    s0, s1 = (steady_times[0], steady_times[-1]) if len(steady_times) >= 2 else (first, last)
    return RunSpan(run_id, arm, replicate, first, last, s0, s1)


def _covered(lo: float, hi: float, spans: Iterable[tuple[float, float]]) -> float:
    """Length of [lo, hi] covered by the union of ``spans``."""
    cut = sorted((max(lo, a), min(hi, b)) for a, b in spans if b > lo and a < hi)
    if not cut:
        return 0.0
    total = 0.0
    cur_a, cur_b = cut[0]
    for a, b in cut[1:]:
        if a > cur_b:  # a gap: the run so far is complete
            total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    return total + (cur_b - cur_a)


def alone_share(run: RunSpan, others: Iterable[RunSpan]) -> float | None:
    """The share of ``run``'s steady state during which no other run was on the host."""
    length = run.steady_end - run.steady_start
    if length <= 0:
        return None
    busy = _covered(run.steady_start, run.steady_end,
                    ((o.start, o.end) for o in others if o.run_id != run.run_id))
    return max(0.0, 1.0 - busy / length)


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def overlap_sentences(spans: Sequence[RunSpan], shares: Mapping[str, float | None]) -> list[str]:
    """A sentence per replicate pair of different arms whose alone shares differ materially."""
    out = []
    by_rep: dict[int, list[RunSpan]] = {}
    for s in spans:
        by_rep.setdefault(s.replicate, []).append(s)
    for group in by_rep.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                sa, sb = shares.get(a.run_id), shares.get(b.run_id)
                if a.arm == b.arm or sa is None or sb is None or abs(sa - sb) < ALONE_GAP:
                    continue
                hi, lo = (a, b) if sa > sb else (b, a)
                after = f" after {lo.run_id} finished" if lo.end <= hi.steady_end else ""
                out.append(f"{hi.run_id} ran alone for {_pct(max(sa, sb))} of its steady "
                           f"state{after} ({lo.run_id}: {_pct(min(sa, sb))}): the arms were "
                           "not measured under the same host load")
    return out


def _own_cores_foreign(run: RunSpan, s: Mapping[str, Any], host: Mapping[str, Any],
                       cores: Sequence[int]) -> float | None:
    """Cores of ``cores`` busy with something else than ``run`` in sample ``s``; None for a
    sample whose accounting the sampler did not complete (no ``foreign_cores``: an arm's
    process it has not listed yet, whose CPU would read as a neighbour's; the host-wide
    figure waits for a fresh listing then, and so does this one)."""
    if not isinstance(host.get("foreign_cores"), (int, float)):
        return None
    per_core = host.get("core_percent")
    arm = (s.get("runs") or {}).get(run.run_id)
    # a process first seen in this sample is not in the run's own figure yet: unknown
    own = (arm.get("cpu_percent") if isinstance(arm, Mapping) and not arm.get("partial")
           else None)
    mon = host.get("monitor_cpu_percent")
    if not isinstance(per_core, list) or not isinstance(own, (int, float)):
        return None
    try:
        busy = sum(float(per_core[c]) for c in cores)
    except (IndexError, TypeError, ValueError):
        return None
    # the monitor is not pinned: all of it is counted as if on these cores (a lower bound)
    mine = float(own) + (float(mon) if isinstance(mon, (int, float)) else 0.0)
    return max(0.0, (busy - mine) / 100.0)


def foreign_load(run: RunSpan, samples: Iterable[Mapping[str, Any]],
                 remote: bool = False, cores: Sequence[int] | None = None,
                 own_span: RunSpan | None = None) -> dict[str, Any]:
    """Foreign CPU during ``run``'s steady state: the share of samples with more than
    ``FOREIGN_CORES`` cores taken outside the experiment, the mean, the busiest processes;
    with the run's pinned ``cores``, also the share of samples in which more than
    ``OWN_CORES_FOREIGN`` of those cores was busy with something else than the run.
    A ``remote`` run (on another machine) is judged only by what its own node's agent
    sampled there (``nodes[run]``), never by this host's load. ``own_span``: the span the
    own-cores figure is judged over (default ``run``; the whole steady state, where ``run``
    is the compared window: a neighbour stays the whole run, and more samples tell it from
    a burst)."""
    own_span = own_span or run
    loads, own_loads, top = [], [], {}
    cpus = None
    for s in samples:
        # a remote arm's node, as its agent sampled it (abtui.telemetry.node), else this host
        node = (s.get("nodes") or {}).get(run.run_id)
        node_host = node.get("host") if isinstance(node, Mapping) else None
        if remote and not node_host:
            continue
        t, host = s.get("t"), node_host or s.get("host") or {}
        if not isinstance(t, (int, float)):
            continue
        if (cores and not remote and own_span.steady_start <= t <= own_span.steady_end
                and (o := _own_cores_foreign(run, s, host, cores)) is not None):
            own_loads.append(o)
        if not run.steady_start <= t <= run.steady_end:
            continue
        f = host.get("foreign_cores")
        if isinstance(f, (int, float)):
            loads.append(float(f))
            cpus = host.get("cpus") or cpus
        for p in host.get("foreign_top") or ():
            if isinstance(p, Mapping) and "pid" in p:
                top[p["pid"]] = p
    own: dict[str, Any] = {"own_cores": list(cores or []), "own_samples": len(own_loads),
                           "own_share": None, "own_mean_cores": None}
    if own_loads:
        own.update(own_share=sum(1 for x in own_loads if x >= OWN_CORES_FOREIGN) / len(own_loads),
                   own_mean_cores=sum(own_loads) / len(own_loads))
    if not loads:
        return {"samples": 0, "share": None, "mean_cores": None, "cores": cpus, "top": [], **own}
    share = sum(1 for x in loads if x >= FOREIGN_CORES) / len(loads)
    busiest = sorted(top.values(), key=lambda p: -float(p.get("cpu_percent") or 0))[:3]
    return {"samples": len(loads), "share": share, "mean_cores": sum(loads) / len(loads),
            "cores": cpus, "top": busiest, **own}


def own_cores_sentence(run: RunSpan, load: Mapping[str, Any]) -> str | None:
    share = load.get("own_share")
    if share is None or share < FOREIGN_SHARE or load.get("own_samples", 0) < OWN_MIN_SAMPLES:
        return None
    cores = ",".join(str(c) for c in load.get("own_cores") or ())
    many = "," in cores
    return (f"{run.run_id}'s own core{'s' if many else ''} {cores} {'were' if many else 'was'} "
            f"busy with processes outside the experiment for {_pct(share)} of its steady "
            f"state (mean "
            f"{load['own_mean_cores']:.2f} cores): a neighbour on one arm's cores slows that "
            "arm alone, whatever the host-wide load")


def foreign_sentence(run: RunSpan, load: Mapping[str, Any]) -> str | None:
    share = load.get("share")
    if share is None or share < FOREIGN_SHARE:
        return None
    of = f" of {load['cores']}" if load.get("cores") else ""
    names = ", ".join(f"PID {p['pid']} {p.get('name', '?')} ({p.get('cpu_percent', 0):.0f} % of a core)"
                      for p in load.get("top") or ())
    who = f"; busiest: {names}" if names else ""
    return (f"host CPU was taken by processes outside the experiment for {_pct(share)} of "
            f"{run.run_id}'s steady state (mean {load['mean_cores']:.1f}{of} cores){who}")


def compare_windows(spans: Sequence[RunSpan]) -> dict[str, tuple[float, float]]:
    """For each replicate group of concurrent runs, the part of each steady state during
    which every run of the group was running: throughput is then compared over equal
    conditions. Given only where it keeps at least ``MIN_OVERLAP`` of every steady state
    of the group (else the full steady states are compared and the overlap is judged)."""
    by_rep: dict[int, list[RunSpan]] = {}
    for s in spans:
        by_rep.setdefault(s.replicate, []).append(s)
    out: dict[str, tuple[float, float]] = {}
    for group in by_rep.values():
        if len({s.arm for s in group}) < 2:
            continue
        lo, hi = max(s.start for s in group), min(s.end for s in group)
        windows = {s.run_id: (max(lo, s.steady_start), min(hi, s.steady_end)) for s in group}
        if all(s.steady_end > s.steady_start
               and (windows[s.run_id][1] - windows[s.run_id][0])
               >= MIN_OVERLAP * (s.steady_end - s.steady_start) for s in group):
            out.update(windows)
    return out


def _windowed(span: RunSpan, window: tuple[float, float] | None) -> RunSpan:
    if window is None:
        return span
    return RunSpan(span.run_id, span.arm, span.replicate, span.start, span.end, *window)


def corun(spans: Sequence[RunSpan], samples: Sequence[Mapping[str, Any]],
          remote: Collection[str] = (),
          cpus: Mapping[str, Sequence[int] | None] | None = None) -> dict[str, Any]:
    """Per run ``{"alone_share", "window", "window_share", "foreign": {...}}`` and the
    confound sentences, judged over the compared windows (``compare_windows``);
    ``unmeasured``: the ``remote`` runs whose host nobody sampled (no node agent's sample).
    ``cpus``: the cores each run was pinned to (the manifest's placement)."""
    windows = compare_windows(spans)
    judged = [_windowed(s, windows.get(s.run_id)) for s in spans]
    shares = {s.run_id: alone_share(s, spans) for s in judged}
    runs: dict[str, Any] = {}
    sentences = overlap_sentences(judged, shares)
    for s, full in zip(judged, spans, strict=True):
        load = foreign_load(s, samples, remote=s.run_id in remote,
                            cores=(cpus or {}).get(s.run_id), own_span=full)
        length = full.steady_end - full.steady_start
        runs[s.run_id] = {"alone_share": shares[s.run_id], "window": windows.get(s.run_id),
                          "window_share": ((s.steady_end - s.steady_start) / length
                                           if s.run_id in windows and length > 0 else None),
                          "foreign": load}
        for text in (foreign_sentence(s, load), own_cores_sentence(s, load)):
            if text:
                sentences.append(text)
    # a remote run whose node nobody sampled at all (a run shorter than a sample interval
    # in its steady state is measured, just not long enough: as on this host)
    sampled = {rid for smp in samples for rid in (smp.get("nodes") or {})}
    unmeasured = sorted(r for r in remote if r in runs and r not in sampled)
    return {"runs": runs, "sentences": sentences, "unmeasured": unmeasured}
