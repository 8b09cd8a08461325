"""An OpenMetrics / Prometheus endpoint for a running experiment (``--metrics-addr``).

Served by the monitor with the official ``prometheus_client`` library and read from the
store when Prometheus scrapes (nothing is computed between scrapes). Bound to 127.0.0.1
unless another address is asked for.

- GPU series named as NVIDIA's dcgm-exporter names them, with its labels (``gpu``,
  ``UUID``, ``modelName``, ``pci_bus_id``, ``hostname`` in lower case) plus ``experiment``,
  ``arm`` and ``run_id``, so existing dashboards and alerts work unchanged. Where
  dcgm-exporter already runs, ``gpu_series=False`` (``--metrics-arms-only``) exports only
  ``abtui_gpu_arm`` (the arm owning each GPU UUID), to join on ``UUID``.
  The energy and violation counters are exposed as gauges of the cumulative value under
  dcgm-exporter's exact names (prometheus_client would append ``_total`` to a counter's
  name); ``rate()`` and ``increase()`` work on them as on dcgm-exporter's.
- Training series under ``abtui_`` with units in the names, one family for every other
  numeric metric (``abtui_metric{metric=...}``: at most ``MAX_METRICS`` names a run,
  sanitised and bounded, so a hostile arm cannot explode the label set).
- The run's state: ``abtui_arm_state``, ``abtui_fairness_state``, ``abtui_gate_pass`` and
  ``abtui_verdict_info`` (from report.json once the run has one).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from abtui.infra.untrusted import inert
from abtui.store import Store
from abtui.telemetry.reasons import decode_names

MAX_METRICS = 64
MAX_LABEL = 64
_LABEL_OK = re.compile(r"[^A-Za-z0-9_.:/\-]+")
#: dcgm-exporter's field names for what a telemetry sample carries (and the unit factor)
DCGM_FIELDS: tuple[tuple[str, str, str, float], ...] = (
    ("DCGM_FI_DEV_GPU_TEMP", "temp_c", "GPU temperature (in C).", 1.0),
    ("DCGM_FI_DEV_SM_CLOCK", "sm_clock_mhz", "SM clock frequency (in MHz).", 1.0),
    ("DCGM_FI_DEV_MEM_CLOCK", "mem_clock_mhz", "Memory clock frequency (in MHz).", 1.0),
    ("DCGM_FI_DEV_POWER_USAGE", "power_w", "Power draw (in W).", 1.0),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "energy_mj",
     "Total energy consumption since boot (in mJ).", 1.0),
    ("DCGM_FI_DEV_GPU_UTIL", "util_gpu", "GPU utilization (in %).", 1.0),
    ("DCGM_FI_DEV_FB_USED", "mem_used_mb", "Framebuffer memory used (in MiB).", 1.0),
    ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "reasons", "Current clock event reasons (bitmask).", 1.0),
    ("DCGM_FI_DEV_POWER_VIOLATION", "violation_power_ns",
     "Throttling duration due to power constraints (in us).", 1e-3),
    ("DCGM_FI_DEV_THERMAL_VIOLATION", "violation_thermal_ns",
     "Throttling duration due to thermal constraints (in us).", 1e-3),
)
_TRAINING = {"loss": ("abtui_train_loss", "Training loss, last record.", 1.0),
             "throughput_samples_per_sec": ("abtui_throughput_samples_per_second",
                                            "Throughput, last record (samples/s).", 1.0),
             "gpu_memory_mb": ("abtui_peak_memory_bytes", "Peak memory reported by the arm.",
                               1024.0 * 1024.0)}


def label(value: object) -> str:
    """A label value from anything an arm or a file said: inert, bounded, plain."""
    return _LABEL_OK.sub("_", inert(str(value)))[:MAX_LABEL]


def unique_labels(values: Iterable[object]) -> dict[str, str]:
    """Each value's label, made distinct: two values that sanitise alike (``a.b`` and ``a_b``,
    or names that differ only past the length bound) would give duplicate series, which a
    scraper rejects; the later ones (in sorted order, so stable) get ``-2``, ``-3``."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for raw in sorted({str(v) for v in values}):
        base = label(raw)
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base[:MAX_LABEL - 4]}-{k}"
        taken.add(name)
        out[raw] = name
    return out


class ExperimentCollector(Collector):
    """Every family, built from the store at scrape time."""

    def __init__(self, store: Store, experiment: str, report_path: Path | None = None,
                 gpu_series: bool = True) -> None:
        self.store = store
        self.experiment = label(experiment)
        self.report_path = report_path
        self.gpu_series = gpu_series
        self.hostname = socket.gethostname().lower()
        self._events: dict[tuple[str, str], int] = {}  # (gpu, reason) -> samples seen with it
        self._seen_t = -1.0
        self._report: tuple[float, dict[str, Any] | None] = (-1.0, None)

    # ---- GPUs ---------------------------------------------------------------------------
    _GPU_LABELS = ("gpu", "UUID", "modelName", "pci_bus_id", "hostname", "experiment", "arm",
                   "run_id")

    def _gpu_row(self, g: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """A sample's GPU entry with its static facts, and its label values (once a scrape)."""
        info = {**self.store.gpu_info.get(int(g.get("index") or 0), {}), **g}
        run = info.get("run") or ""
        arm = self.store.runs[run].arm if run in self.store.runs else ""
        # a remote node's GPU is labelled as dcgm-exporter on that node labels it: its own
        # index there and the node's hostname (abtui.experiment.node_telemetry)
        node = "node_index" in info
        return info, [str(info["node_index"] if node else info.get("index", "")),
                      label(info.get("uuid") or ""), label(info.get("name") or ""),
                      label(info.get("pci_bus_id") or ""),
                      label(str(info.get("host") or "")).lower() if node else self.hostname,
                      self.experiment, label(arm), label(run)]

    def _gpus(self) -> Iterator[Any]:
        samples = list(self.store.telemetry)
        last = next((s for s in reversed(samples) if s.get("kind", "sample") == "sample"), None)
        for s in samples:  # clock events counted once per sample, as they arrive
            t = float(s.get("t") or 0.0)
            if s.get("kind", "sample") != "sample" or t <= self._seen_t:
                continue
            self._seen_t = t
            for g in s.get("gpus") or ():
                for name in decode_names(g.get("reasons")) or ():
                    seen = (str(g.get("index")), name)
                    self._events[seen] = self._events.get(seen, 0) + 1
        rows = [self._gpu_row(g) for g in self.store.current_gpus()] if last else []
        owned = [(info, values) for info, values in rows if values[-1]]  # run_id: an arm's GPU
        names = list(self._GPU_LABELS)
        owner = GaugeMetricFamily("abtui_gpu_arm", "1 for each GPU an arm owns (join on UUID).",
                                  labels=names)
        for _, values in owned:
            owner.add_metric(values, 1.0)
        yield owner
        if not self.gpu_series:
            return
        for family, key, doc, factor in DCGM_FIELDS:
            fam = GaugeMetricFamily(family, doc, labels=names)
            for info, values in rows:
                v = info.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    fam.add_metric(values, float(v) * factor)
            yield fam
        free = GaugeMetricFamily("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).",
                                 labels=names)
        for info, values in rows:
            used, total = info.get("mem_used_mb"), info.get("mem_total_mb")
            if isinstance(used, (int, float)) and isinstance(total, (int, float)):
                free.add_metric(values, float(total) - float(used))
        yield free
        events = GaugeMetricFamily("DCGM_EXP_CLOCK_EVENTS_COUNT",
                                   "Samples in which each clock event reason was active.",
                                   labels=[*names, "clock_event"])
        by_index = {str(info.get("index")): values for info, values in rows}
        for (gpu, name), count in sorted(self._events.items()):
            if gpu in by_index:
                events.add_metric([*by_index[gpu], name], float(count))
        yield events
        foreign = GaugeMetricFamily("abtui_gpu_foreign_processes",
                                    "Processes on an arm's GPU that belong to no arm (or another).",
                                    labels=names)
        counts: dict[str, int] = {}
        for f in (last or {}).get("foreign") or ():
            counts[str(f.get("gpu"))] = counts.get(str(f.get("gpu")), 0) + 1
        for info, values in owned:
            foreign.add_metric(values, float(counts.get(str(info.get("index")), 0)))
        yield foreign

    # ---- training -----------------------------------------------------------------------
    def _training(self) -> Iterator[Any]:
        names = ["experiment", "arm", "run_id"]
        fams = {k: GaugeMetricFamily(n, d, labels=names) for k, (n, d, _) in _TRAINING.items()}
        step = GaugeMetricFamily("abtui_step", "The last step an arm logged.", labels=names)
        other = GaugeMetricFamily("abtui_metric", "Any other numeric metric, last record.",
                                  labels=[*names, "metric"])
        state = GaugeMetricFamily("abtui_arm_state", "1 for the state each run is in.",
                                  labels=[*names, "state"])
        runs = list(self.store.runs.items())
        arm_label = unique_labels(st.arm for _, st in runs)
        run_label = unique_labels(run_id for run_id, _ in runs)
        for run_id, st in runs:
            base = [self.experiment, arm_label[str(st.arm)], run_label[run_id]]
            state.add_metric([*base, label(st.status)], 1.0)
            if st.step is not None:
                step.add_metric(base, float(st.step))
            last = dict(st.last)
            for key, (_, _, factor) in _TRAINING.items():
                value = (st.peak.get(key) if key == "gpu_memory_mb" else last.get(key))
                if value is not None:
                    fams[key].add_metric(base, float(value) * factor)
            extra = [k for k in last if k not in _TRAINING][:MAX_METRICS]
            names_of = unique_labels(extra)
            for k in extra:
                other.add_metric([*base, names_of[str(k)]], float(last[k]))
        yield from fams.values()
        yield step
        yield other
        yield state

    # ---- the verdict --------------------------------------------------------------------
    def _verdict(self) -> Iterator[Any]:
        report = self._read_report()
        fairness = GaugeMetricFamily("abtui_fairness_state", "1 for the comparison's fairness.",
                                     labels=["experiment", "state"])
        gates = GaugeMetricFamily("abtui_gate_pass", "1 if a gate passes, 0 if it fails.",
                                  labels=["experiment", "gate"])
        verdict = InfoMetricFamily("abtui_verdict", "The report's verdict line.",
                                   labels=["experiment"])
        state = "unknown"
        if report is not None:
            state = label((report.get("fairness") or {}).get("state") or "unknown")
            for g in report.get("gates") or []:
                if isinstance(g, dict) and "passed" in g:
                    gates.add_metric([self.experiment, label(g.get("text") or g.get("gate") or "")],
                                     1.0 if g.get("passed") else 0.0)
            text = (report.get("verdict") or {}).get("summary")
            if isinstance(text, str):
                verdict.add_metric([self.experiment], {"text": inert(text)[:200]})
        fairness.add_metric([self.experiment, state], 1.0)
        yield fairness
        yield gates
        yield verdict

    def _read_report(self) -> dict[str, Any] | None:
        path = self.report_path
        if path is None:
            return None
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        if mtime != self._report[0]:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                data = None
            self._report = (mtime, data if isinstance(data, dict) else None)
        return self._report[1]

    def collect(self) -> Iterator[Any]:
        yield from self._gpus()
        yield from self._training()
        yield from self._verdict()


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT`` / ``PORT``: 127.0.0.1); ValueError when it is not one."""
    host, _, port = addr.rpartition(":")
    host = (host or "127.0.0.1").strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--metrics-addr {addr!r}: HOST:PORT, e.g. 127.0.0.1:9400")
    return host, int(port)


def serve(collector: ExperimentCollector, addr: str) -> Any:
    """Start the endpoint in a daemon thread; returns the server (``shutdown()`` stops it)."""
    from prometheus_client import start_http_server

    host, port = parse_addr(addr)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


__all__ = ["ExperimentCollector", "parse_addr", "serve"]
