"""End to end: real runs (local backend, real processes speaking the protocol through
abtui's own reporter.py, in a real git repository), then `abtui diff RUN_A RUN_B`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from abtui.diff import diff_runs, fairness, find_differences, findings_to_json, render_findings
from abtui.experiment import Experiment
from abtui.infra.errors import RunDirError
from abtui.spec import load_spec

REPO = Path(__file__).resolve().parent.parent
SECRET = "hf_sekrit_value_123456"

RUNNER = '''"""A toy runner: parses the config flags, reports its env record, logs a few steps."""
import os
import sys

sys.modules["torch"] = None  # this toy trains nothing: keep the env record quick
import reporter  # abtui/reporter.py, copied next to this file as images do

PIPELINE = [
    transform
    for transform in (
        "transforms.ToTensor",
        "transforms.Normalize",
    )
]


def parse(argv):
    config, i = {}, 0
    while i < len(argv):
        flag = argv[i][2:].replace("-", "_")
        if flag.startswith("no_"):
            config[flag[3:]], i = False, i + 1
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            value = argv[i + 1]
            try:
                value = float(value) if "." in value else int(value)
            except ValueError:
                pass
            config[flag], i = value, i + 2
        else:
            config[flag], i = True, i + 1
    return config


config = parse(sys.argv[1:])
seed, steps = config.pop("seed"), config.pop("steps")
reporter.env(config=config, seed=seed, code_dir=os.path.dirname(os.path.abspath(__file__)),
             data={"name": "toy", "path": None, "fingerprint": f"toy-{seed}", "seed": seed})
for step in range(1, steps + 1):
    reporter.log(step, loss=1.0 / step)
reporter.final(steps=steps)
'''

SPEC = """
name: toy
backend: local
workdir: runner
command: [{python}, -u, runner.py]
seed: 0
steps: 5
replicates: {replicates}
treatment: [lr]
config: {{augment: none}}
arms:
  A: {{config: {{lr: 0.1}}}}
  B: {{config: {{lr: 0.01{extra_b}}}}}
env: {{NCCL_ALGO: {algo}, HF_TOKEN: {secret}}}
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def run_once(tmp: Path, algo: str, replicates: int = 1, extra_b: str = "") -> Experiment:
    spec_path = tmp / f"spec-{algo}.yaml"
    spec_path.write_text(SPEC.format(python=sys.executable, algo=algo, secret=SECRET,
                                     replicates=replicates, extra_b=extra_b))
    exp = Experiment.start(load_spec(spec_path), spec_path, runs_dir=tmp / "runs")
    assert exp.wait(timeout=60), "the toy arms did not finish"
    exp.finish()
    return exp


@pytest.fixture
def runner_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "runner"
    repo.mkdir()
    (repo / "runner.py").write_text(RUNNER)
    shutil.copy(REPO / "abtui" / "reporter.py", repo / "reporter.py")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "runner v1")
    return repo


def test_a_real_run_differing_only_in_the_treatment_is_fair(runner_repo: Path, tmp_path: Path) -> None:
    exp = run_once(tmp_path, "Ring", replicates=2)
    envs = {run_id: state.env for run_id, state in exp.store.runs.items()}
    assert all(env and env["git"]["root"] == str(runner_repo) for env in envs.values())
    findings = find_differences(exp.manifest, envs, exp.spec)
    assert [(f.key, f.intended) for f in findings] == [("config.lr", True)]
    assert fairness(findings).fair


def test_abtui_diff_between_two_real_runs(runner_repo: Path, tmp_path: Path) -> None:
    first = run_once(tmp_path, "Ring")
    text = (runner_repo / "runner.py").read_text()
    (runner_repo / "runner.py").write_text(text.replace('        "transforms.Normalize",\n', ""))
    git(runner_repo, "commit", "-q", "-am", "drop normalisation")
    second = run_once(tmp_path, "Tree", extra_b=", augment: flip")

    findings = diff_runs(first.rundir.root, second.rundir.root)
    keys = {f.key for f in findings}
    assert {"code.commit", "envvar.NCCL_ALGO"} <= keys
    # both arms changed alike: one finding each, labelled by run
    [code] = [f for f in findings if f.key == "code.commit"]
    assert code.is_confound and '-        "transforms.Normalize",' in (code.detail or "")
    assert code.arms == (first.rundir.name, second.rundir.name)
    assert code.message.startswith(f"the runner code differs: {first.rundir.name} ran commit")
    assert code.message.endswith("[runs A, B]")
    [algo] = [f for f in findings if f.key == "envvar.NCCL_ALGO"]
    assert (algo.a, algo.b) == ("Ring", "Tree")
    # a difference in one arm only stays that arm's
    [aug] = [f for f in findings if f.key == "config.augment"]
    assert aug.arms == (f"{first.rundir.name}/B", f"{second.rundir.name}/B")
    assert (aug.a, aug.b) == ("none", "flip")
    assert "config.lr" not in keys  # the same arms ran the same config in both runs
    assert not fairness(findings).fair

    cli = subprocess.run([sys.executable, "-m", "abtui", "diff", str(first.rundir.root),
                          str(second.rundir.root)], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert "code.commit" in cli.stdout and '"transforms.Normalize"' in cli.stdout
    for out in (cli.stdout, cli.stderr, render_findings(findings),
                json.dumps(findings_to_json(findings))):
        assert SECRET not in out


def test_abtui_diff_of_a_path_that_is_no_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no such run directory"):
        diff_runs(tmp_path / "nope", tmp_path / "nope2")
