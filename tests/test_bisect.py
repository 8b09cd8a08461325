"""``abtui bisect`` and ``abtui ab --bisect-exit`` on a real repository of 12 commits.

The training script (``tests/fixtures/bisect/train.py``, numpy only: a logistic regression on
inputs of very different scales, printing abtui's protocol) starts good; commit 3 makes it
crash and commit 4 fixes that; commit 5 removes the input scaling (accuracy drops by about
17 points); commit 9 adds a stall to every step (about 30 % slower). Every other commit
changes a comment."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abtui.report.regression import BAD, GOOD, SKIP, Regression, judge

REPO = Path(__file__).resolve().parent.parent
SCRIPT = (REPO / "tests/fixtures/bisect/train.py").read_text()
CMD = [sys.executable, "-u", "train.py", "--seed", "{seed}", "--steps", "400"]


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env, timeout=60).stdout.strip()


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, list[str]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    text = SCRIPT
    shas = []
    for i in range(13):
        if i == 3:
            text = text.replace("w = np.zeros(8)", "w = np.zeros(8)\nraise SystemExit(2)")
        if i == 4:
            text = text.replace("w = np.zeros(8)\nraise SystemExit(2)", "w = np.zeros(8)")
        if i == 5:
            text = text.replace("SCALE_INPUTS = True", "SCALE_INPUTS = False")
        if i == 9:
            text = text.replace("STALL_S = 0.0", "STALL_S = 0.0003")
        (repo / "train.py").write_text(text + f"# revision {i}\n")
        _git(repo, "add", "train.py")
        _git(repo, "commit", "-q", "-m", f"change {i}" + {3: ": refactor the loop",
                                                         5: ": drop the input scaling",
                                                         9: ": log more often"}.get(i, ""))
        shas.append(_git(repo, "rev-parse", "HEAD"))
    return repo, shas


def _bisect(repo: Path, runs: Path, *args: str, steps: int = 400
            ) -> subprocess.CompletedProcess[str]:
    cmd = [w if w != "400" else str(steps) for w in CMD]
    return subprocess.run([sys.executable, "-m", "abtui", "bisect", "--repo", str(repo),
                           "--runs-dir", str(runs), *args, "--", *cmd], text=True,
                          capture_output=True, timeout=1500, cwd=repo.parent)


@pytest.mark.slow
def test_bisect_finds_the_accuracy_drop_and_skips_the_crash(history, tmp_path: Path) -> None:
    repo, shas = history
    out = _bisect(repo, tmp_path / "runs-acc", "--good", shas[0], "--bad", shas[12],
                  "--metric", "accuracy", "--worse-by", "5pp")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"first bad commit {shas[5][:10]} change 5: drop the input scaling" in out.stdout
    [folder] = list((tmp_path / "runs-acc").glob("bisect-*"))
    record = json.loads((folder / "bisect.json").read_text())
    assert record["first_bad"] == shas[5]
    counted = [s for s in record["steps"] if s["verdict"] in (GOOD, BAD)]
    assert counted and all("confounded" not in s["why"] for s in counted)
    for s in record["steps"]:  # every step's run directory and its verdict are kept
        assert (Path(s["run_dir"]) / "report.json").exists() and s["summary"]
    crashed = [s for s in record["steps"] if s["commit"] == shas[3]]
    assert all(s["verdict"] == SKIP and "did not finish" in s["why"] for s in crashed)
    page = (folder / "bisect.md").read_text()
    assert "## First bad commit" in page and "drop the input scaling" in page
    assert re.search(r"^good [.+x?] .*\[x\]", page, re.M), page  # the commits as marks
    assert "train.py" in page  # what the first bad commit changed (git show --stat)
    print(f"accuracy bisect: {len(record['steps'])} steps, "
          f"{sum(len(json.loads((Path(s['run_dir']) / 'manifest.json').read_text())['runs']) for s in record['steps'])} runs")



@pytest.mark.slow
def test_bisect_finds_the_slowdown(history, tmp_path: Path) -> None:
    repo, shas = history
    # throughput wants runs of seconds: start-up jitter is then small beside the steady state
    out = _bisect(repo, tmp_path / "runs-tp", "--good", shas[5], "--bad", shas[12],
                  "--metric", "throughput", "--worse-by", "30%", steps=3000)
    # at the default --max-replicates (12): with 8, a CI run left two good commits "not
    # decided" (intervals of +-12 %; +-21 % at 12), so 30 % counts: the planted stall costs
    # about 63 %. The slow
    # commit's runs end alone after the good one's: that confound is not held against a
    # slowdown measured despite it (a CI run and a run here skipped the bad commit twice;
    # later a CI run skipped it twice when the sequential design stopped at 3 runs with an
    # interval reaching under 30 %: the usual rule for "bad" now applies to it)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"first bad commit {shas[9][:10]} change 9: log more often" in out.stdout
    [folder] = list((tmp_path / "runs-tp").glob("bisect-*"))
    record = json.loads((folder / "bisect.json").read_text())
    print("throughput bisect:", [(s["commit"][:8], s["verdict"], s["why"][:80])
                                 for s in record["steps"]])


@pytest.mark.slow
def test_bisect_exit_codes_under_a_real_git_bisect_run(history, tmp_path: Path) -> None:
    repo, shas = history
    runs = tmp_path / "runs"
    _git(repo, "bisect", "start", shas[12], shas[0])
    run = subprocess.run(
        ["git", "-C", str(repo), "bisect", "run", sys.executable, "-m", "abtui", "ab",
         "--git", shas[0], "--git", "HEAD", "--replicates", "3", "--bisect-exit",
         "--metric", "accuracy", "--worse-by", "5pp", "--runs-dir", str(runs),
         # runs of seconds: a one-shot step whose arms' start jitter made one run alone for
         # much of its steady state was skipped as confounded (exit 125), leaving git only
         # skipped commits at the boundary
         "--", " ".join(CMD).replace("400", "2000")], capture_output=True, text=True,
        timeout=1500, cwd=repo)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"{shas[5]} is the first bad commit" in run.stdout, run.stdout[-3000:]
    _git(repo, "bisect", "reset")


def _report(metric: dict, failed: list[str] | None = None, state: str = "fair") -> dict:
    return {"failed_runs": failed or [], "fairness": {"state": state, "reasons": ["busy host"]},
            "comparisons": [{"metrics": {"accuracy_delta": {
                "calibrated": True, "kind": "delta", "higher_is_better": True, **metric}}}]}


def test_the_judgement_of_one_step() -> None:
    rule = Regression.parse("accuracy", "5pp")
    assert rule.threshold == pytest.approx(0.05)
    assert judge(_report({"value": -0.17, "ci": [-0.2, -0.14]}), rule).verdict == BAD
    assert judge(_report({"value": -0.005, "ci": [-0.02, 0.01]}), rule).verdict == GOOD
    unknown = judge(_report({"value": -0.04, "ci": [-0.09, 0.01]}), rule)
    assert unknown.verdict == SKIP and "not decided" in unknown.why
    crash = judge(_report({"value": -0.17, "ci": [-0.2, -0.14]}, failed=["c.r0"]), rule)
    assert crash.verdict == SKIP and crash.exit_code == 125
    busy = judge(_report({"value": -0.17, "ci": [-0.2, -0.14]}, state="confounded"), rule)
    assert busy.verdict == SKIP and busy.confounded and "confounded" in busy.why  # not counted
    # host load only changes how fast runs went: an accuracy step is still judged on it...
    loaded = _report({"value": -0.17, "ci": [-0.2, -0.14]}, state="confounded")
    loaded["fairness"]["confounds"] = [{"key": "host.foreign_cpu", "category": "host",
                                        "severity": "warning", "message": "busy host"}]
    assert judge(loaded, rule).verdict == BAD
    # ...and a throughput step is not
    loaded["comparisons"][0]["metrics"]["throughput_ratio"] = {
        "calibrated": True, "kind": "ratio", "higher_is_better": True, "value": 0.7,
        "ci": [0.6, 0.8]}
    assert judge(loaded, Regression.parse("throughput", "10%")).confounded
    tp = Regression.parse("throughput", "10%")
    slow = {"failed_runs": [], "fairness": {"state": "fair"}, "comparisons": [{"metrics": {
        "throughput_ratio": {"calibrated": True, "kind": "ratio", "higher_is_better": True,
                             "value": 0.7, "ci": [0.65, 0.75]}}}]}
    assert judge(slow, tp).verdict == BAD
    # the candidate had the host to itself for part of the time: that can only make it look
    # faster, so a slowdown shown despite it is bad by the usual rule (here the interval ends
    # short of the 30 % that counts: a sequential stop at 3 runs), and a speed-up is skipped
    alone = "c.r2 ran alone for 81 % of its steady state after good.r2 finished (good.r2: 0 %)"
    slow["spec"] = {"baseline": "good"}
    slow["fairness"] = {"state": "confounded", "reasons": [alone], "confounds": [
        {"key": "host.overlap", "category": "host", "severity": "warning", "message": alone}]}
    slow["comparisons"][0]["metrics"]["throughput_ratio"].update(value=0.45, ci=[0.3, 0.8])
    rule30 = Regression.parse("throughput", "30%")
    assert judge(slow, rule30).verdict == BAD and "host to themselves" in judge(slow, rule30).why
    slow["comparisons"][0]["metrics"]["throughput_ratio"].update(value=1.2, ci=[1.1, 1.3])
    assert judge(slow, rule30).verdict == SKIP and judge(slow, rule30).confounded
    # the good commit's run alone would favour the baseline: never counted
    slow["fairness"]["reasons"] = [alone.replace("c.r2", "good.r2", 1)]
    slow["comparisons"][0]["metrics"]["throughput_ratio"].update(value=0.45, ci=[0.3, 0.8])
    assert judge(slow, rule30).verdict == SKIP
    with pytest.raises(ValueError, match="one of"):
        Regression.parse("speed", "5%")


@pytest.mark.slow
def test_a_bisect_resumes_from_its_folder_without_running_done_steps_again(
        history, tmp_path: Path) -> None:
    """A bisect stopped after two steps (commit 6 bad, commit 3 skipped: it crashes) goes on
    from its bisect.json: the remaining steps only, the same first bad commit. Only the
    steps' results are read back; another rule, or a folder others can write, is refused."""
    repo, shas = history
    folder = tmp_path / "runs" / "bisect-earlier"
    folder.mkdir(parents=True, mode=0o700)
    commits = shas[1:]
    record = {"good": shas[0], "bad": shas[12], "commits": commits, "metric": "accuracy_delta",
              "threshold": 0.05, "budget": 6, "first_bad": None, "steps": [
                  {"commit": shas[6], "verdict": BAD, "why": "worse by 0.3", "attempt": 1,
                   "confounded": False, "run_dir": "/nonexistent/a"},
                  {"commit": shas[3], "verdict": SKIP, "why": "runs did not finish",
                   "attempt": 1, "confounded": False, "run_dir": "/nonexistent/b"}]}
    (folder / "bisect.json").write_text(json.dumps(record))
    other = _bisect(repo, tmp_path / "runs", "--good", shas[0], "--bad", shas[12], "--metric",
                    "accuracy", "--worse-by", "2pp", "--resume", str(folder))
    assert other.returncode == 2 and "another metric" in other.stderr + other.stdout
    out = _bisect(repo, tmp_path / "runs", "--good", shas[0], "--bad", shas[12], "--metric",
                  "accuracy", "--worse-by", "5pp", "--resume", str(folder))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "resumed with 2 step(s) done" in out.stdout
    # after each step, the commits as marks: commit 6 bad from before, 3 skipped
    marks = re.findall(r"^  good (.*)$", out.stdout, re.M)
    assert marks and marks[-1].split()[5] == "x" and marks[-1].split()[2] == "?", marks
    assert f"first bad commit {shas[5][:10]}" in out.stdout
    after = json.loads((folder / "bisect.json").read_text())
    new = [s["commit"] for s in after["steps"][2:]]
    assert new and shas[6] not in new and shas[3] not in new, new
    assert after["first_bad"] == shas[5]
    folder.chmod(0o777)
    shared = _bisect(repo, tmp_path / "runs", "--good", shas[0], "--bad", shas[12], "--metric",
                     "accuracy", "--worse-by", "5pp", "--resume", str(folder))
    assert shared.returncode == 2 and "not a folder of your own" in shared.stdout + shared.stderr


def test_the_bisect_page_marks_every_commit() -> None:
    from abtui.report.bisect_page import commit_line, render_bisect

    record = {"good": "a" * 40, "commits": ["c1", "c2", "c3", "c4"], "metric": "accuracy_delta",
              "threshold": 0.05, "budget": 6, "first_bad": "c3", "first_bad_subject": "drop it",
              "first_bad_stat": " train.py | 2 +-", "steps": [
                  {"commit": "c2", "verdict": "good", "worse": 0.001, "interval": [-0.01, 0.01],
                   "why": "under", "subject": "s2", "run_dir": "r2"},
                  {"commit": "c3", "verdict": "bad", "worse": 0.3, "interval": [0.2, 0.4],
                   "why": "worse \x1b[31mred", "subject": "s3", "run_dir": "r3"}]}
    assert commit_line(record) == ". + [x] ."
    page = render_bisect(record)
    assert "**c3** drop it" in page and "train.py | 2 +-" in page and "\x1b" not in page


def test_what_a_bisect_costs_and_how_often_it_names_the_right_commit() -> None:
    """The simulated cost table of docs/benchmarks.md, held to its claims: a regression of
    twice the threshold over noise of a quarter of it is found in about log2(N) steps and
    named right >= 95 % of the time at the default budget."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from bisect_cost import table
    finally:
        sys.path.remove(str(REPO / "bench"))
    rows = {(n, ratio): (runs, steps, right) for n, ratio, runs, steps, right in table(12)}
    runs, steps, right = rows[16, 4.0]
    assert right >= 0.95 and steps <= 5 and runs < 40
    assert rows[64, 2.0][2] >= 0.95


def _braille(screen: str) -> int:
    return sum(1 for ch in screen if 0x2801 <= ord(ch) <= 0x28FF)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_bisect_in_a_terminal_shows_each_step_live_under_its_commits(
        history, tmp_path: Path) -> None:
    """``abtui bisect`` in a real tmux pane at 120x40: each step's A/B runs in the console,
    its curves drawn live, under a line of the commits whose marks fill in (the second step
    shows the first step's commit bad and brackets the commit it judges now); at the end the
    terminal has the answer and the exit code is 0. Four commits after the good one: 6 is
    judged first (bad), then 5 (bad: it drops the scaling)."""
    repo, shas = history
    session = f"abtui-bisect-{tmp_path.name}"[-60:]
    argv = [sys.executable, "-m", "abtui", "bisect", "--repo", str(repo), "--runs-dir",
            str(tmp_path / "runs"), "--good", shas[4], "--bad", shas[8], "--metric",
            "accuracy", "--worse-by", "5pp", "--", *CMD]
    # pytest exports COLUMNS / LINES (80 x 24), which Textual would take over the pane's size
    shell = (f"unset COLUMNS LINES; cd {shlex.quote(str(tmp_path))} && {shlex.join(argv)}; "
             "echo bisect-exit=$?; sleep 900")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    shell], check=True)
    steps: dict[int, str] = {}  # the step's number -> its last screen with curves drawn
    try:
        screen, deadline = "", time.time() + 900
        while "bisect-exit=" not in screen and time.time() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            banner = re.search(r"^ bisect +step (\d) of ~3 .*$", screen, re.M)
            if banner and _braille(screen) > 20:  # the step's latest frame with curves
                steps[int(banner.group(1))] = screen
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert "bisect-exit=0" in screen, screen
    assert f"first bad commit {shas[5][:10]} change 5: drop the input scaling" in screen
    assert set(steps) == {1, 2}, steps
    first = re.search(r"^ bisect .*$", steps[1], re.M)
    second = re.search(r"^ bisect .*$", steps[2], re.M)
    assert first and second
    # step 1 judges commit 6 (the middle; 8, the given bad one, is x from the start)
    assert re.search(r"good +\. +\[\.\] +\. +x +" + shas[6][:10], first.group(0)), first
    assert "accuracy_delta worse by 0.05" in first.group(0)
    # step 2: commit 6 is now bad, commit 5 judged
    assert re.search(r"good +\[\.\] +x +\. +x +" + shas[5][:10] + " change 5", second.group(0)), second
    assert f"step-{shas[5][:10]}" in steps[2]  # the console's title: this step's A/B


def test_the_bisect_line_over_a_step_marks_the_commits_and_shows_no_escape() -> None:
    from abtui.report.bisect_page import marks
    from abtui.tui.bisect_line import BisectProgress, bisect_text

    record = {"commits": ["a1", "b2", "c3", "d4", "e5"],
              "steps": [{"commit": "c3", "verdict": BAD}, {"commit": "a1", "verdict": GOOD},
                        {"commit": "b2", "verdict": SKIP}]}
    assert marks(record, given_bad=True) == ["+", "?", "x", ".", "x"]  # the given bad one
    assert marks(record) == ["+", "?", "x", ".", "."]  # bisect.md: only what was run
    line = bisect_text(BisectProgress(marks(record, given_bad=True), 3, "d4" * 10, "fix \x1b]0;owned\x07 the \x1b[2Jloader",
                                      4, 3, "accuracy_delta worse by 0.05")).plain
    assert re.search(r"step 4 of ~3 +accuracy_delta worse by 0\.05 +good +\+ +\? +x +\[\.\] +x +d4d4d4d4d4 fix", line), line
    assert "\x1b" not in line and "\x07" not in line
