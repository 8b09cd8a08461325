"""The walk "add a backend": one declaration in ``abtui.spec.backends`` and a spec can name
it, the run plan and the checks read its facts, and ``make_backend`` makes it; a made-up
backend runs an experiment end to end, and ``attach``/``stop`` find it again by name."""

from __future__ import annotations

import json
import sys

import pytest

from abtui.backends import make_backend
from abtui.backends.local import LocalBackend
from abtui.experiment import Experiment
from abtui.infra.errors import SpecError
from abtui.spec import parse_spec, resolve_runs
from abtui.spec.backends import BACKENDS, BackendKind, register
from abtui.store import ArmStatus

SPEC = """
name: relay
backend: {backend}
command: [{python}, {runner}]
steps: 12
treatment: [rate]
arms:
  A: {{config: {{rate: 1.0}}}}
  B: {{config: {{rate: 3.0}}}}
"""


class RelayBackend(LocalBackend):
    """A made-up backend: the local one under another name, counting what it launched."""

    launched: list[str] = []

    def launch(self, run, rundir):  # type: ignore[no-untyped-def]
        RelayBackend.launched.append(run.run_id)
        return super().launch(run, rundir)


@pytest.fixture
def relay():
    register(BackendKind("relay", f"{__name__}:RelayBackend", "the local backend, relayed",
                         git_arms=False))
    RelayBackend.launched = []
    yield
    BACKENDS.pop("relay", None)


def _spec(tmp_path, fake_runner, backend: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(backend=backend, python=sys.executable, runner=fake_runner))
    return path


def test_an_unknown_backend_is_refused_with_the_declared_names(tmp_path, fake_runner) -> None:
    with pytest.raises(SpecError, match="backend 'relay': one of local, docker, slurm"):
        parse_spec(_spec(tmp_path, fake_runner, "relay").read_text())


def test_a_registered_backend_runs_an_experiment_end_to_end(tmp_path, fake_runner,
                                                             relay) -> None:
    path = _spec(tmp_path, fake_runner, "relay")
    spec = parse_spec(path.read_text())
    assert type(make_backend(spec)) is RelayBackend
    exp = Experiment.start(spec, path, tmp_path / "runs")
    assert exp.wait(timeout=60)
    exp.finish()
    assert sorted(RelayBackend.launched) == ["A", "B"]
    for run_id in ("A", "B"):
        assert exp.store.run(run_id).status == ArmStatus.DONE
        assert exp.store.run(run_id).step == 12
    manifest = json.loads(exp.rundir.manifest_path.read_text())
    assert manifest["spec"]["backend"] == "relay"
    # the spec's checks read the declaration's facts: no git arms on this one
    bad = path.read_text().replace("A: {config: {rate: 1.0}}",
                                   "A: {config: {rate: 1.0}, code: {git: HEAD}}").replace(
        "B: {config: {rate: 3.0}}", "B: {config: {rate: 3.0}, code: {git: HEAD}}")
    with pytest.raises(SpecError, match="the relay backend does not take them"):
        parse_spec(bad)


def test_the_run_plan_reads_placement_from_the_declaration() -> None:
    """Slurm rotates runs across its nodes and docker across its hosts because their
    declarations say so, not because of their names."""
    body = {"name": "p", "steps": 1, "treatment": ["x"], "replicates": 2, "command": ["t"],
            "arms": {"A": {"config": {"x": 1}}, "B": {"config": {"x": 2}}},
            "backend": "slurm", "slurm": {"nodelist": ["n1", "n2"]}}
    from abtui.spec import ExperimentSpec

    nodes = {r.run_id: r.extra.get("node")
             for r in resolve_runs(ExperimentSpec.model_validate(body))}
    assert nodes == {"A.r0": "n1", "B.r0": "n2", "B.r1": "n1", "A.r1": "n2"}, nodes
    assert not any(k.nodes for n, k in BACKENDS.items() if n != "slurm")
