"""``abtui ab 'CMD A' 'CMD B'``: scripts as they are, no spec, no protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
HF = REPO / "tests" / "fixtures" / "hf_style_runner.py"


def _abtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abtui", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_ab_on_an_unmodified_trainer_style_script(tmp_path: Path) -> None:
    a = f"python {HF} --learning_rate 1e-3 --max_steps 60"
    b = f"python {HF} --learning_rate 3e-3 --max_steps 60"
    saved = _abtui("ab", a, b, "--save", str(tmp_path / "ab.yaml"), cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    spec = yaml.safe_load((tmp_path / "ab.yaml").read_text())
    assert spec["treatment"] == ["learning_rate"] and spec["args"] == "template"
    assert spec["command"][-3:] == ["{learning_rate}", "--max_steps", "60"]
    out = _abtui("ab", a, b, "--headless", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [run] = list((tmp_path / "runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    for arm in ("1e-3", "3e-3"):
        [r] = report["arms"][arm]["runs"]
        assert r["log_format"] == "hf_trainer" and r["records"] >= 12, r
        assert r["throughput"] > 0 and r["throughput_source"] == "final record"
        assert r["accuracy_final"] is not None
    curve = report["charts"]["loss"]["1e-3"]
    assert len(curve["x"]) == 12  # 60 steps logged every 5: twelve points
    cmp = report["comparisons"][0]
    assert cmp["metrics"]["throughput_ratio"]["value"] is not None
    assert any("read as Hugging Face Trainer lines" in n for n in report["notes"])
    assert "verdict: 3e-3 vs 1e-3" in out.stdout
    # it prints no env record, but abtui observed the interpreter it ran with: fair on evidence
    assert report["fairness"]["state"] == "fair", report["fairness"]
    assert (run / "arms" / "1e-3" / "observed_env.json").exists()
    states = {c["category"]: c["state"] for c in report["fairness"]["checked_categories"]}
    assert states["environment"] == "identical" and states["config"] == "treatment", states
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["runs"]["1e-3"]["command"][-4:] == ["--learning_rate", "1e-3",
                                                        "--max_steps", "60"]


def test_ab_refuses_identical_commands_and_one_command(tmp_path: Path) -> None:
    same = _abtui("ab", "python x.py", "python x.py", cwd=tmp_path)
    assert same.returncode == 2 and "identical" in same.stderr and "Traceback" not in same.stderr
    one = _abtui("ab", "python x.py", cwd=tmp_path)
    assert one.returncode == 2 and "at least two commands" in one.stderr


def test_ab_on_a_real_hugging_face_trainer(tmp_path: Path) -> None:
    """transformers' own Trainer (a tiny random-weight BERT, synthetic data), unmodified: its
    printed dicts are read as curves, its train_samples_per_second as throughput."""
    script = REPO / "tests" / "fixtures" / "hf_trainer_script.py"
    out = _abtui("ab", f"python {script} --learning_rate 5e-4 --max_steps 40",
                 f"python {script} --learning_rate 2e-3 --max_steps 40", "--headless",
                 "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [run] = list((tmp_path / "runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    for arm in ("5e-4", "2e-3"):
        [r] = report["arms"][arm]["runs"]
        assert r["log_format"] == "hf_trainer", r
        assert r["throughput"] > 0 and r["throughput_source"] == "final record"
        assert r["accuracy_final"] is not None and r["final_loss_raw"] is not None
    assert len(report["charts"]["loss"]["5e-4"]["x"]) == 8  # 40 steps, logging_steps 5
    assert report["comparisons"][0]["metrics"]["throughput_ratio"]["value"] is not None
    assert "verdict: 2e-3 vs 5e-4: throughput" in out.stdout


LIGHTNING = REPO / "tests" / "fixtures" / "lightning_script.py"
TENSORBOARD = REPO / "tests" / "fixtures" / "tensorboard_script.py"


def _ab_report(tmp_path: Path, a: str, b: str) -> tuple[dict, str]:
    out = _abtui("ab", a, b, "--headless", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [run] = list((tmp_path / "runs").iterdir())
    return json.loads((run / "report.json").read_text()), out.stdout


def test_ab_on_a_real_lightning_script_reads_its_csv_logger(tmp_path: Path) -> None:
    """Lightning writes metrics.csv (rewritten as new keys appear): curves, throughput from
    its ThroughputMonitor and a verdict, every logged step exactly once."""
    report, stdout = _ab_report(tmp_path, f"python {LIGHTNING} --lr 0.02 --max_steps 60",
                                f"python {LIGHTNING} --lr 0.1 --max_steps 60")
    for arm in ("0.02", "0.1"):
        [r] = report["arms"][arm]["runs"]
        assert r["last_step"] == 59 and r["throughput"] > 0, r
        assert r["accuracy_final"] is not None
    curve = report["charts"]["loss"]["0.02"]
    assert len(curve["x"]) == 12  # logged every 5 steps of 60, none lost or doubled
    assert report["comparisons"][0]["metrics"]["throughput_ratio"]["value"] is not None
    assert "verdict: 0.1 vs 0.02" in stdout


def test_lightning_with_its_default_logger_and_directory_is_read_too(tmp_path: Path) -> None:
    """No logger, no directory given: Lightning's default (TensorBoard, as tensorboard is
    installed) writes under PL_TRAINER_DEFAULT_ROOT_DIR, which abtui points at $ABTUI_OUT;
    the run directory of the spec, as `abtui run` starts it."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: pl\ncommand: [python, {LIGHTNING}, --default_logger, --lr, '{{lr}}',"
                    " --max_steps, '40']\nargs: template\ntreatment: [lr]\n"
                    "arms:\n  a: {config: {lr: 0.02}}\n  b: {config: {lr: 0.1}}\n")
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [run] = list((tmp_path / "runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    for arm in ("a", "b"):
        [r] = report["arms"][arm]["runs"]
        assert r["last_step"] == 39 and r["throughput"] > 0, r
    assert list((run / "arms" / "a" / "out" / "lightning_logs").glob("version_*/events.out.tfevents.*"))
    assert not (tmp_path / "lightning_logs").exists()  # nothing in the shared workdir
    assert "verdict: b vs a" in out.stdout


def test_ab_on_a_script_writing_tensorboard_scalars(tmp_path: Path) -> None:
    report, stdout = _ab_report(tmp_path, f"python {TENSORBOARD} --lr 0.02 --steps 80",
                                f"python {TENSORBOARD} --lr 0.1 --steps 80")
    for arm in ("0.02", "0.1"):
        [r] = report["arms"][arm]["runs"]
        assert r["last_step"] == 80 and r["throughput"] > 0 and r["accuracy_final"] is not None, r
    assert len(report["charts"]["loss"]["0.1"]["x"]) == 16
    assert "verdict: 0.1 vs 0.02" in stdout
