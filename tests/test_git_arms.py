"""Arms from git refs: each arm runs its commit's code in its own read-only worktree, the
code difference is the treatment, and a dirty tree or an unknown ref is a clear error."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from abtui.spec import parse_spec

SCRIPT = """import json, time
OFFSET = {offset}
for s in range(1, 31):
    print(json.dumps({{"step": s, "loss": 1.0 / s + OFFSET, "throughput_samples_per_sec": 100.0}}),
          flush=True)
    time.sleep(0.01)
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main prints loss 1/s; branch ``fix`` adds 0.5 to it (the change under test)."""
    r = tmp_path / "repo"
    (r / "src").mkdir(parents=True)
    _git(r, "init", "-q", "-b", "main")
    (r / "src" / "train.py").write_text(SCRIPT.format(offset=0.0))
    _git(r, "add", ".")
    _git(r, "commit", "-qm", "base")
    _git(r, "checkout", "-qb", "fix")
    (r / "src" / "train.py").write_text(SCRIPT.format(offset=0.5))
    _git(r, "commit", "-qam", "fix")
    _git(r, "checkout", "-q", "main")
    return r


def _ab(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abtui", "ab", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_ab_git_runs_each_ref_in_its_worktree_and_the_code_is_the_treatment(repo: Path,
                                                                             tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = _ab(repo / "src", "--git", "main", "--git", "fix", "--headless", "--runs-dir", str(runs),
              "--", "python", "train.py")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    [run] = list(runs.iterdir())
    report = json.loads((run / "report.json").read_text())
    loss = {arm: report["arms"][arm]["runs"][0]["final_loss_raw"] for arm in ("main", "fix")}
    assert loss["fix"] - loss["main"] == pytest.approx(0.5)  # each arm ran its own commit
    [code] = [f for f in report["findings"] if f["category"] == "code"]
    assert code["key"] == "code.commit" and code["intended"] and "1 insertion" in code["message"]
    states = {c["category"]: c["state"] for c in report["fairness"]["checked_categories"]}
    assert states["code"] == "treatment" and report["fairness"]["state"] == "fair"
    manifest = json.loads((run / "manifest.json").read_text())
    cwd = Path(manifest["runs"]["fix"]["code"]["cwd"])
    assert cwd == run / "worktrees" / "fix" / "src"  # the workdir's place in the worktree
    assert not stat.S_IMODE((cwd / "train.py").stat().st_mode) & 0o222  # read-only
    assert "verdict: fix vs main" in out.stdout


def test_a_dirty_tree_and_an_unknown_ref_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (repo / "src" / "train.py").write_text(SCRIPT.format(offset=9.0))  # uncommitted
    dirty = _ab(repo / "src", "--git", "main", "--git", "fix", "--headless", "--runs-dir",
                str(runs), "--", "python", "train.py")
    assert dirty.returncode == 2 and "uncommitted changes" in dirty.stderr
    assert "Traceback" not in dirty.stderr and not runs.exists()
    _git(repo, "checkout", "-q", "--", ".")
    unknown = _ab(repo / "src", "--git", "main", "--git", "no-such-branch", "--headless",
                  "--runs-dir", str(runs), "--", "python", "train.py")
    assert unknown.returncode == 2 and "'no-such-branch' is not a commit" in unknown.stderr
    assert not runs.exists()


def test_the_spec_refuses_code_refs_on_some_arms_only_and_on_docker() -> None:
    base = "name: x\ncommand: [python, t.py]\nargs: template\n"
    with pytest.raises(Exception, match="every arm or on none"):
        parse_spec(base + "arms:\n  a: {code: {git: main}}\n  b: {}\n")
    with pytest.raises(Exception, match="local or slurm backend .*the docker backend does not take them"):
        parse_spec(base + "backend: docker\nimage: x\narms:\n  a: {code: {git: main}}\n"
                   "  b: {code: {git: dev}}\n")
    with pytest.raises(Exception, match="not a git ref"):
        parse_spec(base + "arms:\n  a: {code: {git: --upload-pack=x}}\n  b: {code: {git: dev}}\n")
    spec = parse_spec(base + "arms:\n  a: {code: {git: main}}\n  b: {code: {git: dev}}\n")
    assert spec.treatment == ["code"]
