"""Fair only on evidence, on real runs: planted gaps and confounds, each run for real on the
local backend (the fake runner for plumbing, the real PyTorch runner for host load)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FAKE = REPO / "tests" / "fixtures" / "fake_runner.py"


def _abtui(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abtui", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _spec(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(f"name: planted\ncommand: [python, {FAKE}]\n" + body)
    return p


def _only_run(tmp_path: Path) -> Path:
    [run] = list((tmp_path / "runs").iterdir())
    return run


def _wait_for(pred, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _run_until(tmp_path: Path, spec: Path, lines: int,
               stdout: int = subprocess.DEVNULL) -> tuple[subprocess.Popen[str], Path, Path]:
    """``abtui run --headless`` in the background, once arm b has written ``lines`` events:
    (the monitor, its run directory, b's events.jsonl)."""
    mon = subprocess.Popen([sys.executable, "-m", "abtui", "run", str(spec), "--headless",
                            "--runs-dir", str(tmp_path / "runs")], cwd=tmp_path, stdout=stdout,
                           stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (tmp_path / "runs").is_dir() and any((tmp_path / "runs").iterdir()))
        run = _only_run(tmp_path)
        events = run / "arms" / "b" / "events.jsonl"
        _wait_for(lambda: events.exists() and events.read_bytes().count(b"\n") >= lines)
    except BaseException:
        mon.kill()
        raise
    return mon, run, events


def test_a_script_without_env_record_is_unverifiable_and_gates_fail(tmp_path: Path) -> None:
    # a shell wrapper whose interpreter is a shell variable: abtui cannot tell which Python
    # it runs (sh -c 'exec python ...' it can), so it cannot take the env record itself
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""name: planted
command: [sh, -c, 'p=python; exec $p {FAKE} "$@"', sh]
steps: 30
treatment: [rate, no_env]
config: {{sleep: 0.02}}
arms:
  a: {{config: {{rate: 1.0}}}}
  b: {{config: {{rate: 2.0, no_env: true}}}}
""")
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                 "--gate", "throughput_ratio >= 0.5", "--gate-point", cwd=tmp_path)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    report = json.loads((_only_run(tmp_path) / "report.json").read_text())
    fair = report["fairness"]
    assert fair["state"] == "unverifiable" and fair["fair"] is None
    assert fair["missing"][0].startswith("no env record from arm b")
    assert "fairness unverifiable: no env record from arm b" in report["verdict"]["summary"]
    [gate] = report["gates"]
    assert not gate["passed"] and "comparison unverifiable: no env record from arm b" in gate["line"]
    assert "fairness unverifiable" in out.stdout


def test_monitor_killed_then_report_catches_up_exactly_once(tmp_path: Path) -> None:
    spec = _spec(tmp_path, """steps: 60
treatment: [rate]
config: {sleep: 0.05}
arms:
  a: {config: {rate: 1.0}}
  b: {config: {rate: 2.0}}
""")
    mon, run, events = _run_until(tmp_path, spec, 10)
    try:
        mon.send_signal(signal.SIGKILL)
        mon.wait(timeout=10)
    finally:
        if mon.poll() is None:
            mon.kill()
    seen_before = events.read_bytes().count(b"\n")
    _wait_for(lambda: all((run / "arms" / a / "exit_code").exists() for a in ("a", "b")))
    ls = _abtui("ls", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert "monitor gone" in ls.stdout and "a:done" in ls.stdout, ls.stdout
    first = _abtui("report", str(run), cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    for arm in ("a", "b"):
        [r] = report["arms"][arm]["runs"]
        assert r["status"] == "done" and r["records"] == 60, r
    lines = events.read_bytes().count(b"\n")
    assert lines > seen_before
    again = _abtui("report", str(run), cwd=tmp_path)
    assert again.returncode == 0 and events.read_bytes().count(b"\n") == lines  # exactly once
    assert json.loads((run / "report.json").read_text())["arms"] == report["arms"]
    ls = _abtui("ls", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert "finished" in ls.stdout and "monitor gone" not in ls.stdout, ls.stdout


def test_arms_stopped_halfway_make_the_comparison_incomplete(tmp_path: Path) -> None:
    spec = _spec(tmp_path, """steps: 400
treatment: [rate]
config: {sleep: 0.03}
arms:
  a: {config: {rate: 1.0}}
  b: {config: {rate: 2.0}}
""")
    mon, run, _ = _run_until(tmp_path, spec, 40, stdout=subprocess.PIPE)
    try:
        stop = _abtui("stop", str(run), "--grace", "5", cwd=tmp_path)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        out, _ = mon.communicate(timeout=60)
    finally:
        if mon.poll() is None:
            mon.kill()
    assert mon.returncode == 3, out[-2000:]
    report = json.loads((run / "report.json").read_text())
    fair = report["fairness"]
    assert fair["state"] == "unverifiable" and any(m.startswith("arms incomplete: ")
                                                   for m in fair["missing"]), fair
    assert "significant" not in report["verdict"]["summary"].replace("n.s.", "")
    step = report["arms"]["a"]["runs"][0]["quality_at_step"]
    assert step is not None and step < 400
    assert any(f"compared at step {step:g}" in n for n in report["notes"])
    ls = _abtui("ls", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert "running" not in ls.stdout.split("\n")[0], ls.stdout


def test_foreign_cpu_load_on_the_host_is_a_named_confound(tmp_path: Path) -> None:
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        spec = tmp_path / "spec.yaml"
        spec.write_text(f"""name: busy
workdir: {REPO}
command: [python, -u, runners/train.py]
steps: 8000
treatment: [lr]
telemetry: {{interval_s: 0.5}}
config: {{model: mlp, hidden: 64, dataset: digits, batch_size: 64, device: cpu, threads: 1,
         log_interval: 10, eval_interval: 2000, optimizer: sgd}}
arms:
  a: {{config: {{lr: 0.02}}}}
  b: {{config: {{lr: 0.03}}}}
""")
        out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                     cwd=tmp_path)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    report = json.loads((_only_run(tmp_path) / "report.json").read_text())
    assert report["fairness"]["state"] == "confounded"
    found = [f for f in report["findings"] if f["key"] == "host.foreign_cpu"]
    assert found and found[0]["confound"], report["findings"]
    assert "outside the experiment" in found[0]["message"]
    pids = {str(b.pid) for b in burners}
    assert any(f"PID {p}" in f["message"] for f in found for p in pids), found
    assert report["corun"]["placement"]["pinned"] is True


@pytest.mark.parametrize("where", ["config", "arm"])
def test_a_seed_in_a_config_is_refused_naming_the_experiment_seed(tmp_path: Path,
                                                                   where: str) -> None:
    cfg = "config: {seed: 7}\n" if where == "config" else "config: {}\n"
    arm_b = "{config: {seed: 7}}" if where == "arm" else "{}"
    spec = _spec(tmp_path, f"steps: 5\n{cfg}arms:\n  a: {{}}\n  b: {arm_b}\n")
    out = _abtui("validate", str(spec), cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "the experiment's 'seed' field" in out.stderr
    assert ("arms.b.config" if where == "arm" else "config") in out.stderr
    assert os.environ.get("NO_SUCH") is None


@pytest.mark.parametrize("same", [False, True])
def test_secrets_that_differ_are_a_finding_with_values_hidden(tmp_path: Path, same: bool) -> None:
    tok_a, tok_b = "hf_" + "a" * 30, "hf_" + ("a" if same else "b") * 30
    spec = _spec(tmp_path, f"""steps: 20
treatment: [rate]
config: {{sleep: 0.02}}
arms:
  a: {{config: {{rate: 1.0}}, env: {{HF_TOKEN: {tok_a}}}}}
  b: {{config: {{rate: 2.0}}, env: {{HF_TOKEN: {tok_b}}}}}
""")
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                 cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    run = _only_run(tmp_path)
    report = json.loads((run / "report.json").read_text())
    found = [f for f in report["findings"] if f["key"] == "envvar.HF_TOKEN"]
    if same:
        assert not found and report["fairness"]["state"] == "fair", report["fairness"]
    else:
        assert found and found[0]["confound"] and "HF_TOKEN differs (values hidden)" in found[0]["message"]
        assert report["fairness"]["state"] == "confounded"
    for path in run.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert tok_a.encode() not in data and tok_b.encode() not in data, path
    assert tok_a not in out.stdout + out.stderr and tok_b not in out.stdout + out.stderr


def test_a_numerics_change_after_start_up_is_a_confound(tmp_path: Path) -> None:
    """Same config, same env record at start; one arm lowers float32 matmul precision in
    code after env(): caught from the reporter's record at the first logged step."""
    spec = tmp_path / "spec.yaml"
    runner = REPO / "tests" / "fixtures" / "numerics_runner.py"
    spec.write_text(f"""name: numerics
command: [python, {runner}]
steps: 30
treatment: [hidden_change]
arms:
  a: {{config: {{hidden_change: none}}}}
  b: {{config: {{hidden_change: matmul}}}}
""")
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                 cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    report = json.loads((_only_run(tmp_path) / "report.json").read_text())
    [f] = [f for f in report["findings"] if f["key"] == "numerics.float32_matmul_precision"]
    assert f["confound"] and f["a"] == "highest" and f["b"] == "medium", f
    assert "float32 matmul precision differs (a: 'highest', b: 'medium')" in f["message"] \
        or "float32 matmul precision differs (a: highest, b: medium)" in f["message"], f
    assert report["fairness"]["state"] == "confounded"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


def test_abtui_diff_shows_the_exact_uncommitted_lines(tmp_path: Path) -> None:
    repo = tmp_path / "proj"
    repo.mkdir()
    (repo / "train.py").write_text(FAKE.read_text())
    (repo / "data.py").write_text("CROP = 224\nSHUFFLE = True\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "start")
    spec = repo / "spec.yaml"
    spec.write_text("""name: code
command: [python, train.py]
steps: 5
treatment: [rate]
arms:
  a: {config: {rate: 1.0}}
  b: {config: {rate: 2.0}}
""")
    _git(repo, "add", "spec.yaml")
    _git(repo, "commit", "-qm", "spec")
    runs = tmp_path / "runs"

    def run_once() -> Path:
        before = set(runs.iterdir()) if runs.is_dir() else set()
        out = _abtui("run", str(spec), "--headless", "--runs-dir", str(runs), cwd=repo)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        [new] = set(runs.iterdir()) - before
        return new

    clean = run_once()
    (repo / "data.py").write_text("CROP = 192\nSHUFFLE = True\n")
    dirty = run_once()
    out = _abtui("diff", str(clean), str(dirty), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "uncommitted changes in" in out.stdout
    checked = out.stdout.split("\n\n")[0]
    assert checked.startswith("checked:") and "code         confound" in checked, checked
    assert "environment  identical" in checked and "data         not recorded" in checked
    assert "-CROP = 224" in out.stdout and "+CROP = 192" in out.stdout, out.stdout
    (repo / "data.py").write_text("CROP = 160\nSHUFFLE = True\n")
    (repo / "augment.py").write_text("FLIP = True\n")  # untracked, beside the script
    dirtier = run_once()
    out = _abtui("diff", str(dirty), str(dirtier), cwd=tmp_path)
    assert "uncommitted changes differ" in out.stdout and "on the same commit" in out.stdout
    assert "+CROP = 192" in out.stdout and "+CROP = 160" in out.stdout, out.stdout
    assert "untracked file augment.py only in" in out.stdout and "+FLIP = True" in out.stdout
    snap = json.loads((dirtier / "code" / "snapshot.json").read_text())
    assert snap["dirty"] and snap["untracked"][0]["path"] == "augment.py"
