"""A run directory someone else made: no link followed, nothing started or signalled that
abtui did not start, nothing arm-made printed raw, no odd value fatal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"

SPEC = """
name: shared
backend: local
command: [python, {runner}]
steps: 20
args: flags
config: {{sleep: 0.0}}
treatment: [lr]
arms:
  A: {{config: {{lr: 0.1}}}}
  B: {{config: {{lr: 0.2}}}}
"""


def _abtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abtui", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(runner=FIXTURES / "fake_runner.py"))
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                 cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    [run] = list((tmp_path / "runs").iterdir())
    return run


def test_report_never_writes_through_a_planted_link(finished_run: Path, tmp_path: Path) -> None:
    """A report.md (or a report.md.tmp) linked to a .pth file of site-packages would run the
    report's text at the next Python start: the links are replaced or ignored, never
    written through."""
    victim = tmp_path / "evil.pth"
    victim.write_text("# untouched\n")
    for name in ("report.md", "report.md.tmp", "manifest.json.tmp", "report.json.tmp"):
        (finished_run / name).unlink(missing_ok=True)
        (finished_run / name).symlink_to(victim)
    out = _abtui("report", str(finished_run), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert victim.read_text() == "# untouched\n"
    assert not (finished_run / "report.md").is_symlink()  # a file of its own now
    assert not [p for p in finished_run.iterdir() if p.name.endswith(".abtui-tmp")]


def test_an_output_log_linked_to_a_secret_is_not_read(finished_run: Path, tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY----- hunter2\n")
    log = finished_run / "arms" / "A" / "output.log"
    log.unlink()
    log.symlink_to(secret)
    (finished_run / "arms" / "A" / "events.jsonl").unlink()
    for snap in (finished_run / "arms" / "A").glob("store.snap*"):
        snap.unlink()
    out = _abtui("report", str(finished_run), cwd=tmp_path)
    assert "Traceback" not in out.stderr
    events = finished_run / "arms" / "A" / "events.jsonl"
    assert not events.exists() or "hunter2" not in events.read_text()


def test_ls_never_writes_a_linked_lock_and_prints_nothing_raw(finished_run: Path,
                                                               tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    lock = finished_run / "monitor.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)
    manifest = json.loads((finished_run / "manifest.json").read_text())
    manifest["status"] = "\x1b]52;c;ZXZpbA==\x07\x1b[2Jrunning\x1b]0;pwned\x07"
    manifest["created_at"] = 1e308
    (finished_run / "manifest.json").write_text(json.dumps(manifest))
    out = _abtui("ls", "--runs-dir", str(finished_run.parent), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert victim.read_text() == "keep me\n"
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert finished_run.name in out.stdout
    rep = _abtui("report", str(finished_run), cwd=tmp_path)  # created_at 1e308: no crash
    assert rep.returncode in (0, 2), rep.stderr
    assert "Traceback" not in rep.stderr


def test_attach_never_starts_runs_it_did_not_launch(finished_run: Path, tmp_path: Path) -> None:
    """A manifest listing a run that was never launched, with a command of its own: attach
    says so and starts nothing unless --resume."""
    marker = tmp_path / "ran"
    manifest = json.loads((finished_run / "manifest.json").read_text())
    spec = manifest["spec"]
    spec["arms"]["C"] = {"config": {"lr": 0.3},
                         "command": ["sh", "-c", f"touch {marker}"]}
    spec["treatment"] = ["lr", "launch.command"]
    manifest["runs"]["C"] = {"arm": "C", "replicate": 0, "seed": 0, "command": ["sh"]}
    (finished_run / "manifest.json").write_text(json.dumps(manifest))
    out = _abtui("attach", str(finished_run), "--headless", cwd=tmp_path)
    assert "Traceback" not in out.stderr
    time.sleep(0.5)
    assert not marker.exists()
    assert "never launched" in out.stdout + out.stderr


def test_stop_signals_only_what_abtui_started(finished_run: Path, tmp_path: Path) -> None:
    """A manifest naming the process group of a process abtui never started: stop refuses."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             start_new_session=True)
    try:
        manifest = json.loads((finished_run / "manifest.json").read_text())
        manifest["runs"]["A"]["ref"] = {"pid": other.pid, "pgid": other.pid,
                                        "create_time": time.time() - 3600}
        manifest["runs"]["B"]["ref"] = {"pid": other.pid, "pgid": other.pid}
        (finished_run / "manifest.json").write_text(json.dumps(manifest))
        for arm in ("A", "B"):
            (finished_run / "arms" / arm / "exit.json").unlink(missing_ok=True)
        out = _abtui("stop", str(finished_run), cwd=tmp_path)
        assert "Traceback" not in out.stderr
        time.sleep(0.3)
        assert other.poll() is None, "a process abtui never started was signalled"
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait()


def test_a_run_directory_writable_by_others_is_refused(finished_run: Path, tmp_path: Path) -> None:
    finished_run.chmod(0o777)
    out = _abtui("report", str(finished_run), cwd=tmp_path)
    assert out.returncode == 2 and "writable by others" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_hostile_arm_cannot_stop_the_report(tmp_path: Path) -> None:
    """Values of 1e308 in one chart bin, a record nested 600 deep, a 2 MB line, a
    zero-width-split token and a forged [abtui] line: the arm is read, the report renders."""
    script = tmp_path / "hostile.py"
    script.write_text(
        "import json\n"
        "deep = 1\n"
        "for _ in range(600):\n    deep = {'a': deep}\n"
        "print(json.dumps({'event': 'env', 'x': deep}))\n"
        "print('x' * 2_000_000)\n"
        "print('token hf_' + '\\u200b'.join('abcdefghijklmnopqrstuvwxyz0123') + "
        "'\\u2028[abtui] all arms fair')\n"
        "for s in range(1, 41):\n"
        "    print(json.dumps({'step': s, 'loss': 1e308 if s in (20, 21) else 1.0 / s}))\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: hostile\ncommand: [python, {script}, '{{lr}}']\nargs: template\n"
                    "treatment: [lr]\narms:\n  a: {config: {lr: 1}}\n  b: {config: {lr: 2}}\n")
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                 cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    [run] = list((tmp_path / "runs").iterdir())
    assert (run / "report.md").is_file() and (run / "report.html").is_file()
    report = json.loads((run / "report.json").read_text())
    assert report["arms"]["a"]["runs"][0]["last_step"] == 40
    text = (run / "report.md").read_text() + out.stdout
    assert "\u2028" not in text and "\u200b" not in text


def test_secret_shapes_in_dicts_json_yaml_and_connection_strings_are_masked() -> None:
    from abtui.infra.secrets import mask_env, redact

    for text, secret in (("{'hf_token': 'abc123456'}", "abc123456"),
                         ('"api_key": "zz9999zz"', "zz9999zz"), ("password: hunter2", "hunter2"),
                         ("Server=db;User Id=u;Pwd=s3cr3tpw;", "s3cr3tpw"),
                         ("token hf_abcdefghijklmnop", "abcdefghijklmnop")):
        assert secret not in redact(text), text
    for keep in ("step: 10", "loss: 0.5", "time: 12:30"):
        assert redact(keep) == keep
    masked = mask_env({"DATABASE_URL": "postgres://u:pw123456@h/db", "X": "sk-proj-abcdefghijkl"})
    assert "pw123456" not in str(masked) and "abcdefghijkl" not in str(masked)


def test_the_code_snapshot_never_copies_credential_files(tmp_path: Path) -> None:
    from abtui.diff.working_tree import snapshot

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "train.py").write_text("print('hi')\n")
    subprocess.run(["git", "-C", str(repo), "add", "train.py"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-qm", "x"], check=True)
    for name in (".env", "secrets.env", "id_ed25519", "key.pem", "vars.txt", "helper.py"):
        (repo / name).write_text("HF_TOKEN=hf_abcdefghijklmnop\n")
    summary = snapshot(["python", "train.py"], repo, tmp_path / "code", never=[repo / "vars.txt"])
    copied = {p.name for p in (tmp_path / "code" / "untracked").rglob("*") if p.is_file()}
    assert copied == {"helper.py"}
    assert {u["path"] for u in summary["untracked"]} >= {".env", "vars.txt", "helper.py"}
