"""The event loop stays responsive while a flood of lines arrives from another thread."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from textual import events

from abtui.spec import ExperimentSpec
from abtui.store import ArmStatus, Store
from abtui.tui.fixtures import SPEC, FixtureExperiment, fixture_app
from abtui.tui.widgets.curves import CurvesPanel, CurvesPlot
from abtui.tui.widgets.logs import LogLines

RATE = 20_000  # lines per second, all arms together
KEY_BOUND_S = 1.5  # generous: a tick is 0.33 s; a blocked loop would take far longer


class Flood(threading.Thread):
    """Appends to a real store like two ingest threads would: text lines and metrics."""

    def __init__(self, store: Store, rate: int = RATE) -> None:
        super().__init__(daemon=True)
        self.store, self.rate = store, rate
        self.stop = threading.Event()
        self.lines = 0

    def run(self) -> None:
        arms = list(self.store.runs.values())
        start = time.perf_counter()
        step = 0
        while not self.stop.is_set():
            for _ in range(100):  # a batch, then pace to the rate
                for arm in arms:
                    step += 1
                    if step % 10 == 0:
                        raw = json.dumps({"step": step, "loss": 1 / step ** 0.3,
                                          "throughput_samples_per_sec": 500.0}).encode()
                    else:
                        raw = f"batch {step}: \x1b[32mok\x1b[0m data loaded".encode()
                    arm.ingest(raw, time.time())
                    self.lines += 1
            ahead = self.lines / self.rate - (time.perf_counter() - start)
            if ahead > 0:
                time.sleep(ahead)


async def _key_to_paint(app, key: str, timeout: float = 10.0) -> float:
    """Seconds from a key event to the chart being painted with the new settings.

    Pilot's ``press`` waits until the process is idle, which it never is during a
    flood; so the key is posted as the driver would, and the paint is watched for."""
    curves = app.screen.query_one(CurvesPanel)
    plot = app.screen.query_one(CurvesPlot)
    before, paints = curves.settings, plot.paints
    t0 = time.perf_counter()
    app.post_message(events.Key(key, key))
    while curves.settings == before or plot.paints == paints:
        await asyncio.sleep(0.002)
        if time.perf_counter() - t0 > timeout:
            break
    return time.perf_counter() - t0


@pytest.mark.asyncio
async def test_keys_answer_quickly_during_a_20k_lines_per_second_flood() -> None:
    store = Store()
    for i, arm in enumerate(("fp32", "amp")):
        store.add_run(arm, arm, 0, 10**9, (i,)).status = ArmStatus.RUNNING
    exp = FixtureExperiment(ExperimentSpec.model_validate(SPEC), store,
                            {"created_at": time.time(), "backend_facts": {}})
    app = fixture_app(exp=exp, clock=time.time)
    flood = Flood(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        quiet = [await _key_to_paint(app, k) for k in ("x", "x")]
        flood.start()
        try:
            t_start = time.perf_counter()
            await asyncio.sleep(1.0)
            latencies = [await _key_to_paint(app, k) for k in ("x", "s", "l", "x", "m", "s")]
            elapsed = time.perf_counter() - t_start
            lines = flood.lines
        finally:
            flood.stop.set()
            flood.join()
        shown = app.screen.query_one(LogLines).lines
    rate = lines / elapsed
    print(f"quiet: key → paint {max(quiet) * 1000:.0f} ms; flood {rate:,.0f} lines/s: "
          f"max {max(latencies) * 1000:.0f} ms, mean {sum(latencies) / len(latencies) * 1000:.0f} ms")
    assert rate > RATE / 4, "the flood did not happen: the test would prove nothing"
    assert max(latencies) < KEY_BOUND_S
    assert len(shown) > 100  # the log pane kept up (bounded to its last 1000 lines)
