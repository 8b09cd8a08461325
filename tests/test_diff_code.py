"""Code findings against a real git repository with real commits."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from abtui.diff import fairness, find_differences, render_findings
from abtui.diff.code import commit_diff
from abtui.reporter import git_state
from abtui.spec import ExperimentSpec, resolve_runs

TRAIN_V1 = '''import torchvision.transforms as transforms

def make_transform():
    return transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.5,), (0.5,)),
    ])
'''


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "commit.gpgsign=false", *args],
                          capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


@pytest.fixture
def two_commits(tmp_path: Path) -> tuple[Path, str, str]:
    """A repo whose second commit drops the Normalize line (and edits a non-code file)."""
    repo = tmp_path / "runner"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text(TRAIN_V1)
    (repo / "README.md").write_text("v1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text(TRAIN_V1.replace("        transforms.Normalize((0.5,), (0.5,)),\n", ""))
    (repo / "README.md").write_text("v2: SECRET README CHANGE\n")
    git(repo, "commit", "-q", "-am", "drop normalisation")
    second = git(repo, "rev-parse", "HEAD")
    return repo, first, second


def experiment() -> tuple[ExperimentSpec, dict[str, Any]]:
    spec = ExperimentSpec.model_validate({
        "name": "code", "steps": 10, "treatment": ["lr"], "config": {"model": "mlp"},
        "arms": {"A": {"config": {"lr": 0.1}}, "B": {"config": {"lr": 0.01}}}})
    manifest = {"runs": {r.run_id: {"arm": r.arm, "replicate": r.replicate, "seed": r.seed,
                                    "config": r.config, "env": {}, "image": None}
                         for r in resolve_runs(spec)}}
    return spec, manifest


def env(config: dict[str, Any], git_info: dict[str, Any] | None) -> dict[str, Any]:
    return {"event": "env", "python": "3.11.9", "seed": 0, "config": config, "git": git_info}


def test_different_commits_show_the_actual_code_diff(two_commits: tuple[Path, str, str]) -> None:
    repo, first, second = two_commits
    spec, manifest = experiment()
    envs = {"A": env({"lr": 0.1}, {"commit": first, "dirty": False, "root": str(repo)}),
            "B": env({"lr": 0.01}, {"commit": second, "dirty": False, "root": str(repo)})}
    findings = find_differences(manifest, envs, spec)
    [code] = [f for f in findings if f.key == "code.commit"]
    assert code.is_confound and code.category == "code"
    assert code.message.startswith(f"the runner code differs: A ran commit '{first[:12]}', "
                                   f"B ran '{second[:12]}' (1 file changed, 1 deletion(-))")
    assert "-        transforms.Normalize((0.5,), (0.5,))," in code.detail
    assert "train.py | 1 -" in code.detail  # the --stat summary comes first
    assert "README" not in code.detail  # only code paths
    assert not fairness(findings).fair
    assert "transforms.Normalize" in render_findings(findings)


def test_commits_that_differ_only_outside_code_are_a_note(two_commits: tuple[Path, str, str]) -> None:
    repo, first, _ = two_commits
    (repo / "README.md").write_text("v3\n")
    git(repo, "commit", "-q", "-am", "docs only")
    third = git(repo, "rev-parse", "HEAD")
    found = commit_diff(str(repo), first, third)
    assert found is not None and "Normalize" in found[2]  # first..third still drops it
    second = git(repo, "rev-parse", "HEAD~1")
    spec, manifest = experiment()
    envs = {"A": env({"lr": 0.1}, {"commit": second, "dirty": False, "root": str(repo)}),
            "B": env({"lr": 0.01}, {"commit": third, "dirty": False, "root": str(repo)})}
    [code] = [f for f in find_differences(manifest, envs, spec) if f.key == "code.commit"]
    assert code.severity == "info" and not code.is_confound
    assert code.message.endswith("but no code file differs between the two commits")


def test_repository_missing_here_says_so(two_commits: tuple[Path, str, str], tmp_path: Path) -> None:
    _, first, second = two_commits
    spec, manifest = experiment()
    gone = str(tmp_path / "elsewhere")
    envs = {"A": env({"lr": 0.1}, {"commit": first, "dirty": False, "root": gone}),
            "B": env({"lr": 0.01}, {"commit": second, "dirty": False, "root": gone})}
    [code] = [f for f in find_differences(manifest, envs, spec) if f.key == "code.commit"]
    assert code.is_confound and code.detail is None
    assert "is not available here with both commits" in code.message


def test_dirty_working_tree_in_one_arm_is_a_confound(two_commits: tuple[Path, str, str]) -> None:
    repo, _, second = two_commits
    clean = git_state(str(repo))  # the reporter's own reading of the repository
    (repo / "train.py").write_text(TRAIN_V1 + "# local hack\n")
    dirty = git_state(str(repo))
    assert clean and dirty and clean["commit"] == dirty["commit"] == second and dirty["dirty"]
    spec, manifest = experiment()
    envs = {"A": env({"lr": 0.1}, clean), "B": env({"lr": 0.01}, dirty)}
    findings = find_differences(manifest, envs, spec)
    assert [f.key for f in findings if f.category == "code"] == ["code.dirty"]
    [d] = [f for f in findings if f.key == "code.dirty"]
    assert d.is_confound and d.message == "B ran with uncommitted changes to its code and A did not"


def test_commit_strings_from_a_run_dir_never_become_git_options(
        two_commits: tuple[Path, str, str], tmp_path: Path) -> None:
    repo, first, _ = two_commits
    target = tmp_path / "written"
    assert commit_diff(str(repo), first, f"--output={target}") is None
    assert not target.exists()
