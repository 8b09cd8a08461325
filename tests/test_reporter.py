"""abtui.reporter: the stdlib logger training scripts call to speak the protocol."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from abtui import reporter
from abtui.reporter import Reporter


@pytest.fixture(autouse=True)
def _no_numerics(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the records a call writes. The numerics event the first
    log() adds when torch is loaded (tested with the numerics findings) depends on whether another
    test imported torch into this process: left out here."""
    monkeypatch.setattr(reporter, "numerics", lambda: None)

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "abtui" / "protocol.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


class RecordingStream:
    """A stream that remembers each write and whether a flush followed it."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.flushed_after: list[bool] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        self.flushed_after.append(False)
        return len(text)

    def flush(self) -> None:
        if self.flushed_after:
            self.flushed_after[-1] = True


def records(stream: RecordingStream) -> list[dict]:
    return [json.loads(w) for w in stream.writes]


def test_each_call_writes_one_flushed_line() -> None:
    out = RecordingStream()
    rep = Reporter(out, rank=0)
    rep.log(1, loss=2.3)
    rep.event("checkpoint", path="ckpt.pt")
    rep.final(steps=1, wall_time_s=0.5)
    assert len(out.writes) == 3
    assert all(w.endswith("\n") and w.count("\n") == 1 for w in out.writes)
    assert out.flushed_after == [True, True, True]
    metric, checkpoint, final = records(out)
    assert metric["step"] == 1 and metric["loss"] == 2.3
    assert checkpoint["event"] == "checkpoint" and checkpoint["path"] == "ckpt.pt"
    assert final["event"] == "final" and final["steps"] == 1
    for record in (metric, checkpoint, final):
        VALIDATOR.validate(record)


def test_non_finite_metrics_become_null_and_the_line_stays_json() -> None:
    out = io.StringIO()
    rep = Reporter(out, rank=0)
    rep.log(7, loss=float("nan"), grad_norm=float("inf"), lr=-float("inf"), accuracy=0.5)
    rep.final(final_loss=float("nan"), nested={"x": [float("inf"), 1.0]})
    line, final_line = out.getvalue().splitlines()
    assert "NaN" not in line and "Infinity" not in line
    record = json.loads(line)
    assert record == {**record, "loss": None, "grad_norm": None, "lr": None, "accuracy": 0.5}
    VALIDATOR.validate(record)
    final = json.loads(final_line)
    assert final["final_loss"] is None and final["nested"] == {"x": [None, 1.0]}


def test_number_like_metrics_are_converted_and_strings_refused() -> None:
    class Scalar:  # what numpy scalars and 0-d tensors look like to the reporter
        def __float__(self) -> float:
            return 0.25

    out = io.StringIO()
    rep = Reporter(out, rank=0)
    rep.log(3, accuracy=Scalar(), correct=12, converged=True)
    record = json.loads(out.getvalue())
    assert record["accuracy"] == 0.25 and record["correct"] == 12 and record["converged"] == 1.0
    VALIDATOR.validate(record)
    with pytest.raises(TypeError, match="metric values must be numbers.*'fast'"):
        rep.log(4, phase="fast")


def test_timestamp_is_utc_iso_and_formatted_once_per_second() -> None:
    now = [1_743_849_022.2]  # 2025-04-05T10:30:22Z
    rep = Reporter(io.StringIO(), rank=0, clock=lambda: now[0])
    first = rep._timestamp()
    now[0] += 0.5
    assert rep._timestamp() is first  # cached within the second
    now[0] += 1.0
    assert first == "2025-04-05T10:30:22Z"
    assert rep._timestamp() == "2025-04-05T10:30:23Z"


def test_only_rank_zero_writes_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setenv("RANK", "3")
    Reporter(out).log(1, loss=1.0)
    assert out.getvalue() == ""
    Reporter(out, all_ranks=True).log(1, loss=1.0)
    assert json.loads(out.getvalue())["loss"] == 1.0
    monkeypatch.delenv("RANK")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert Reporter(out).enabled


def test_a_closed_reader_silences_the_reporter_instead_of_killing_training() -> None:
    class BrokenPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError

        def flush(self) -> None:
            pass

    rep = Reporter(BrokenPipe(), rank=0)
    rep.log(1, loss=1.0)  # must not raise
    rep.log(2, loss=1.0)
    assert not rep.enabled


def test_default_stream_is_the_current_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    reporter.log(5, loss=1.5)
    assert json.loads(capsys.readouterr().out)["loss"] == 1.5


def test_secret_looking_env_vars_are_masked() -> None:
    environ = {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "NCCL_SOCKET_IFNAME": "eth0",
        "TORCH_HUB_TOKEN": "hunter2",
        "NCCL_IB_SECRET_KEY": "s3cr3t",
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "AWS_SECRET_ACCESS_KEY": "not-selected",
        "HOME": "/root",
    }
    picked = reporter.relevant_env(environ)
    assert picked == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "NCCL_IB_SECRET_KEY": "***",
        "NCCL_SOCKET_IFNAME": "eth0",
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "TORCH_HUB_TOKEN": "***",
    }
    assert reporter.mask_env({"MY_PASSWORD": "x", "DB_Credential": "y"}) == {
        "MY_PASSWORD": "***",
        "DB_Credential": "***",
    }


def test_env_record_is_complete_valid_and_hashes_the_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NCCL_PRIVATE_TOKEN", "hunter2")
    out = io.StringIO()
    config = {"optimizer": "adam", "lr": 0.002, "batch_size": 64}
    returned = Reporter(out, rank=0).env(config=config, seed=7, data={"name": "digits"})
    record = json.loads(out.getvalue())
    VALIDATOR.validate(record)
    assert record["event"] == "env" and record["seed"] == 7 and record["config"] == config
    expected = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert record["config_hash"] == hashlib.sha256(expected.encode()).hexdigest()[:16]
    from abtui.spec.resolve import config_hash  # the spec layer must agree with the runner

    assert record["config_hash"] == config_hash(config)
    assert record["env_vars"]["NCCL_PRIVATE_TOKEN"] == "***" and "hunter2" not in out.getvalue()
    assert record["packages"]["pytest"] == pytest.__version__
    assert re.fullmatch(r"[0-9a-f]{16}", record["packages_hash"])
    assert record["python"] == ".".join(map(str, sys.version_info[:3]))
    assert returned["config_hash"] == record["config_hash"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def test_git_state_follows_commits_and_edits(tmp_path: Path) -> None:
    assert reporter.git_state(str(tmp_path)) is None  # not a repository
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    script = tmp_path / "train.py"
    script.write_text("print('v1')\n")
    git(tmp_path, "add", "train.py")
    git(tmp_path, "commit", "-qm", "v1")
    clean = reporter.git_state(str(tmp_path))
    assert clean is not None and clean["dirty"] is False and len(clean["commit"]) == 40
    assert Path(clean["root"]).resolve() == tmp_path.resolve()
    script.write_text("print('v2')\n")
    dirty = reporter.git_state(str(tmp_path))
    assert dirty is not None and dirty["dirty"] is True and dirty["commit"] == clean["commit"]
    assert re.fullmatch(r"[0-9a-f]{16}", dirty["diff_hash"])
    VALIDATOR.validate({"event": "env", "git": dirty})


def test_reporter_file_works_alone_with_the_standard_library_only(tmp_path: Path) -> None:
    # Copied next to a script, run without site-packages: no torch, no abtui, no third party.
    (tmp_path / "reporter.py").write_bytes((REPO / "abtui" / "reporter.py").read_bytes())
    code = (
        "import sys, reporter\n"
        "reporter.env(config={'lr': 0.1}, seed=1)\n"
        "reporter.log(1, loss=float('nan'))\n"
        "reporter.final(steps=1)\n"
        "third = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names"
        " and m not in ('reporter', '__main__'))\n"
        "print(third, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stderr.strip() == "[]"
    env, metric, final = (json.loads(line) for line in done.stdout.splitlines())
    assert env["torch"] is None and env["gpus"] == [] and metric["loss"] is None
    for record in (env, metric, final):
        VALIDATOR.validate(record)


def test_log_costs_microseconds() -> None:
    class Null:
        def write(self, text: str) -> int:
            return 0

        def flush(self) -> None:
            pass

    rep = Reporter(Null(), rank=0)
    calls = 20_000
    start = time.perf_counter()
    for step in range(calls):
        rep.log(step, loss=2.15, accuracy=0.67, throughput_samples_per_sec=289.0, lr=1e-3)
    per_call_us = (time.perf_counter() - start) / calls * 1e6
    # ~7 us here; 1 % of even a 10 ms step is 100 us
    assert per_call_us < 100, per_call_us


def test_schema_is_valid_and_rejects_what_the_protocol_forbids() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    bad = [
        {"loss": 1.0},  # no step
        {"step": 1.5, "loss": 1.0},  # step not an integer
        {"step": 1, "loss": "1.0"},  # metric as a string
        {"step": 1, "config": {"lr": 1}},  # non-numeric field in a metric record
        {"event": "final", "steps": -1},
        {"event": "env", "config_hash": "xyz"},
    ]
    for record in bad:
        assert not VALIDATOR.is_valid(record), record
    VALIDATOR.validate({"event": "eval", "step": 100, "note": "plain event"})


def test_reporter_masks_every_name_abtui_secrets_masks() -> None:
    from abtui import reporter
    from abtui.infra.secrets import is_secret_name

    names = ["HF_TOKEN", "WANDB_API_KEY", "DB_PASSWORD", "MYSQL_PWD", "AWS_SECRET_ACCESS_KEY",
             "GIT_CREDENTIALS", "SESSION_COOKIE", "SSH_PRIVATE", "BASIC_AUTH", "PLAIN"]
    masked = reporter.mask_env({n: "v" for n in names})
    assert {n for n, v in masked.items() if v == "***"} == {n for n in names if is_secret_name(n)}


def test_the_reporter_masks_the_names_abtui_masks() -> None:
    """reporter.py is stdlib-only and copied into images: its rule must stay abtui's."""
    from abtui import reporter
    from abtui.infra import secrets

    names = ["WANDB_API_KEY", "HF_TOKEN", "DB_PASS", "GH_PAT", "DB_CONNECTION_STRING", "dbPass",
             "PATH", "BYPASS", "OMP_NUM_THREADS", "MASTER_PORT", "NCCL_DEBUG", "AUTHOR", "PG_DSN",
             "SESSION_ID", "my-conn", "COMPASS", "PW"]
    assert [reporter.is_secret_name(n) for n in names] == [secrets.is_secret_name(n) for n in names]
    assert reporter.mask_env({"GH_PAT": "x", "PATH": "/bin"}) == {"GH_PAT": "***", "PATH": "/bin"}


def test_the_env_record_masks_secret_shapes_as_the_monitor_does() -> None:
    """The reporter is stdlib-only, so it keeps its own copy of the secret shapes: the copy
    must mask what ``abtui.infra.secrets`` masks, under names that do not look secret."""
    from abtui import reporter
    from abtui.infra import secrets

    assert [(p.pattern, r) for p, r in reporter.SHAPES] == [
        (p.pattern, r) for p, r in secrets._SHAPES]
    env = {"TORCH_HOME": "https://me:hunter2hunter@cache.example/t",
           "NCCL_DEBUG_FILE": "hf_abcdefghijklmnop", "PYTORCH_X": "Server=db;Pwd=s3cr3t;",
           "CUDA_VISIBLE_DEVICES": "0,1", "NCCL_IB_KEY": "plain"}
    masked = reporter.relevant_env(env)
    text = json.dumps(masked)
    for secret in ("hunter2hunter", "abcdefghijklmnop", "s3cr3t", "plain"):
        assert secret not in text, masked
    assert masked["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert masked == {k: secrets.redact(v) if k != "NCCL_IB_KEY" else "***"
                      for k, v in sorted(env.items())}
