"""Run directories written by earlier versions still read, every file of them.

``tests/fixtures/rundirs/<commit>/`` are real run directories, each written by abtui at
that commit (the end of the first wave, the end of the second, the version before the
typed conclusion and telemetry's ``arm`` -> ``run`` rename), by the same two-arm,
two-replicate spec of ``fake_runner.py`` (provenance in the folder's README). Read here
as a user would: ``abtui report`` on a copy, the console's attach, and the report.json that
version wrote rendered by today's renderers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from abtui.compare.run_metrics import RunMetrics
from abtui.diff.fairness import Fairness
from abtui.report.html import render_html
from abtui.report.markdown import render_markdown
from abtui.report.summary import render_summary

FIXTURES = Path(__file__).parent / "fixtures" / "rundirs"
VERSIONS = ["9f8f9bb", "c3beca5", "17c29d2"]  # oldest first


@pytest.fixture(params=VERSIONS)
def old_run(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / request.param
    shutil.copytree(FIXTURES / request.param, root)
    for path in [root, *root.rglob("*")]:  # as the version left them (a clone makes 0644)
        path.chmod(0o700 if path.is_dir() else 0o600)
    return root


def test_abtui_report_reads_an_earlier_versions_run_directory(old_run: Path) -> None:
    written = json.loads((old_run / "report.json").read_text())
    exits = {p: p.read_bytes() for p in old_run.glob("arms/*/exit.json")}
    done = subprocess.run([sys.executable, "-m", "abtui", "report", str(old_run)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # how each run ended is written once: the copy's exit markers are not where its
    # manifest says (it was made elsewhere), and that must not turn finished runs into
    # "exit status unknown" (a report did, once the folder it was made in was gone)
    assert exits and all(p.read_bytes() == b for p, b in exits.items())
    assert "Traceback" not in done.stderr
    report = json.loads((old_run / "report.json").read_text())
    assert report["generated"] != written["generated"]  # written again, by this version
    assert set(report["arms"]) == {"a", "b"}
    for arm in ("a", "b"):
        runs = report["arms"][arm]["runs"]
        assert [r["status"] for r in runs] == ["done", "done"]
        assert list(runs[0]) == list(RunMetrics.__struct_fields__)
    [comp] = report["comparisons"]
    # the arms' throughput was 100 and 104 samples/s: the same answer the version gave
    old_tp = written["comparisons"][0]["metrics"]["throughput_ratio"]["value"]
    tp = comp["metrics"]["throughput_ratio"]["value"]
    assert tp == pytest.approx(1.04, abs=0.02) and tp == pytest.approx(old_tp, rel=0.01)
    assert (old_run / "report.md").is_file() and (old_run / "report.html").is_file()


def test_the_report_an_earlier_version_wrote_renders_today(old_run: Path) -> None:
    written = json.loads((old_run / "report.json").read_text())
    fair = Fairness.read(written["fairness"])
    assert fair.state == (written["fairness"].get("state") or
                          ("fair" if written["fairness"]["fair"] else "confounded"))
    runs = [RunMetrics.read(r) for r in written["arms"]["a"]["runs"]]
    assert [r.run_id for r in runs] == ["a.r0", "a.r1"]
    assert all(r.final_loss_smoothed and r.final_loss_smoothed > 0 for r in runs)
    md = render_markdown(written)
    assert "## Runs" in md and "a.r0" in md and "b.r1" in md
    assert "<h2>Runs</h2>" in render_html(written)
    assert "verdict:" in render_summary(written)


def test_an_earlier_versions_telemetry_is_read_in_todays_format(old_run: Path) -> None:
    from abtui.experiment import Experiment

    raw = [json.loads(line) for line in (old_run / "telemetry.jsonl").read_text().splitlines()]
    assert any("arms" in s for s in raw) and not any("v" in s for s in raw)  # version 1
    exp = Experiment.attach(old_run, follow=False)
    samples = list(exp.store.telemetry)
    assert samples and all(s["v"] == 2 and "arms" not in s for s in samples)
    assert {"a.r0", "b.r0"} <= {run for s in samples for run in s["runs"]}
    assert sorted(exp.store.runs) == ["a.r0", "a.r1", "b.r0", "b.r1"]


@pytest.mark.parametrize(("where", "value", "path"), [
    (("runs", "a.r0", "replicate"), "zero", "runs[...].replicate"),
    (("runs", "a.r0", "seed"), "s", "runs[...].seed"),
    (("runs", "a.r0", "command"), "rm -rf /", "runs[...].command"),
    (("created_at",), "yesterday", "created_at"),
])
def test_a_crafted_manifest_is_refused_in_words(tmp_path: Path, where: tuple[str, ...],
                                                value: object, path: str) -> None:
    """A manifest with a key of the wrong type (someone else's run directory) is refused
    where it is read, naming the key: exit 2, not an internal error from deep inside."""
    root = tmp_path / "runs" / "crafted"
    shutil.copytree(FIXTURES / VERSIONS[-1], root)
    for p in [tmp_path / "runs", root, *root.rglob("*")]:
        p.chmod(0o700 if p.is_dir() else 0o600)
    manifest = json.loads((root / "manifest.json").read_text())
    node = manifest
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    (root / "manifest.json").write_text(json.dumps(manifest))
    for command in (["report", str(root)], ["attach", str(root), "--headless"]):
        out = subprocess.run([sys.executable, "-m", "abtui", *command], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2, out.stderr
        assert "not a manifest abtui wrote" in out.stderr and path in out.stderr, out.stderr
        assert "internal error" not in out.stderr and "Traceback" not in out.stderr
    listed = subprocess.run([sys.executable, "-m", "abtui", "ls", "--runs-dir",
                             str(tmp_path / "runs")], capture_output=True, text=True, timeout=60)
    assert "crafted" in listed.stdout and "unreadable manifest" in listed.stdout
