"""runners/train.py: real PyTorch training on the CPU, checked through its protocol output."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parent.parent
TRAIN = REPO / "runners" / "train.py"
SCHEMA = json.loads((REPO / "abtui" / "protocol.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
ADAM = ["--optimizer", "adam", "--lr", "0.002", "--threads", "1"]


@dataclass
class Run:
    returncode: int
    records: list[dict]
    plain: list[str]
    stderr: str

    def metrics(self, name: str) -> list[float]:
        return [r[name] for r in self.records if "step" in r and "event" not in r and name in r]

    def event(self, name: str) -> dict:
        (found,) = [r for r in self.records if r.get("event") == name]
        return found


def parse(stdout: str) -> tuple[list[dict], list[str]]:
    records, plain = [], []
    for line in stdout.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            plain.append(line)
    return records, plain


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(TRAIN), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or child_env(),
        cwd=REPO,
    )


def finish(proc: subprocess.Popen[str], timeout: int = 180) -> Run:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    records, plain = parse(stdout)
    return Run(proc.returncode, records, plain, stderr)


def train(*args: str, env: dict[str, str] | None = None) -> Run:
    return finish(start(*args, env=env))


@pytest.fixture(scope="module")
def digits_run() -> Run:
    """One real 100-step MLP run on digits, shared by the checks below."""
    return train(*ADAM, "--seed", "0", "--steps", "100", env=child_env(NCCL_FAKE_TOKEN="hunter2"))


def test_training_on_digits_learns(digits_run: Run) -> None:
    assert digits_run.returncode == 0, digits_run.stderr
    losses, accuracies = digits_run.metrics("loss"), digits_run.metrics("accuracy")
    assert len(losses) == 10 and len(accuracies) == 10  # every 10 steps
    assert losses[-1] < 0.5 * losses[0]
    assert accuracies[0] < 0.85 < accuracies[-1]
    final = digits_run.event("final")
    assert final["steps"] == 100 and final["samples"] == 6400 and final["stopped"] is False
    assert final["final_accuracy"] == accuracies[-1]
    steps = [r["step"] for r in digits_run.records if "step" in r]
    assert steps == list(range(10, 101, 10))


def test_every_line_is_a_schema_valid_record_in_protocol_order(digits_run: Run) -> None:
    assert digits_run.plain == []
    for record in digits_run.records:
        VALIDATOR.validate(record)
    assert digits_run.records[0]["event"] == "env"
    assert digits_run.records[-1]["event"] == "final"
    numerics = digits_run.records[1]  # the precision state at the first logged step
    assert numerics["event"] == "numerics" and numerics["float32_matmul_precision"] == "highest"
    assert numerics["at_step"] == digits_run.records[2]["step"]
    metric = digits_run.records[2]
    for name in ("loss", "accuracy", "throughput_samples_per_sec", "step_time_ms", "lr", "rss_mb"):
        assert isinstance(metric[name], float | int), name
    assert "gpu_memory_mb" not in metric  # CPU run: peak RSS instead


def test_env_record_describes_the_run(digits_run: Run) -> None:
    import torch

    env = digits_run.event("env")
    assert env["torch"] == torch.__version__ and env["cuda"] is None and env["gpus"] == []
    config = env["config"]
    assert config["optimizer"] == "adam" and config["lr"] == 0.002 and config["steps"] == 100
    assert "seed" not in config and env["seed"] == 0
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert env["config_hash"] == hashlib.sha256(blob.encode()).hexdigest()[:16]
    assert env["data"]["name"] == "digits" and len(env["data"]["fingerprint"]) == 16
    assert env["env_vars"]["NCCL_FAKE_TOKEN"] == "***"
    assert env["env_vars"]["OMP_NUM_THREADS"] == "1"
    assert env["torch_threads"] == 1 and env["world_size"] == 1
    assert not any("hunter2" in json.dumps(r) for r in digits_run.records)


def test_unknown_flag_exits_2_with_a_clear_message() -> None:
    run = train("--steps", "5", "--warp-drive", "on")
    assert run.returncode == 2
    assert "unrecognized arguments: --warp-drive on" in run.stderr
    assert "experiment config" in run.stderr and "Traceback" not in run.stderr
    assert run.records == []
    run = train("--batch-size", "0")
    assert run.returncode == 2 and "argument --batch-size: must be >= 1, got 0" in run.stderr


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="has torchvision")
def test_torchvision_model_without_torchvision_is_a_clear_error() -> None:
    run = train("--model", "resnet18", "--steps", "5")
    assert run.returncode == 2
    assert "needs torchvision" in run.stderr and "Traceback" not in run.stderr


def test_sigterm_mid_run_writes_a_stopped_final_record() -> None:
    proc = start(*ADAM, "--steps", "1000000", "--seed", "0")
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # wait until training is under way
            seen.append(json.loads(line))
            if "step" in seen[-1] and seen[-1]["step"] >= 20:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    records, _ = parse(rest)
    final = records[-1]
    VALIDATOR.validate(final)
    assert final["event"] == "final" and final["stopped"] is True
    assert 20 <= final["steps"] < 1000000 and final["final_loss"] is not None


@pytest.mark.slow
def test_same_seed_same_losses_other_seed_or_augmentation_differs(digits_run: Run) -> None:
    procs = [  # side by side, as abtui runs arms
        start(*ADAM, "--seed", "0", "--steps", "100"),
        start(*ADAM, "--seed", "1", "--steps", "100"),
        start(*ADAM, "--seed", "0", "--steps", "100", "--augment", "noise"),
    ]
    again, other_seed, noisy = (finish(p) for p in procs)
    assert again.metrics("loss") == digits_run.metrics("loss")
    assert again.metrics("accuracy") == digits_run.metrics("accuracy")
    assert other_seed.metrics("loss") != digits_run.metrics("loss")
    assert noisy.metrics("loss") != digits_run.metrics("loss")
    assert noisy.event("env")["config_hash"] != digits_run.event("env")["config_hash"]
    # the seed is not config: replicates of one arm share a config hash
    assert other_seed.event("env")["config_hash"] == digits_run.event("env")["config_hash"]


@pytest.mark.slow
def test_runs_from_a_bare_folder_with_the_reporter_copied_alongside(tmp_path: Path) -> None:
    # What an image holds: runners/*.py and reporter.py in one folder, abtui not installed.
    for source in (REPO / "runners").glob("*.py"):
        shutil.copy(source, tmp_path / source.name)
    shutil.copy(REPO / "abtui" / "reporter.py", tmp_path / "reporter.py")
    launch = (
        "import runpy, sys; sys.modules['abtui'] = None; sys.modules['runners'] = None; "
        f"sys.argv = ['train.py', *sys.argv[1:]]; runpy.run_path({str(tmp_path / 'train.py')!r},"
        " run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", launch, "--model", "cnn", "--steps", "10", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=180,
        env=child_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    records, plain = parse(done.stdout)
    assert plain == [] and [r.get("event") for r in (records[0], records[-1])] == ["env", "final"]
    assert records[0]["git"] is None and records[0]["config"]["model"] == "cnn"


@pytest.mark.slow
def test_torchrun_ddp_on_cpu_reports_from_rank_zero_only() -> None:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*torchrun, str(TRAIN), *ADAM, "--steps", "20", "--batch-size", "32"],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records, _ = parse(done.stdout)
    assert [r.get("event") for r in records].count("env") == 1
    env, final = records[0], records[-1]
    assert env["world_size"] == 2 and final["event"] == "final"
    assert final["samples"] == 20 * 32 * 2  # both ranks' samples
    assert [r["step"] for r in records if "step" in r] == [10, 20]
