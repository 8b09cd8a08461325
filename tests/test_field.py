"""Real training scripts at their defaults: lines as a terminal shows them, every adapter on
output recorded from the real tool, nothing read said with its fix, arms kept out of each
other's files, evidence for any Python an arm starts, and the shell-quoted ``abtui ab``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from abtui.adapters import ADAPTERS, LogAdapter
from abtui.adapters.base import Parsed, segments, terminal_text
from abtui.adapters.named import parse as named
from abtui.backends.local import python_of
from abtui.experiment import Experiment
from abtui.infra.errors import SpecError
from abtui.spec import parse_spec
from abtui.spec.models import log_formats
from abtui.store import ArmStatus, RunState

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "tests" / "fixtures" / "logs"
VENV_BIN = str(Path(sys.executable).parent)


def _replay(name: str, mode: str = "auto") -> RunState:
    """A recorded log through the store exactly as a watcher feeds an arm's output."""
    state = RunState("a", "a", adapter=LogAdapter(mode))
    data = (LOGS / name).read_bytes()
    lines = data.split(b"\n")
    state.ingest_many([ln for ln in lines if ln or ln is not lines[-1]], 1.0)
    return state


def _points(state: RunState, name: str) -> list[float]:
    s = state.series.get(name)
    return list(s.values) if s is not None else []


# -- lines as a terminal shows them ------------------------------------------------------

def test_a_carriage_return_overwrites_and_escapes_and_rank_prefixes_go() -> None:
    line = "\r  2%|▏ | 18/1000 [00:00<00:29, 32.95it/s]\r          \r{'loss': '5.939'}"
    assert terminal_text(line) == "{'loss': '5.939'}"
    assert terminal_text("\x1b[32mloss\x1b[0m 1.0\r") == "loss 1.0"  # an empty last part
    assert terminal_text("[default0]:[rank0]: step 5 | loss 0.7") == "step 5 | loss 0.7"
    # a bar redrawn right before a line on the same row (stdout and stderr share a pipe)
    assert segments(" 17%|█▋  | 5/30 [00:00<00:00, 37.46it/s]{'loss': '3.5'}") == ["{'loss': '3.5'}"]
    # a bar alone stays a bar; another rank's lines never count as metrics
    assert segments(" 10%|█ | 10/100 [00:01<00:09, 9.5it/s, loss=2.31]") != []
    assert segments("[default1]:step 5 | loss 0.7", rank0=True) == []


def _tally(line: str) -> Parsed | None:
    """A made-up trainer's lines: ``TALLY 3 loss=0.5``."""
    m = re.fullmatch(r"TALLY (\d+) loss=([\d.]+)", line.strip())
    return Parsed(int(m.group(1)), {"loss": float(m.group(2))}) if m else None


def test_an_adapter_registered_once_is_named_by_a_spec_and_read_end_to_end(
        tmp_path, monkeypatch) -> None:
    """The walk "add a log adapter": one entry in ``ADAPTERS`` (no second list): a spec may
    name it, auto-detection finds it, and a real run's lines are read through it."""
    with pytest.raises(SpecError, match="log_format 'tally'"):
        parse_spec(_TALLY_SPEC.format(fmt="tally"))
    monkeypatch.setitem(ADAPTERS, "tally", ("a made-up trainer's lines", _tally))
    assert "tally" in log_formats()
    for fmt in ("tally", "auto"):
        spec_path = tmp_path / fmt / "spec.yaml"
        spec_path.parent.mkdir()
        spec_path.write_text(_TALLY_SPEC.format(fmt=fmt))
        exp = Experiment.start(parse_spec(spec_path.read_text()), spec_path,
                               spec_path.parent / "runs")
        assert exp.wait(timeout=60)
        exp.finish()
        for run_id in ("A", "B"):
            state = exp.store.run(run_id)
            assert state.status == ArmStatus.DONE, state.exit
            assert state.step == 4 and state.last["loss"] == 0.4, (fmt, run_id, state.last)
        assert exp.store.run("A").adapter.name == "tally"


_TALLY_SPEC = """
name: tally
command: [sh, -c, 'for i in 1 2 3 4; do echo "TALLY $i loss=0.$i"; sleep 0.05; done', tally]
steps: 4
treatment: [a]
log_format: {fmt}
arms:
  A: {{config: {{a: 1}}}}
  B: {{config: {{a: 2}}}}
"""


# -- recorded output of the real tools, one per adapter ----------------------------------

def test_the_hugging_face_trainer_at_its_defaults_progress_bar_on() -> None:
    text = (LOGS / "hf_trainer_defaults.log").read_bytes().decode()
    assert "\r" in text and "it/s]" in text  # the bar is really there
    state = _replay("hf_trainer_defaults.log")
    assert state.adapter.name == "hf_trainer"
    assert len(_points(state, "loss")) == text.count("{'loss'") == 8
    assert len(_points(state, "accuracy")) == text.count("'eval_accuracy'") == 2
    assert state.final and state.final["throughput_samples_per_sec"] > 0


def test_trl_sft_at_its_defaults() -> None:
    text = (LOGS / "trl_sft_defaults.log").read_bytes().decode()
    state = _replay("trl_sft_defaults.log")
    assert state.adapter.name == "hf_trainer"
    assert len(_points(state, "loss")) == text.count("{'loss'") == 6
    assert state.final and state.final["final_loss"] == pytest.approx(3.336)


def test_the_pytorch_word_language_model() -> None:
    text = (LOGS / "word_language_model.log").read_bytes().decode()
    state = _replay("word_language_model.log")
    assert state.adapter.name == "pytorch_examples"
    assert len(_points(state, "loss")) == text.count("| epoch ") == 8
    assert list(state.series["loss"].steps)[:5] == [5, 10, 15, 20, 25]  # across epochs
    assert len(_points(state, "val_loss")) == 2 and _points(state, "test_loss") == [4.61]
    rates = _points(state, "throughput_samples_per_sec")
    assert rates[1] == pytest.approx(1000 / 6.50) and "steps/s" in (state.implied.source or "")


def test_nanogpt_throughput_from_its_tokens_per_iteration() -> None:
    text = (LOGS / "nanogpt_shakespeare_char.log").read_bytes().decode()
    state = _replay("nanogpt_shakespeare_char.log")
    assert state.adapter.name == "nanogpt"
    assert len(_points(state, "loss")) == len(re.findall(r"^iter \d+:", text, re.M)) == 31
    assert len(_points(state, "val_loss")) == 4
    # "tokens per iteration will be: 256" and "time 5.58ms": 256 / 5.58 ms
    assert _points(state, "throughput_samples_per_sec")[1] == pytest.approx(256 * 1000 / 5.58)
    assert "tokens per step" in (state.implied.source or "")


def test_timm_train_lines_across_epochs() -> None:
    text = (LOGS / "timm_train.log").read_bytes().decode()
    state = _replay("timm_train.log")
    assert state.adapter.name == "timm"
    assert len(_points(state, "loss")) == text.count("Train: ") == 22
    assert list(state.series["loss"].steps)[-1] == 80  # epoch 1, update 39 of 40
    assert _points(state, "accuracy") == [pytest.approx(0.6), pytest.approx(0.7)]
    assert all(r > 100 for r in _points(state, "throughput_samples_per_sec"))


def test_deepspeed_progress_lines() -> None:
    state = _replay("deepspeed_pipeline.log")
    assert state.adapter.name == "deepspeed"
    assert list(state.series["loss"].steps) == list(range(10, 110, 10))
    assert _points(state, "throughput_samples_per_sec")[0] == pytest.approx(250.150)


def test_torchrun_prefixed_lines_are_read_from_rank_0() -> None:
    state = _replay("torchrun_tee.log")
    assert state.adapter.name == "named"  # no known format: the fallback, said as such
    assert list(state.series["loss"].steps) == [5, 10, 15, 20, 25, 30]
    assert _points(state, "throughput_samples_per_sec")[0] == 1030735


def test_the_named_numbers_fallback_reads_loops_and_leaves_prose() -> None:
    for line, step, values in (
            ("epoch 1 step 20 loss 2.31", 20, {"epoch": 1.0, "loss": 2.31}),
            ("loss: 2.31, acc=0.61", None, {"loss": 2.31, "accuracy": 0.61}),
            ("| step 100 | loss 2.31 | lr 3e-4 |", 100, {"loss": 2.31, "lr": 3e-4}),
            ("Step [20/100], Loss: 2.3100", 20, {"loss": 2.31}),
            ("iter 7: loss 4.2, time 12.5ms", 7, {"loss": 4.2, "step_time_ms": 12.5}),
            (" 10%|█ | 10/100 [00:01<00:09, 9.5it/s, loss=2.31]", 10, {"loss": 2.31})):
        p = named(line)
        assert p is not None and (p.step, p.values) == (step, values), line
    ev = named("val_loss: 1.2 val_acc: 85%")
    assert ev is not None and ev.eval and ev.values["accuracy"] == 0.85
    for prose in ("The loss function is cross entropy", "tokens per iteration will be: 16,384",
                  "Epoch 0: 50%|█| 32/64 [00:01<00:01, 25.00it/s, v_num=0, train_loss=0.693]"):
        assert named(prose) is None, prose  # Lightning's bar: its logger files say it


def test_the_fallback_never_ends_detection() -> None:
    a = LogAdapter()
    assert a.feed("warming up: loss 9.0") and a.name == "named" and a.detecting
    [p] = a.feed("iter 10: loss 4.2, time 12.3ms, mfu 1.2%")
    assert a.name == "nanogpt" and not a.detecting and p.step == 10


# -- evidence for whatever Python an arm starts ------------------------------------------

def test_the_python_behind_console_scripts_launchers_and_shells(tmp_path: Path) -> None:
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    for argv in (["torchrun", "--nproc_per_node", "2", "x.py"], ["accelerate", "launch", "x.py"],
                 ["sh", "-c", f"exec {sys.executable} x.py --lr=1"],
                 ["env", "A=1", sys.executable, "x.py"]):
        found = python_of(argv, tmp_path, path)
        assert found is not None and Path(found[0]).name.startswith("python"), argv
        assert "x.py" in found[1]
    assert python_of(["ls", "-l"], tmp_path, path) is None


# -- the arm's files ---------------------------------------------------------------------

def test_the_arm_hook_records_writes_torch_save_included_and_chains_the_users(
        tmp_path: Path) -> None:
    """abtui/arm_site records every file a Python process opens for writing (torch.save's
    C++ writer included) outside $ABTUI_OUT, and then runs the user's own sitecustomize."""
    user = tmp_path / "user_site"
    user.mkdir()
    (user / "sitecustomize.py").write_text("import os\nos.environ['USER_SITE_RAN'] = '1'\n")
    writes, out = tmp_path / "arm" / "writes", tmp_path / "arm" / "out"
    writes.mkdir(parents=True)
    out.mkdir()
    code = ("import os, torch\nopen('a.txt', 'w').write('x')\ntorch.save({}, 'ckpt.pt')\n"
            "open(os.path.join(os.environ['ABTUI_OUT'], 'mine.txt'), 'w')\nopen('a.txt').read()\n"
            "print(os.environ.get('USER_SITE_RAN'))\n")
    env = {**os.environ, "ABTUI_WRITES_DIR": str(writes), "ABTUI_OUT": str(out),
           "PYTHONPATH": f"{REPO / 'abtui' / 'arm_site'}{os.pathsep}{user}"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the user's sitecustomize still ran
    recorded = "".join(p.read_text() for p in writes.iterdir()).splitlines()
    assert str(tmp_path / "a.txt") in recorded and str(tmp_path / "ckpt.pt") in recorded
    assert not any(r.startswith(str(out)) for r in recorded)


def _abtui(*args: str, cwd: Path, path_first: str = VENV_BIN, timeout: int = 600
           ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{path_first}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "abtui", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def _report(tmp_path: Path) -> dict:
    [run] = list((tmp_path / "runs").iterdir())
    return json.loads((run / "report.json").read_text())


@pytest.mark.slow
def test_two_torchrun_arms_writing_one_checkpoint_are_flagged(tmp_path: Path) -> None:
    """Launched through torchrun, in one working directory, at the script's defaults: read
    from rank 0 by the fallback, the environment observed behind torchrun, and out/ckpt.pt
    written by both arms makes the comparison not fair."""
    script = REPO / "tests" / "fixtures" / "ddp_script.py"
    out = _abtui("ab", f"torchrun --nproc_per_node 2 {script} --lr 0.05 --steps 100",
                 f"torchrun --nproc_per_node 2 {script} --lr 0.2 --steps 100", "--headless",
                 "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = _report(tmp_path)
    for arm in ("0.05", "0.2"):
        [r] = report["arms"][arm]["runs"]
        assert r["log_format"] == "named" and r["records"] == 20, r
        assert r["throughput"] > 0
    assert report["fairness"]["state"] == "confounded"
    assert any("both arms wrote out/ckpt.pt" in str(x) for x in report["fairness"]["reasons"])
    states = {c["category"]: c["state"] for c in report["fairness"]["checked_categories"]}
    assert states["environment"] == "identical" and states["files"] == "confound", states
    assert "both arms wrote out/ckpt.pt" in out.stdout
    # `abtui report` rebuilds it from the run directory alone (no backend): still said
    [run] = list((tmp_path / "runs").iterdir())
    again = _abtui("report", str(run), cwd=tmp_path)
    assert "both arms wrote out/ckpt.pt" in again.stdout, again.stdout[-2000:]


@pytest.mark.slow
def test_out_placeholder_keeps_the_arms_apart(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("import argparse, os\np = argparse.ArgumentParser()\n"
                      "p.add_argument('--lr')\np.add_argument('--save')\na = p.parse_args()\n"
                      "for i in range(1, 6):\n    print(f'step {i} loss {1 / i / float(a.lr):.4f}')\n"
                      "open(a.save, 'w').write(a.lr)\n")
    out = _abtui("ab", f"python {script} --lr 1 --save {{out}}/model.pt",
                 f"python {script} --lr 2 --save {{out}}/model.pt", "--headless",
                 "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = _report(tmp_path)
    assert report["fairness"]["state"] == "fair", report["fairness"]
    [run] = list((tmp_path / "runs").iterdir())
    assert (run / "arms" / "1" / "out" / "model.pt").read_text() == "1"
    assert (run / "arms" / "2" / "out" / "model.pt").read_text() == "2"


@pytest.mark.slow
def test_a_lightning_cli_script_writes_into_the_arm_and_is_read(tmp_path: Path) -> None:
    """LightningCLI passes default_root_dir=None itself: abtui still gets its default logger
    into the arm's own folder, so the arms neither collide on lightning_logs/version_0 nor
    go unread."""
    script = REPO / "tests" / "fixtures" / "lightning_cli_script.py"
    common = ("--trainer.max_steps 40 --trainer.accelerator cpu --trainer.log_every_n_steps 5 "
              "--trainer.val_check_interval 20")
    out = _abtui("ab", f"python {script} fit --model.lr 0.02 {common}",
                 f"python {script} fit --model.lr 0.1 {common}", "--headless",
                 "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = _report(tmp_path)
    for arm in ("0.02", "0.1"):
        [r] = report["arms"][arm]["runs"]
        assert r["last_step"] == 39 and r["accuracy_final"] is not None, r
    assert not (tmp_path / "lightning_logs").exists()
    assert report["fairness"]["state"] == "fair", report["fairness"]


@pytest.mark.slow
def test_a_summary_writer_in_its_default_folder_is_read(tmp_path: Path) -> None:
    """SummaryWriter() writes ./runs/<date>_<host> in the working directory: the files the
    arm wrote are read wherever they are, each arm its own."""
    script = tmp_path / "tb.py"
    script.write_text(
        "import sys, time\nfrom torch.utils.tensorboard import SummaryWriter\n"
        "lr = float(sys.argv[1])\nw = SummaryWriter(comment=f'lr{lr}', flush_secs=1)\n"
        "for s in range(1, 21):\n    w.add_scalar('train/loss', 1 / (s * lr), s)\n"
        "    time.sleep(0.02)\nw.close()\n")
    out = _abtui("ab", f"python {script} 1", f"python {script} 2", "--headless",
                 "--runs-dir", str(tmp_path / "abtui-runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [run] = list((tmp_path / "abtui-runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    for arm in ("1", "2"):
        [r] = report["arms"][arm]["runs"]
        assert r["last_step"] == 20 and r["records"] == 20, r
    assert report["arms"]["2"]["runs"][0]["final_loss_raw"] == pytest.approx(1 / 40)
    assert report["arms"]["1"]["runs"][0]["final_loss_raw"] == pytest.approx(1 / 20)


# -- nothing read, said at once, with the fix --------------------------------------------

@pytest.mark.slow
def test_nothing_read_is_said_with_the_fix_and_exits_5_then_the_regex_reads_it(
        tmp_path: Path) -> None:
    script = tmp_path / "odd.py"
    script.write_text("import sys\nfor i in range(1, 11):\n"
                      "    print(f'#{i} -> objective={1 / i / float(sys.argv[1]):.3f}')\n")
    out = _abtui("ab", f"python {script} 1", f"python {script} 2", "--headless",
                 "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 5, out.stdout[-3000:] + out.stderr[-3000:]
    assert "no metric read from its 10 lines" in out.stdout
    assert "'#1 -> objective=1.000'" in out.stdout and "--log-format 'regex:" in out.stdout
    assert any("no metric read" in n for n in _report(tmp_path)["notes"])
    fixed = _abtui("ab", f"python {script} 1", f"python {script} 2", "--headless",
                   "--log-format", r"regex:#(?P<step>\d+) -> objective=(?P<loss>[\d.]+)",
                   "--runs-dir", str(tmp_path / "runs2"), cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    [run] = list((tmp_path / "runs2").iterdir())
    report = json.loads((run / "report.json").read_text())
    assert report["arms"]["2"]["runs"][0]["records"] == 10


def test_a_bad_log_format_is_an_error_in_the_words_of_the_options(tmp_path: Path) -> None:
    out = _abtui("ab", "python x.py 1", "python x.py 2", "--log-format", "{regex: '('}",
                 "--save", str(tmp_path / "s.yaml"), cwd=tmp_path)
    assert out.returncode == 2 and "regex does not compile" in out.stderr
    assert "line " not in out.stderr and "Traceback" not in out.stderr


# -- abtui ab on shell-quoted commands ----------------------------------------------------

def test_ab_templates_inside_a_shell_string(tmp_path: Path) -> None:
    import yaml

    from abtui.spec import parse_spec
    from abtui.spec.ab import ab_spec
    from abtui.spec.resolve import resolve_runs

    data = ab_spec(["sh -c 'exec python x.py --a=1 --lr=0.001'",
                    "sh -c 'exec python x.py --a=1 --lr=0.003'"])
    assert data["treatment"] == ["lr"]
    runs = resolve_runs(parse_spec(yaml.safe_dump(data)))
    assert [r.command for r in runs] == [("sh", "-c", "exec python x.py --a=1 --lr=0.001"),
                                         ("sh", "-c", "exec python x.py --a=1 --lr=0.003")]
    # values a shell would read otherwise stay whole words of their own
    odd = ab_spec(["sh -c 'python x.py --msg \"a b\"'", "sh -c 'python x.py --msg \"a;c\"'"])
    runs = resolve_runs(parse_spec(yaml.safe_dump(odd)))
    assert runs[0].command != runs[1].command


def test_arms_that_resolve_to_one_command_are_refused(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\ncommand: [python, x.py, '{lr}']\nargs: template\n"
                    "arms:\n  a: {config: {lr: 1}}\n  b: {config: {lr: 1}}\n")
    out = _abtui("validate", str(spec), cwd=tmp_path)
    assert out.returncode == 2 and "run the same command" in out.stderr, out.stderr
    spec.write_text("name: x\ncommand: [python, x.py, '{lr x}']\nargs: template\n"
                    "arms:\n  a: {config: {lr: 1}}\n  b: {config: {lr: 2}}\n")
    out = _abtui("validate", str(spec), cwd=tmp_path)
    assert out.returncode == 2 and "is not a placeholder" in out.stderr, out.stderr
    spec.write_text("name: x\ncommand: [python, x.py]\naa: true\n"
                    "arms:\n  a: {config: {}}\n  b: {config: {}}\nargs: template\n")
    assert _abtui("validate", str(spec), cwd=tmp_path).returncode == 0  # an A/A, said so


@pytest.mark.slow
def test_trl_sft_unmodified_at_its_defaults(tmp_path: Path) -> None:
    """`trl sft` as its docs run it (a console script, progress bar on, its default
    output_dir shared by both arms): every loss line read, the final throughput, and
    trainer_output/ written by both arms flagged."""
    made = subprocess.run([sys.executable, str(REPO / "tests" / "fixtures" / "tiny_lm.py"),
                           str(tmp_path / "lm")], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    cmd = (f"trl sft --model_name_or_path {tmp_path / 'lm' / 'model'} --dataset_name "
           f"{tmp_path / 'lm' / 'data'} --max_steps 30 --logging_steps 5 "
           "--per_device_train_batch_size 8 --max_length 32 --report_to none --use_cpu "
           "--bf16 false --learning_rate")
    work = tmp_path / "work"
    work.mkdir()
    out = _abtui("ab", f"{cmd} 1e-3", f"{cmd} 3e-3", "--headless", "--runs-dir",
                 str(tmp_path / "runs"), cwd=work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = _report(tmp_path)
    [run] = list((tmp_path / "runs").iterdir())
    for arm in ("1e-3", "3e-3"):
        [r] = report["arms"][arm]["runs"]
        printed = (run / "arms" / arm / "output.log").read_bytes().decode().count("{'loss'")
        assert r["log_format"] == "hf_trainer" and r["records"] == printed == 6, r
        assert r["throughput"] > 0 and r["throughput_source"] == "final record"
    assert report["fairness"]["state"] == "confounded"
    assert any("trainer_output/" in str(x) for x in report["fairness"]["reasons"])
    states = {c["category"]: c["state"] for c in report["fairness"]["checked_categories"]}
    assert states["environment"] == "identical", states  # observed behind the console script


# -- replicates that replicate -------------------------------------------------------------

_SELF_SEEDING = """import argparse, random
p = argparse.ArgumentParser()
p.add_argument('--lr', type=float)
p.add_argument('--seed', type=int, default=1337)  # the script's own default, as nanoGPT's
a = p.parse_args()
r = random.Random(a.seed)
loss = 2.0
for i in range(1, 41):
    loss *= 1 - a.lr * r.uniform(0.5, 1.5)
    print(f'step {i} | loss {loss:.6f} | samples/s {1000 + r.uniform(-50, 50):.1f}')
"""


@pytest.mark.slow
def test_a_self_seeding_scripts_identical_replicates_are_never_significant(
        tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(_SELF_SEEDING)
    out = _abtui("ab", f"python {script} --lr 0.01", f"python {script} --lr 0.02",
                 "--replicates", "3", "--headless", "--runs-dir", str(tmp_path / "runs"),
                 cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "the commands take no seed" in out.stderr
    report = _report(tmp_path)
    loss = report["comparisons"][0]["metrics"]["loss_delta"]
    assert loss["significant"] is False and loss["calibrated"] is False, loss
    assert "3 identical runs" in loss["note"]
    statuses = {r["seed_status"] for a in report["arms"].values() for r in a["runs"]}
    assert statuses == {"offered (ABTUI_SEED), not confirmed"}
    # handed the seed, the replicates vary and the effect is tested
    seeded = _abtui("ab", f"python {script} --lr 0.01", f"python {script} --lr 0.02",
                    "--replicates", "3", "--seed-arg", "--seed {seed}", "--headless",
                    "--runs-dir", str(tmp_path / "runs2"), cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stdout[-3000:] + seeded.stderr[-3000:]
    assert "take no seed" not in seeded.stderr
    [run] = list((tmp_path / "runs2").iterdir())
    report = json.loads((run / "report.json").read_text())
    loss = report["comparisons"][0]["metrics"]["loss_delta"]
    assert loss["calibrated"] is True and loss["significant"] is True, loss
    assert {r["seed_status"] for a in report["arms"].values() for r in a["runs"]} == {
        "passed in the command"}
    assert [r["seed"] for r in report["arms"]["0.01"]["runs"]] == [0, 1, 2]


def test_protocol_lines_after_a_progress_bar_on_their_row_are_read() -> None:
    """abtui's own callback in a Trainer with its bar on: the bar (stderr) and the protocol
    (stdout) share the arm's pipe, so JSON lines land after a bar on one row. Every metric
    record and the final record are read (before: 1 of 4, no final)."""
    text = (LOGS / "hf_callback_progress_bar.log").read_bytes().decode()
    assert '/20 [00:00<00:00' in text and 'it/s]{"step":' in text  # the collision is there
    state = _replay("hf_callback_progress_bar.log")
    assert list(state.series["loss"].steps) == [5, 10, 15, 20]
    assert state.final and state.final["steps"] == 20
    assert state.decoder.oddities.total() == 0
