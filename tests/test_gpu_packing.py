"""Packing runs onto GPUs: ``gpus_per_run`` over ``gpu_pool``. The scheduler's choice alone,
then three arms x two replicates on two GPU "slots" of this CPU machine, run for real by the
local backend: each run sees only its GPU (``CUDA_VISIBLE_DEVICES``), no two runs that
overlap share one, no GPU idles while a run waits, and the manifest says which ran where."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from abtui.experiment import Experiment
from abtui.experiment.schedule import gpu_sets, runs_to_start, with_recorded_gpus
from abtui.infra.errors import SpecError
from abtui.ingest.events import read_events
from abtui.spec import parse_spec, resolve_runs

SPEC = """
name: pack
command: [sh, -c, 'echo "visible=$CUDA_VISIBLE_DEVICES"; exec "$0" "$@"', {py}, {runner},
          --sleep, "0.03"]
steps: 40
replicates: 2
grid: {{rate: [1, 2, 3]}}
gpus_per_run: 1
gpu_pool: [0, 1]
"""


def _spec(fake_runner: Path, extra: str = "") -> str:
    return SPEC.format(py=sys.executable, runner=fake_runner) + extra


def test_packed_runs_take_free_gpu_sets_in_turn(fake_runner) -> None:
    spec = parse_spec(_spec(fake_runner, "gpu_pool: [0, 1, 2, 3, 4]\ngpus_per_run: 2\n").replace(
        "gpus_per_run: 1\ngpu_pool: [0, 1]\n", ""))
    sets = gpu_sets(spec.gpu_pool, spec.gpus_per_run or 0)
    assert sets == [(0, 1), (2, 3)]  # GPU 4 left over: a run needs two
    runs = resolve_runs(spec)
    assert all(r.gpus == () for r in runs)  # chosen when each starts
    first = runs_to_start(runs, [], 6, sets=sets)
    assert [r.gpus for r in first] == [(0, 1), (2, 3)]  # the third waits for a free set
    later = runs_to_start(runs[2:], first[1:], 6, sets=sets)
    assert [r.gpus for r in later] == [(0, 1)]  # the set freed, whatever it preferred
    # replicate 1 of an arm prefers the other set than replicate 0 did (rotated)
    slots = {(r.arm, r.replicate): r.extra["gpu_slot"] for r in runs}
    assert all(slots[a, 0] != slots[a, 1] for a, _ in slots)
    # a monitor attaching again takes a run's GPUs from the manifest, a list of indices only
    entries = {runs[0].run_id: {"gpus": [2, 3]}, runs[1].run_id: {"gpus": "0; rm -rf /"}}
    again = with_recorded_gpus(runs, entries)
    assert again[0].gpus == (2, 3) and again[1].gpus == ()


@pytest.mark.parametrize("packing,words", [
    ("gpus_per_run: 3\ngpu_pool: [0, 1]\n", "gpu_pool lists 2 GPU(s)"),
    ("gpus_per_run: 1\ngpu_pool: [0, 0]\n", "each once"),
    ("gpu_pool: [0, 1]\n", "with gpus_per_run"),
])
def test_packing_refusals(fake_runner, packing: str, words: str) -> None:
    text = _spec(fake_runner).replace("gpus_per_run: 1\ngpu_pool: [0, 1]\n", packing)
    with pytest.raises(SpecError) as err:
        parse_spec(text)
    assert words in str(err.value)
    pinned = _spec(fake_runner).replace("grid: {rate: [1, 2, 3]}", "arms:\n  a: {gpus: [0]}\n  b: {gpus: [1]}")
    with pytest.raises(SpecError, match="the arms pin no gpus"):
        parse_spec(pinned)


@pytest.mark.slow
def test_three_arms_on_two_gpus_each_run_on_its_own_free_gpu(tmp_path: Path, fake_runner) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(_spec(fake_runner))
    exp = Experiment.start(parse_spec(path.read_text(), str(path)), path, tmp_path / "runs")
    assert exp.wait(timeout=240)
    exp.finish()
    manifest = json.loads(exp.rundir.manifest_path.read_text())
    spans = []
    for run_id, entry in manifest["runs"].items():
        assert entry["gpus"] in ([0], [1]), entry
        assert exp.store.run(run_id).status == "done"
        first = exp.rundir.output_path(run_id).read_bytes().splitlines()[0]
        assert first == f"visible={entry['gpus'][0]}".encode()  # only its own GPU
        times = [e.t for e in read_events(exp.rundir.events_path(run_id))]
        spans.append((min(times), max(times), entry["gpus"][0]))
    assert len(spans) == 6 and {g for _, _, g in spans} == {0, 1}
    for s1, e1, g1 in spans:
        for s2, e2, g2 in spans:
            if (s1, e1) != (s2, e2) and s1 < e2 and s2 < e1:
                assert g1 != g2, spans  # runs at once never share a GPU
    for start, _, _ in spans:
        assert sum(1 for s, e, _ in spans if s <= start <= e) <= 2, spans
