"""GPU cards: owner arm, temperature, clocks, power, utilisation, memory, clock-event reasons.

Everything comes from the store's latest telemetry sample (static facts such as the
maximum clocks from ``store.gpu_info``); histories for the sparklines from the last
samples only. Without GPUs the panel says so in one calm line.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import var
from textual.widgets import Label, Static

from abtui.infra.untrusted import shown
from abtui.run_files import Sample
from abtui.store import Store
from abtui.tui import units
from abtui.tui.widgets.sparkline import ScaledSparkline
from abtui.tui.widgets.steady import SteadyStatic
from abtui.tui.widgets.text import set_text

HISTORY = 120  # samples kept for a sparkline (two minutes at 1 Hz)


def reason_words(gpu: Mapping[str, Any]) -> str:
    """Active clock-event reasons in words: ``SW power cap``; ``""`` at full clocks."""
    mask = gpu.get("reasons")
    if mask is None:
        names = gpu.get("reason_names") or []
        return ", ".join(n.replace("_", " ") for n in names)
    if mask == 0:
        return ""
    from abtui.telemetry.reasons import describe

    return describe(mask)


def latest_gpus(store: Store) -> tuple[Sample | None, list[dict[str, Any]]]:
    """The latest sample and its GPUs, each merged with its static facts."""
    sample = store.telemetry[-1] if store.telemetry else None
    gpus = []
    for g in store.current_gpus():
        idx = g.get("index")
        gpus.append({**(store.gpu_info.get(idx, {}) if isinstance(idx, int) else {}), **g})
    return sample, gpus


def gpu_name(gpu: Mapping[str, Any]) -> str:
    """``3`` for this host's GPU 3; ``gpu-17:3`` for GPU 3 of a remote arm's node (merged
    under a unique index, see abtui.experiment.node_telemetry)."""
    if "node_index" in gpu:
        return f"{shown(str(gpu.get('host') or 'node'))}:{gpu['node_index']}"
    return str(gpu.get("index"))


def history(store: Store, index: int, key: str, n: int = HISTORY) -> list[float]:
    """The last ``n`` values of one GPU field, oldest first (O(n), not O(samples))."""
    out: list[float] = []
    for sample in itertools.islice(reversed(store.telemetry), n):
        for g in sample.get("gpus") or ():
            if g.get("index") == index and g.get(key) is not None:
                out.append(float(g[key]))
                break
    out.reverse()
    return out


def _of(value: Any, limit: Any, unit: str, fmt: str = ".0f") -> str:
    v = "N/A" if value is None else format(value, fmt)
    return f"{v}/{format(limit, fmt)}{unit}" if limit is not None else f"{v}{unit}"


def gpu_text(gpu: Mapping[str, Any], owner: str | None, colour: str) -> Text:
    """The three lines of a compact GPU card (no markup: names come from the driver)."""
    t = Text()
    t.append(f"GPU{gpu_name(gpu)} ", style="bold")
    if owner:
        t.append("■ ", style=colour)
        t.append(owner, style="bold")
    else:
        t.append("no arm", style="dim")
    t.append(f"  {gpu.get('name') or ''}\n", style="dim")
    temp, slow = gpu.get("temp_c"), gpu.get("temp_slowdown_c")
    hot = temp is not None and slow is not None and temp >= slow - 5
    t.append(_of(temp, slow, "°C"), style="bold red" if hot else "")
    sm, sm_max = gpu.get("sm_clock_mhz"), gpu.get("sm_clock_max_mhz")
    t.append(f"  SM {_of(sm, sm_max, 'MHz')}")
    p, limit = gpu.get("power_w"), gpu.get("power_limit_w")
    at_cap = p is not None and limit and p >= 0.97 * limit
    t.append("  ")
    t.append(_of(p, limit, "W"), style="bold yellow" if at_cap else "")
    util = gpu.get("util_gpu")
    t.append(f"  {'N/A' if util is None else f'{util:.0f}%'}")
    used, total = gpu.get("mem_used_mb"), gpu.get("mem_total_mb")
    t.append(f"\nmem {units.megabytes(used)}/{units.megabytes(total)}  ")
    words = reason_words(gpu)
    if words:
        idle = words == "GPU idle"
        t.append(("" if idle else "⚠ ") + words, style="dim" if idle else "bold yellow")
    else:
        t.append("full clocks", style="dim")
    return t


def full_gpu_text(gpu: Mapping[str, Any], owner: str | None, colour: str) -> Text:
    """Every figure of one GPU in words, for the GPU screen."""
    def pct(v: Any, of: Any) -> str:
        return f" ({100 * v / of:.0f} %)" if v is not None and of else ""

    t = Text()
    t.append(f"GPU {gpu_name(gpu)}  ", style="bold")
    if owner:
        t.append("■ ", style=colour)
    t.append(f"arm {owner}" if owner else "no arm", style="bold" if owner else "dim")
    t.append(f"   {gpu.get('name') or ''}\n", style="dim")
    rows = [
        ("temperature", f"{_of(gpu.get('temp_c'), None, ' °C')}, slowdown at "
                        f"{_of(gpu.get('temp_slowdown_c'), None, ' °C')}"),
        ("SM clock", f"{_of(gpu.get('sm_clock_mhz'), None, ' MHz')} of "
                     f"{_of(gpu.get('sm_clock_max_mhz'), None, ' MHz')}"
                     f"{pct(gpu.get('sm_clock_mhz'), gpu.get('sm_clock_max_mhz'))}   memory clock "
                     f"{_of(gpu.get('mem_clock_mhz'), gpu.get('mem_clock_max_mhz'), ' MHz')}"),
        ("power", f"{_of(gpu.get('power_w'), None, ' W')} of "
                  f"{_of(gpu.get('power_limit_w'), None, ' W')} limit"
                  f"{pct(gpu.get('power_w'), gpu.get('power_limit_w'))}"),
        ("utilisation", f"GPU {_of(gpu.get('util_gpu'), None, ' %')}, memory "
                        f"{_of(gpu.get('util_mem'), None, ' %')}"),
        ("memory", f"{units.megabytes(gpu.get('mem_used_mb'))} of "
                   f"{units.megabytes(gpu.get('mem_total_mb'))}"),
    ]
    for label, value in rows:
        t.append(f"  {label:<13}", style="dim")
        t.append(value + "\n")
    t.append(f"  {'clock events':<13}", style="dim")
    words = reason_words(gpu)
    if not words:
        t.append("none (full clocks)", style="dim")
    elif words == "GPU idle":
        t.append(words, style="dim")
    else:
        t.append("⚠ " + words, style="bold yellow")
    return t


def host_text(sample: Mapping[str, Any] | None, arms: bool = True) -> Text:
    """``host CPU 12% · mem 20.0G/503.0G`` and (``arms``) each arm's CPU and memory."""
    t = Text(style="dim")
    host = (sample or {}).get("host") or {}
    if host:
        t.append(f"host CPU {units.num(host.get('cpu_percent'), 3)}%  mem "
                 f"{units.megabytes(host.get('mem_used_mb'))}/{units.megabytes(host.get('mem_total_mb'))}")
    for arm, a in sorted(((sample or {}).get("runs") or {}).items()) if arms else ():
        t.append(f"\n{arm}: CPU {units.num(a.get('cpu_percent'), 3)}%  "
                 f"rss {units.megabytes(a.get('rss_mb'))}")
    return t


class GpuCard(Vertical):
    """One GPU: its figures, and sparklines of temperature and SM clock."""

    def __init__(self, index: int, full: bool, **kwargs: Any) -> None:
        super().__init__(classes="gpu-card" + (" -full" if full else ""), **kwargs)
        self.index = index
        self.full = full

    def compose(self) -> ComposeResult:
        yield SteadyStatic(markup=False, classes="gpu-text")
        if self.full:  # three histories side by side, three rows high
            with Horizontal(classes="spark-grid"):
                for key, title, summary in (("temp", "temperature", max), ("sm", "SM clock", min),
                                            ("power", "power", max)):
                    with Vertical(classes="spark-cell"):
                        yield Label(f"{title}, last {HISTORY} samples", classes="spark-title")
                        yield ScaledSparkline([], summary_function=summary,
                                              classes=f"spark-{key}")
        else:
            with Horizontal(classes="spark-row"):
                yield Label("SM   ", classes="spark-label")
                yield ScaledSparkline([], summary_function=min, classes="spark-sm")

    def show(self, store: Store, gpu: Mapping[str, Any], owner: str | None, colour: str) -> None:
        """Update the card from a merged GPU entry."""
        text = full_gpu_text(gpu, owner, colour) if self.full else gpu_text(gpu, owner, colour)
        set_text(self.query_one(".gpu-text", Static), text)
        spans = {"sm": ("sm_clock_mhz", 0.0, gpu.get("sm_clock_max_mhz")),
                 "temp": ("temp_c", 20.0, gpu.get("temp_slowdown_c")),
                 "power": ("power_w", 0.0, gpu.get("power_limit_w"))}
        mask = gpu.get("reasons") or 0
        temp, slow = gpu.get("temp_c"), gpu.get("temp_slowdown_c")
        warn = {"sm": bool(mask & ~0x1), "power": bool(mask & 0x4),  # any reason but idle
                "temp": temp is not None and slow is not None and temp >= slow - 5}
        for key in ("sm", "temp", "power") if self.full else ("sm",):
            field, lo, hi = spans[key]
            spark = self.query_one(f".spark-{key}", ScaledSparkline)
            spark.span = (lo, float(hi)) if hi else None
            spark.set_class(warn[key], "-warn")
            spark.data = history(store, self.index, field)


class GpuPanel(VerticalScroll):
    """Every GPU of the latest sample (compact on the main screen, full on the GPU screen)."""

    REPAINT_S = 2.0  # on the main screen; the GPU screen follows every sample
    data_version: var[int] = var(-1, init=False)

    def __init__(self, store: Store, colours: dict[str, str], full: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.colours = colours
        self.full = full
        self._key: tuple[Any, ...] = ()
        self._indices: list[int] = []

    def compose(self) -> ComposeResult:
        yield SteadyStatic(markup=False, classes="gpu-none")
        yield SteadyStatic(markup=False, classes="gpu-host")

    def on_mount(self) -> None:
        self.sync()

    def watch_data_version(self) -> None:
        self.sync()

    def sync(self) -> None:
        """Redraw if a new sample (or notice) arrived since the last time."""
        store = self.store
        last = store.telemetry[-1] if store.telemetry else None
        key = (id(last), len(store.gpu_info), len(store.notices))
        if key == self._key:
            return
        self._key = key
        sample, gpus = latest_gpus(store)
        indices = [int(g["index"]) for g in gpus if isinstance(g.get("index"), int)]
        if indices != self._indices:
            self.query(GpuCard).remove()
            self.mount_all([GpuCard(i, self.full) for i in indices], before=".gpu-host")
            self._indices = indices
            self.call_after_refresh(self.sync_cards, gpus)
        else:
            self.sync_cards(gpus)
        none = self.query_one(".gpu-none", Static)
        if none.display != (not gpus):
            none.display = not gpus
        if not gpus:
            set_text(none, self.no_gpu_text())
        # with GPUs on the main screen, per-arm CPU lines would crowd out the diff pane
        set_text(self.query_one(".gpu-host", Static), host_text(sample, self.full or not gpus))

    def sync_cards(self, gpus: list[dict[str, Any]]) -> None:
        arms = self.store.runs
        for card, gpu in zip(self.query(GpuCard), gpus, strict=False):
            owner = gpu.get("run")
            arm = arms[owner].arm if owner in arms else owner
            card.show(self.store, gpu, owner, self.colours.get(arm or "", "white"))

    def no_gpu_text(self) -> Text:
        reason = next((n.split(":", 1)[1].strip() for n in self.store.notices
                       if "gpu telemetry" in n.lower() and ":" in n), None)
        if reason:
            return Text(f"No GPU telemetry: {reason}", style="dim")
        if self.store.telemetry:
            return Text("No GPU: the samples carry none (CPU-only run).", style="dim")
        return Text("No GPU telemetry yet.", style="dim")
