"""A hostile arm on both backends: nothing it sends reaches the terminal or the run
directory unmasked, its key flood is capped, its container is least-privilege.

The arm (tests/fixtures/hostile_runner.py) prints escape sequences (OSC 52 clipboard,
OSC 0 title, CSI) in every field it controls, a flood of unique metric keys, a secret in
its env record and in log lines (Bearer, URL userinfo, NAME=VALUE), and tries to write
outside its out dir. Its own raw output stream (output.log, events.jsonl) is kept as
received; everything abtui derives from it, and every other file, is scanned.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HOSTILE = REPO / "tests" / "fixtures" / "hostile_runner.py"
RAW = {"output.log", "events.jsonl", "store.snap", "wrapper.err"}  # the arm's own stream


def _abtui(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abtui", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _scan_run_dir(run: Path, secret: str) -> None:
    for path in run.rglob("*"):
        if not path.is_file() or path.name in RAW:
            continue
        data = path.read_bytes()
        assert b"\x1b" not in data and b"\x9b" not in data, f"escape byte in {path}"
        assert secret.encode() not in data, f"secret in {path}"


def _clean_text(text: str, secret: str, where: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, f"escape in {where}: {text[-500:]!r}"
    assert secret not in text, f"secret in {where}"


def _spec(tmp_path: Path, secret: str, backend: str) -> Path:
    spec = tmp_path / "spec.yaml"
    (tmp_path / "secrets.env").write_text(f"HF_TOKEN={secret}\n")
    if backend == "local":
        head = f"command: [python, {HOSTILE}]\n"
    else:
        head = (f"backend: docker\nimage: abtui-test/runner:latest\n"
                f"command: [python, /fx/{HOSTILE.name}]\n"
                f"volumes: [{{source: {HOSTILE.parent}, target: /fx, read_only: true}}]\n")
    spec.write_text(f"""name: hostile
{head}steps: 20
env_from_file: secrets.env
treatment: [lr]
config: {{secret: {secret}}}
arms:
  a: {{config: {{lr: 0.1}}}}
  b: {{config: {{lr: 0.2, api_key: {secret}}}}}
""")
    return spec


def _check_run(tmp_path: Path, out: subprocess.CompletedProcess[str], secret: str) -> Path:
    assert out.returncode in (0, 1), out.stdout[-2000:] + out.stderr[-2000:]
    _clean_text(out.stdout, secret, "headless stdout")
    _clean_text(out.stderr, secret, "headless stderr")
    assert "looks secret" in out.stderr  # the config secret reaches a command line: warned
    [run] = list((tmp_path / "runs").iterdir())
    _scan_run_dir(run, secret)
    report = json.loads((run / "report.json").read_text())
    odd = report["arms"]["a"]["runs"][0]["oddities"]
    assert odd["series_capped"] > 0 and odd["bad_key"] >= 2, odd
    assert len(report["charts"]["loss"]) <= 2
    other = sorted((tmp_path / "runs").iterdir())
    diff = _abtui("diff", str(run), str(run.parent / "missing"), cwd=tmp_path)
    assert "Traceback" not in diff.stderr
    del other
    return run


def test_hostile_arm_on_the_local_backend(tmp_path: Path) -> None:
    secret = "s3cr3t-" + secrets.token_hex(12)
    out = _abtui("run", str(_spec(tmp_path, secret, "local")), "--headless", "--runs-dir",
                 str(tmp_path / "runs"), cwd=tmp_path)
    run = _check_run(tmp_path, out, secret)
    again = _abtui("run", str(_spec(tmp_path, secret, "local")), "--headless", "--runs-dir",
                   str(tmp_path / "runs"), cwd=tmp_path)
    second = next(p for p in (tmp_path / "runs").iterdir() if p != run)
    diff = _abtui("diff", str(run), str(second), cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr
    _clean_text(diff.stdout, secret, "abtui diff")
    rep = _abtui("report", str(run), cwd=tmp_path)
    _clean_text(rep.stdout + rep.stderr, secret, "abtui report")
    assert again.returncode in (0, 1)
    for path in run.rglob("*"):  # owner-only run directory (what the arm writes into its own
        if "out" in path.relative_to(run).parts[2:3] and path.name != "out":
            continue  # out dir keeps the arm's own modes; the dir itself is 0700
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_hostile_arm_never_drives_the_real_terminal(tmp_path: Path) -> None:
    """The real console in a real tmux pane, its raw output bytes captured (pipe-pane)."""
    secret = "s3cr3t-" + secrets.token_hex(12)
    spec = _spec(tmp_path, secret, "local")
    raw = tmp_path / "pane.raw"
    session = f"hostile-{os.getpid()}"
    cmd = (f"cd {tmp_path} && {sys.executable} -m abtui run {spec} --runs-dir {tmp_path}/runs"
           f" --keep; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   check=True)
    try:
        subprocess.run(["tmux", "pipe-pane", "-o", "-t", session, f"cat >> {raw}"], check=True)
        deadline = time.time() + 90
        screen = ""
        while time.time() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if "arm has ended" in screen.lower():
                break
            time.sleep(0.5)
        assert "arm has ended" in screen.lower(), screen
        title = subprocess.run(["tmux", "display-message", "-p", "-t", session, "#{pane_title}"],
                               capture_output=True, text=True).stdout
        assert "pwned" not in title
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=False)
        time.sleep(1.0)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    data = raw.read_bytes()
    assert b"\x1b]52;" not in data and b"\x9d52;" not in data  # no clipboard write
    assert b"\x1b]0;pwned" not in data and b"pwned-title" not in data  # no title
    assert secret.encode() not in data
    assert secret not in screen


@pytest.mark.docker
def test_hostile_arm_on_docker(tmp_path: Path, docker_client, docker_images) -> None:
    secret = "s3cr3t-" + secrets.token_hex(12)
    out = _abtui("run", str(_spec(tmp_path, secret, "docker")), "--headless", "--runs-dir",
                 str(tmp_path / "runs"), "--keep", cwd=tmp_path)
    run = _check_run(tmp_path, out, secret)
    manifest = json.loads((run / "manifest.json").read_text())
    for run_id, entry in manifest["runs"].items():
        info = docker_client.api.inspect_container(entry["ref"]["container_id"])
        hc, cfg = info["HostConfig"], info["Config"]
        assert cfg["User"] and not cfg["User"].startswith("0"), cfg["User"]
        assert hc["CapDrop"] == ["ALL"] and hc["ReadonlyRootfs"] and hc["PidsLimit"]
        assert hc["Memory"] > 0 and hc["NetworkMode"] == "none"
        log = (run / "arms" / run_id / "events.jsonl").read_text()
        assert "cannot write /escape.txt" in log and "wrote /" not in log
        assert (run / "arms" / run_id / "out" / "ok.txt").read_text() == "inside\n"
        docker_client.api.remove_container(entry["ref"]["container_id"], force=True)
    assert not list(tmp_path.glob("**/escape.txt"))
