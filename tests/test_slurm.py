"""The Slurm backend against a real one-node cluster (``.ci/slurm-up.sh``): the CPU quickstart
as real jobs; the monitor killed and reattached; ``abtui stop`` cancelling; a job killed at
its time limit; the node drained while an arm waits. Jobs ask for ``--gres=gpu:1`` from the
node's four stand-in GPUs, so Slurm's GPU accounting is exercised while the arms train on
the CPU."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abtui.ingest.events import read_events

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def _abtui(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abtui", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _spec(tmp_path: Path, steps: int, replicates: int = 1, slurm: str = "", extra: str = "") -> Path:
    text = (REPO / "configs" / "quickstart.yaml").read_text()
    text = text.replace("steps: 2500", f"steps: {steps}").replace("replicates: 1", f"replicates: {replicates}")
    text = text.replace("workdir: ..", f"workdir: {REPO}").replace("hidden: 512", "hidden: 128")
    text = text.replace("name: quickstart", "name: slurmtest").replace("backend: local", "backend: slurm")
    text = text.replace("config: {optimizer: sgd, lr: 0.02}", "config: {optimizer: sgd, lr: 0.02}\n    gpus: [0]")
    text = text.replace("config: {optimizer: adam, lr: 0.003}", "config: {optimizer: adam, lr: 0.003}\n    gpus: [1]")
    text += "slurm:\n  cpus_per_task: 1\n" + slurm + extra
    p = tmp_path / "slurm.yaml"
    p.write_text(text)
    return p


def _run_dir(tmp_path: Path, jobs: int = 2, timeout: float = 60) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        dirs = list((tmp_path / "runs").glob("slurmtest-*"))
        if dirs and (dirs[0] / "manifest.json").exists():
            m = json.loads((dirs[0] / "manifest.json").read_text())
            if sum("ref" in r for r in m["runs"].values()) >= jobs:
                return dirs[0]
        time.sleep(0.2)
    raise AssertionError("no run directory with submitted jobs appeared")


def _job(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True,
                         text=True, timeout=30).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def _output_lines(root: Path, run_id: str) -> list[bytes]:
    return (root / "arms" / run_id / "output.log").read_bytes().splitlines()


def _stored_lines(root: Path, run_id: str) -> list[bytes]:
    return [e.raw for e in read_events(root / "arms" / run_id / "events.jsonl")]


def _monitor(tmp_path: Path, spec: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "abtui", "run", str(spec), "--headless",
                             "--runs-dir", str(tmp_path / "runs")], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def test_quickstart_runs_as_slurm_jobs_with_the_same_report(tmp_path, slurm_cluster) -> None:
    # long enough that both jobs' steady states overlap however Slurm staggers their starts
    out = _abtui("run", str(_spec(tmp_path, steps=2000)), "--headless", "--runs-dir",
                 str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [root] = list((tmp_path / "runs").iterdir())
    report = json.loads((root / "report.json").read_text())
    for arm in ("sgd", "adam"):
        [r] = report["arms"][arm]["runs"]
        assert r["status"] == "done" and r["accuracy_final"] > 0.6, r  # real learning on digits
    assert report["fairness"]["state"] == "fair", report["fairness"]
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["backend_facts"]["slurm"]["version"].startswith("slurm")
    for run_id in ("sgd", "adam"):
        entry = manifest["runs"][run_id]
        job = _job(entry["ref"]["job_id"])
        assert job["JobState"] == "COMPLETED" and job["TresPerNode"].endswith("gpu:1"), job
        assert "--no-requeue" in entry["ref"]["sbatch"]
        node = entry["inspect"]["node"]  # the node's facts, as the job saw them
        assert node["host"] == slurm_cluster["node"]
        # the two runs of the replicate were one job array: task i is job "<array>_<i>"
        array, task = entry["ref"]["job_id"].split("_")
        assert entry["ref"]["array"] == array and task == str(entry["ref"]["task"])
        assert node["slurm"]["SLURM_ARRAY_JOB_ID"] == array
        assert node["slurm"]["SLURM_ARRAY_TASK_ID"] == task
        assert node["slurm"]["SLURM_GPUS_ON_NODE"] == "1"
        # every line the arm printed reached the store exactly once
        assert _stored_lines(root, run_id) == _output_lines(root, run_id)
        samples = (root / "arms" / run_id / "node_telemetry.jsonl").read_text().splitlines()
        assert len(samples) >= 2  # sampled on the node, beside the job
    merged = [json.loads(line) for line in (root / "telemetry.jsonl").read_text().splitlines()]
    nodes = [s["nodes"] for s in merged if s.get("nodes")]
    assert nodes and {r for n in nodes for r in n} <= {"sgd", "adam"}
    assert all(abs(n["skew_s"]) < 5 for s in nodes for n in s.values())  # one clock here


def test_a_killed_monitor_reattaches_to_running_jobs_without_a_lost_or_doubled_line(
        tmp_path, slurm_cluster) -> None:
    spec = _spec(tmp_path, steps=1500)
    mon = _monitor(tmp_path, spec)
    root = _run_dir(tmp_path)
    deadline = time.time() + 60
    while time.time() < deadline and len(_stored_lines(root, "sgd")) < 20:
        time.sleep(0.2)
    mon.send_signal(signal.SIGKILL)  # the monitor dies; the jobs must not
    mon.wait()
    manifest = json.loads((root / "manifest.json").read_text())
    jobs = [r["ref"]["job_id"] for r in manifest["runs"].values()]
    assert all(_job(j)["JobState"] in ("RUNNING", "PENDING") for j in jobs)
    out = _abtui("attach", str(root), "--headless", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for run_id in ("sgd", "adam"):
        assert _stored_lines(root, run_id) == _output_lines(root, run_id)  # exactly once
        exit_record = json.loads((root / "arms" / run_id / "exit.json").read_text())
        assert exit_record["status"] == "done", exit_record
    report = json.loads((root / "report.json").read_text())
    assert report["arms"]["adam"]["runs"][0]["last_step"] == 1500


def test_abtui_stop_cancels_the_jobs(tmp_path, slurm_cluster) -> None:
    mon = _monitor(tmp_path, _spec(tmp_path, steps=200000))
    root = _run_dir(tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    jobs = [r["ref"]["job_id"] for r in manifest["runs"].values()]
    deadline = time.time() + 60
    while time.time() < deadline and not all(_job(j).get("JobState") == "RUNNING" for j in jobs):
        time.sleep(0.5)
    stop = _abtui("stop", str(root), "--grace", "5", cwd=tmp_path)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "stopping sgd" in stop.stdout and "stopping adam" in stop.stdout
    out, _ = mon.communicate(timeout=120)
    for j in jobs:
        assert _job(j)["JobState"] in ("CANCELLED", "COMPLETED", "FAILED"), _job(j)
    for run_id in ("sgd", "adam"):
        record = json.loads((root / "arms" / run_id / "exit.json").read_text())
        # SIGTERM reached the arm through the relay: killed by it (-15), or the runner's own
        # handler exited 128 + 15 (it installs one once it has started training)
        assert record["status"] != "done" and record["exit_code"] in (-15, 143), record
    assert mon.returncode == 3, out[-2000:]  # an arm did not finish


def test_a_job_killed_at_its_time_limit_is_reported_as_such(tmp_path, slurm_cluster) -> None:
    spec = _spec(tmp_path, steps=500000, slurm='  time_limit: "1"\n')
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                 cwd=tmp_path, timeout=300)
    assert out.returncode == 3, out.stdout[-3000:] + out.stderr[-3000:]
    [root] = list((tmp_path / "runs").iterdir())
    for run_id in ("sgd", "adam"):
        record = json.loads((root / "arms" / run_id / "exit.json").read_text())
        assert record["status"] == "failed", record
        assert "TIMEOUT" in record["error"] and "time limit" in record["error"], record
        assert _stored_lines(root, run_id) == _output_lines(root, run_id)  # nothing lost
    report = (root / "report.md").read_text()
    assert "TIMEOUT" in report


def test_a_drained_node_holds_the_next_replicate_as_queued_until_it_is_resumed(
        tmp_path, slurm_cluster) -> None:
    node = slurm_cluster["node"]
    spec = _spec(tmp_path, steps=300, replicates=2)
    mon = _monitor(tmp_path, spec)
    root = _run_dir(tmp_path, jobs=2)
    first = [e["ref"]["job_id"] for e in json.loads((root / "manifest.json").read_text())[
        "runs"].values() if "ref" in e]
    deadline = time.time() + 60
    while time.time() < deadline and not all(_job(j).get("JobState") == "RUNNING" for j in first):
        time.sleep(0.1)
    subprocess.run(["scontrol", "update", f"nodename={node}", "state=drain",
                    "reason=abtui-test"], check=True, timeout=30)
    try:
        # replicate 0 finishes on the drained node; replicate 1 is submitted and waits
        deadline = time.time() + 120
        waiting = []
        while time.time() < deadline:
            m = json.loads((root / "manifest.json").read_text())
            jobs = {r: e["ref"]["job_id"] for r, e in m["runs"].items() if "ref" in e}
            waiting = [r for r, j in jobs.items() if r.endswith(".r1")
                       and _job(j).get("JobState") == "PENDING"]
            if len(waiting) == 2:
                break
            time.sleep(0.5)
        assert len(waiting) == 2, "replicate 1 was not held by the drained node"
        for r0 in ("sgd.r0", "adam.r0"):
            assert json.loads((root / "arms" / r0 / "exit.json").read_text())["status"] == "done"
        time.sleep(3)
        log = (root / "monitor.log").read_text() if (root / "monitor.log").exists() else ""
        assert mon.poll() is None, log  # still watching, not failed
    finally:
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], timeout=30)
    out, _ = mon.communicate(timeout=300)
    assert mon.returncode == 0, out[-3000:]
    assert "queued" in out, out[-3000:]  # the progress lines said why the arms waited
    report = json.loads((root / "report.json").read_text())
    assert all(r["status"] == "done" for a in report["arms"].values() for r in a["runs"])


def test_a_3x2_grid_runs_as_one_throttled_job_array_per_replicate(tmp_path, slurm_cluster) -> None:
    """A grid of six arms (lr x optimizer) on the cluster, two replicates, ``concurrency:
    2``: each replicate is one job array of six tasks (``--array=0-5%2``), Slurm never runs
    more than two at once, the second array is submitted only once the first has ended (the
    barrier per replicate), every task runs its own run (its own seed and config), and the
    grid is ranked as it is on the local backend."""
    text = (REPO / "configs" / "quickstart.yaml").read_text()
    text = text.replace("workdir: ..", f"workdir: {REPO}").replace("hidden: 512", "hidden: 32")
    text = text.replace("name: quickstart", "name: slurmtest").replace("backend: local", "backend: slurm")
    text = text.replace("steps: 2500", "steps: 150").replace("replicates: 1", "replicates: 2")
    text = text.replace("  eval_interval: 100", "  eval_interval: 150")
    text = text[:text.index("arms:")] + (
        "grid:\n  lr: [0.003, 0.03, 0.3]\n  optimizer: [sgd, adam]\nconcurrency: 2\n"
        "slurm:\n  cpus_per_task: 1\n")
    spec = tmp_path / "grid.yaml"
    spec.write_text(text)
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                 cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [root] = list((tmp_path / "runs").iterdir())
    manifest = json.loads((root / "manifest.json").read_text())
    arrays: dict[int, set[str]] = {}
    spans = []
    for run_id, entry in manifest["runs"].items():
        ref = entry["ref"]
        assert ref["job_id"] == f"{ref['array']}_{ref['task']}", ref
        assert "--array=0-5%2" in ref["sbatch"], ref["sbatch"]
        arrays.setdefault(entry["replicate"], set()).add(ref["array"])
        node = entry["inspect"]["node"]  # the task's own job saw its own array and task
        assert node["slurm"]["SLURM_ARRAY_TASK_ID"] == str(ref["task"])
        times = [e.t for e in read_events(root / "arms" / run_id / "events.jsonl")]
        spans.append((min(times), max(times), entry["replicate"]))
        assert len(times) >= 15  # its own output, all of it
    assert set(arrays) == {0, 1} and all(len(a) == 1 for a in arrays.values())
    assert arrays[0] != arrays[1]
    for start, _, _ in spans:  # never more than two tasks running at once
        assert sum(1 for s, e, _ in spans if s <= start <= e) <= 2, spans
    assert max(e for _, e, r in spans if r == 0) < min(s for s, _, r in spans if r == 1)
    report = json.loads((root / "report.json").read_text())
    assert len(report["arms"]) == 6 and report["ranking"]["best"] in report["arms"]
    for arm, data in report["arms"].items():
        assert [r["seed"] for r in data["runs"]] == [0, 1], (arm, data["runs"])
        assert all(r["status"] == "done" for r in data["runs"])
    assert list((root / "slurm").glob("array-*.sh")) and not any(
        "hf_" in p.read_text() for p in (root / "slurm").glob("array-*.sh"))
