"""The remote backends' pure parts: the Slurm job abtui submits (exact text), the spec's
``slurm:`` and ``hosts:`` sections, rotation across nodes and hosts, the nodes' telemetry
merged into the monitor's, node findings, and the job states read from Slurm's tools
(recorded output; the real cluster is in test_slurm.py, real SSH hosts in
test_docker_hosts.py)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from abtui.backends.slurm_cli import JobStates, query_scontrol
from abtui.backends.slurm_job import batch_script, sbatch_options, step_script
from abtui.diff.context import RunFacts, RunPair, Treatment
from abtui.diff.nodes import node_findings
from abtui.experiment.node_telemetry import REMOTE_BASE, NodeTelemetry
from abtui.infra.errors import SpecError
from abtui.rundir import NODE_FACTS, NODE_TELEMETRY, RunDir
from abtui.spec import parse_spec, resolve_runs

BASE = """
name: s
backend: slurm
command: [python, train.py]
steps: 10
arms:
  A: {gpus: [0], config: {lr: 1}}
  B: {gpus: [1], config: {lr: 2}}
treatment: [lr]
"""


def _spec(extra: str = ""):
    return parse_spec(BASE + extra)


def test_the_job_asks_slurm_for_what_the_spec_says() -> None:
    spec = _spec("slurm: {partition: gpu, account: ml, time_limit: '2:00:00', cpus_per_task: 8,"
                 " mem: 64G, constraint: h100, exclude: [bad1], sbatch_args: ['--exclusive']}\n")
    run = resolve_runs(spec)[0]
    opts = sbatch_options(spec, run, Path("/shared/r/arms/A"), Path("/code"))
    assert opts == ["--job-name=abtui-s-A", "--output=/shared/r/arms/A/slurm.out",
                    "--open-mode=append", "--chdir=/code", "--export=ALL", "--no-requeue",
                    "--nodes=1", "--ntasks-per-node=1", "--gres=gpu:1", "--partition=gpu",
                    "--account=ml", "--constraint=h100", "--time=2:00:00", "--cpus-per-task=8",
                    "--mem=64G", "--exclude=bad1", "--exclusive"]
    gpus = _spec("slurm: {gres_flag: gpus}\n")
    assert "--gpus-per-node=1" in sbatch_options(gpus, resolve_runs(gpus)[0], Path("/a"), Path("/c"))


def test_hostile_arguments_stay_one_word_in_the_scripts() -> None:
    spec = _spec()
    run = resolve_runs(spec)[0]
    argv = ["/venv/bin/python", "train.py", "--name", "$(touch /tmp/pwned); `id`"]
    step = step_script(spec, run, Path("/r/arms/A"), "/venv/bin/python", Path("/w.py"), argv)
    assert "'$(touch /tmp/pwned); `id`'" in step
    batch = batch_script(spec, run, Path("/r/arms/A b"), "/venv/bin/python", Path("/r/arms/A b/step.sh"))
    assert "ARM_DIR='/r/arms/A b'" in batch and "'/r/arms/A b/step.sh'" in batch
    assert f'"$ARM_DIR/{NODE_TELEMETRY}" --run A' in batch
    assert "srun --overlap --nodes=1 --ntasks=1 --gres=gpu:1" in batch


def test_a_multi_node_arm_runs_torchrun_on_every_node_with_a_rendezvous() -> None:
    spec = _spec("slurm: {nodes: 2}\n")
    run = resolve_runs(spec)[0]
    step = step_script(spec, run, Path("/r/arms/A"), "/py", Path("/w.py"), ["/py", "-u", "train.py", "--lr", "1"])
    assert ("-m torch.distributed.run --nnodes=2 --node-rank=\"$SLURM_NODEID\" --nproc-per-node=1 "
            "--rdzv-backend=c10d --rdzv-endpoint=\"$ABTUI_HEAD_NODE:29500\"") in step
    assert step.rstrip().endswith("train.py --lr 1")
    assert 'OUT="output.node$SLURM_NODEID.log"' in step  # node 0 alone writes output.log
    batch = batch_script(spec, run, Path("/r/arms/A"), "/py", Path("/r/arms/A/step.sh"))
    assert "srun --nodes=2 --ntasks=2 --ntasks-per-node=1" in batch


@pytest.mark.parametrize("bad", [
    "slurm: {time_limit: 'soon'}", "slurm: {partition: '-x'}", "slurm: {sbatch_args: ['--output=/x']}",
    "slurm: {sbatch_args: ['rm -rf']}", "slurm: {nodelist: ['a b']}", "slurm: {nodes: 0}",
    "slurm: {bogus: 1}",
])
def test_bad_slurm_sections_are_refused_with_a_message(bad: str) -> None:
    with pytest.raises(SpecError):
        _spec(bad + "\n")


def test_replicates_rotate_across_the_listed_nodes() -> None:
    spec = _spec("replicates: 3\nslurm: {nodelist: [n1, n2]}\n")
    placed = {r.run_id: r.extra["node"] for r in resolve_runs(spec)}
    assert placed == {"A.r0": "n1", "B.r0": "n2", "A.r1": "n2", "B.r1": "n1", "A.r2": "n1",
                      "B.r2": "n2"}


def _node_file(root: Path, run_id: str, lines: list[dict | str]) -> Path:
    d = root / "arms" / run_id
    d.mkdir(parents=True, exist_ok=True)
    path = d / NODE_TELEMETRY
    with open(path, "a") as fh:
        for obj in lines:
            fh.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
    return path


def _gpu(index: int, reasons: int = 0) -> dict:
    return {"index": index, "temp_c": 70, "sm_clock_mhz": 1400, "power_w": 650.0,
            "reasons": reasons, "arm": "A"}  # an older agent's name (SAMPLE_VERSION 1)


def test_node_samples_are_merged_with_unique_indices_aligned_clocks_and_resume(tmp_path) -> None:
    rundir = RunDir(tmp_path)
    (tmp_path / "arms").mkdir()
    info = {"kind": "gpu_info", "t": 1.0, "gpus": [{"index": 0, "name": "NVIDIA H100", "sm_clock_max_mhz": 1980}]}
    _node_file(tmp_path, "A", [info, {"kind": "sample", "t": 100.0, "gpus": [_gpu(0)]}])
    _node_file(tmp_path, "B", [info, {"kind": "sample", "t": 100.0, "gpus": [_gpu(0)]}, "{torn"])
    (tmp_path / "arms" / "A" / NODE_FACTS).write_text(json.dumps({"host": "gpu-17"}))
    nodes = NodeTelemetry(rundir, ["A", "B"], NODE_TELEMETRY)
    sample: dict = {"kind": "sample", "t": 130.5, "gpus": []}
    nodes.merge(sample, now=130.5)  # the node's clock runs 30 s behind, plus 0.5 s delay
    a, b = sample["gpus"]
    assert (a["index"], b["index"]) == (REMOTE_BASE, REMOTE_BASE + 16)  # never the same GPU
    assert (a["run"], b["run"]) == ("A", "B") and "arm" not in a and a["host"] == "gpu-17" and a["node_index"] == 0
    assert a["name"] == "NVIDIA H100" and a["sm_clock_max_mhz"] == 1980  # static facts kept
    assert sample["nodes"]["A"]["skew_s"] == 30.5 and sample["nodes"]["A"]["t"] == 130.5
    # a faster delivery lowers the skew estimate; only the newest sample of a tick is kept
    _node_file(tmp_path, "A", [{"kind": "sample", "t": 101.0, "gpus": [_gpu(0, 4)]},
                               {"kind": "sample", "t": 102.0, "gpus": [_gpu(0, 4)]}])
    nxt: dict = {"kind": "sample", "t": 132.2, "gpus": []}
    nodes.merge(nxt, now=132.2)
    assert len(nxt["gpus"]) == 1 and nxt["nodes"]["A"]["skew_s"] == 30.2
    with open(rundir.telemetry_path, "w") as fh:
        fh.write(json.dumps(sample) + "\n" + json.dumps(nxt) + "\n")
    again = NodeTelemetry(rundir, ["A", "B"], NODE_TELEMETRY)  # a monitor reattaching
    assert again.offsets == nodes.offsets and again.skew["A"] == 30.2
    later: dict = {"kind": "sample", "t": 140.0, "gpus": []}
    again.merge(later, now=140.0)
    assert later["gpus"] == []  # nothing merged twice


def _facts(run_id: str, node: dict) -> RunFacts:
    return RunFacts(run_id=run_id, arm=run_id, replicate=0, seed=0, config={}, env=None,
                    spec_env={}, command=None, image=None, image_ref=None, telemetry=None,
                    inspect={"host": node["host"], "node": node})


def _node(host: str, cpu: str = "AMD EPYC 9654", gpu: str = "NVIDIA H100", driver: str = "550.54") -> dict:
    return {"host": host, "cpu": {"cpu_model": cpu}, "driver": driver,
            "slurm": {"SLURM_JOB_PARTITION": "gpu", "SLURM_CPUS_ON_NODE": "8"},
            "gpus": [{"name": gpu, "uuid": f"GPU-{host}", "sm_clock_max_mhz": 1980}]}


def test_nodes_that_differ_in_hardware_are_a_confound_and_equal_ones_are_noted() -> None:
    same = node_findings(RunPair(_facts("A", _node("n1")), _facts("B", _node("n2")), Treatment([]),
                                 arms=("A", "B")))
    assert [f.key for f in same] == ["node.host"] and not same[0].is_confound
    other = _node("n2", cpu="Intel Xeon", driver="535.1")
    diff = node_findings(RunPair(_facts("A", _node("n1")), _facts("B", other), Treatment([]),
                                 arms=("A", "B")))
    assert {f.key for f in diff} == {"node.cpu_model", "node.driver"}
    assert all(f.is_confound for f in diff)


def _fake_tool(bin_dir: Path, name: str, output: str, code: int = 0) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_job_states_come_from_one_squeue_then_the_ended_jobs_record(tmp_path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "squeue", "7|RUNNING|None|gpu-1\n8|TIMEOUT|TimeLimit|gpu-2")
    _fake_tool(bin_dir, "scontrol", "JobId=8 JobName=x JobState=TIMEOUT Reason=TimeLimit "
               "ExitCode=0:15 NodeList=gpu-2")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    states = JobStates(ttl=60)
    assert states.get("7").live and states.get("7").nodes == "gpu-1"
    ended = states.get("8")
    assert not ended.live and ended.state == "TIMEOUT" and ended.signal == 15
    job = query_scontrol("8")
    assert job is not None and job.reason == "TimeLimit"
    _fake_tool(bin_dir, "squeue", "slurm_load_jobs error: Unable to contact slurm controller", 1)
    fresh = JobStates(ttl=0)
    assert fresh.get("9").state == "UNREACHABLE"  # never taken for ended: the job may run on


DOCKER = """
name: h
backend: docker
image: img
steps: 10
arms:
  A: {config: {lr: 1}}
  B: {config: {lr: 2}}
treatment: [lr]
"""


def test_replicates_rotate_across_docker_hosts() -> None:
    spec = parse_spec(DOCKER + "replicates: 2\nhosts: [local, 'ssh://me@gpu-2', ctx-3]\n")
    placed = {r.run_id: r.extra["host"] for r in resolve_runs(spec)}
    assert placed == {"A.r0": "local", "B.r0": "ssh://me@gpu-2", "A.r1": "ssh://me@gpu-2",
                      "B.r1": "ctx-3"}


@pytest.mark.parametrize("bad", ["hosts: ['ssh://a b']", "hosts: [local, local]",
                                 "hosts: ['-H evil']", "hosts: ['http://x']"])
def test_bad_hosts_are_refused(bad: str) -> None:
    with pytest.raises(SpecError):
        parse_spec(DOCKER + bad + "\n")


def test_hosts_need_the_docker_backend() -> None:
    with pytest.raises(SpecError, match="backend: docker"):
        parse_spec(DOCKER.replace("backend: docker", "backend: local") + "hosts: [local]\n")


def test_a_node_gpu_keeps_its_static_facts_on_disk(tmp_path) -> None:
    """telemetry.jsonl's gpu_info describes this host's GPUs only: a merged node GPU keeps
    its model and clock ceiling in its own entry, or the report would lose them."""
    from abtui.telemetry.samples import SampleWriter, read_samples

    path = tmp_path / "telemetry.jsonl"
    w = SampleWriter(path)
    w.write_info({"kind": "gpu_info", "t": 1.0, "gpus": [{"index": 0, "name": "local GPU"}]})
    node_gpu = {"index": REMOTE_BASE, "node_index": 0, "name": "NVIDIA H100",
                "sm_clock_max_mhz": 1980, "temp_c": 60, "run": "A"}
    w.write_sample({"kind": "sample", "t": 2.0, "gpus": [{"index": 0, "name": "local GPU",
                                                           "temp_c": 50}, node_gpu]})
    w.close()
    [sample] = list(read_samples(path))
    local, node = sample["gpus"]
    assert local["name"] == "local GPU"  # from gpu_info
    assert node["name"] == "NVIDIA H100" and node["sm_clock_max_mhz"] == 1980


def test_the_gpu_panel_names_a_node_gpu_by_its_host() -> None:
    from abtui.tui.widgets.gpus import gpu_name

    assert gpu_name({"index": 3}) == "3"
    assert gpu_name({"index": REMOTE_BASE + 19, "node_index": 3, "host": "gpu-17"}) == "gpu-17:3"
    assert "\x1b" not in gpu_name({"index": 1000, "node_index": 0, "host": "evil\x1b[2J"})


def test_node_gpus_stay_on_screen_between_their_samples_and_carry_dcgm_labels() -> None:
    """A tick without a new node sample does not drop the node's GPUs from the panel or
    the Prometheus endpoint; they are labelled with the node's own index and hostname."""
    from abtui.experiment.exporter import ExperimentCollector
    from abtui.store import Store

    store = Store()
    store.add_run("A", "A", 0, 10, (0,))
    node = {"index": REMOTE_BASE, "node_index": 2, "host": "GPU-Node-7", "run": "A",
            "temp_c": 61, "name": "NVIDIA H100", "uuid": "GPU-abc"}
    store.add_telemetry({"kind": "sample", "t": 1.0, "gpus": [node], "host": {}})
    store.add_telemetry({"kind": "sample", "t": 2.0, "gpus": [], "host": {}})  # none merged
    assert [g["index"] for g in store.current_gpus()] == [REMOTE_BASE]
    families = {f.name: f for f in ExperimentCollector(store, "exp").collect()}
    [temp] = families["DCGM_FI_DEV_GPU_TEMP"].samples
    assert temp.labels["gpu"] == "2" and temp.labels["hostname"] == "gpu-node-7"
    assert temp.labels["run_id"] == "A" and temp.value == 61


def test_a_job_array_task_runs_its_own_job_with_its_own_env_and_no_value_on_disk(tmp_path) -> None:
    """The array's batch script, run by /bin/sh as Slurm runs it: task 1 goes to its run's
    folder and runs that run's job.sh with its own variables (a value with quotes, `$( )`
    and a newline arrives whole), none of the other task's and none of the carriers; the
    values are nowhere in the script."""
    import subprocess

    from abtui.backends.slurm_job import TASK_VAR, ArrayTask, array_script

    tasks = []
    for i, run_id in enumerate(("lr=1", "lr=2")):
        folder = tmp_path / run_id
        folder.mkdir()
        job = folder / "job.sh"
        job.write_text('#!/bin/sh\npwd\nprintf "%s|" "$ABTUI_RUN_ID" "$HF_TOKEN"\nenv | grep -c ABTUI_T || true\n')
        tasks.append(ArrayTask(run_id, job, folder, ("ABTUI_RUN_ID", "HF_TOKEN") if i else ("ABTUI_RUN_ID",)))
    script = tmp_path / "array-0.sh"
    script.write_text(array_script(_spec(), tasks))
    secret = "hf_s3cr3t 'q' $(id)\nline2"
    env = {"PATH": os.environ["PATH"], "SLURM_ARRAY_TASK_ID": "1",
           TASK_VAR.format(task=0, name="ABTUI_RUN_ID"): "lr=1",
           TASK_VAR.format(task=1, name="ABTUI_RUN_ID"): "lr=2",
           TASK_VAR.format(task=1, name="HF_TOKEN"): secret}
    out = subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    cwd, rest = out.stdout.split("\n", 1)
    assert cwd == str(tmp_path / "lr=2")
    assert rest == f"lr=2|{secret}|0\n"  # its own values, whole; no ABTUI_T* carrier left
    assert "s3cr3t" not in script.read_text() and "lr=2|" not in script.read_text()
    env["SLURM_ARRAY_TASK_ID"] = "7"
    missing = subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True,
                             timeout=30)
    assert missing.returncode == 2 and "no task 7" in missing.stderr


def test_the_scheduler_starts_replicates_as_groups_within_the_limit() -> None:
    """Replicate r + 1 waits for replicate r; at most ``limit`` at once; one run per GPU;
    a backend that queues groups itself (a Slurm job array) gets a whole replicate, once
    nothing is active."""
    from abtui.experiment.schedule import runs_to_start

    spec = parse_spec(BASE.replace("A: {gpus: [0]", "A: {gpus: [0]").replace(
        "B: {gpus: [1], config: {lr: 2}}", "B: {gpus: [1], config: {lr: 2}}\n  C: {gpus: [0], config: {lr: 3}}")
        + "replicates: 2\n")
    runs = resolve_runs(spec)
    first = [r for r in runs if r.replicate == 0]
    ids = lambda rs: [r.run_id for r in rs]  # noqa: E731
    assert ids(runs_to_start(runs, [], 3)) == ids([r for r in first if r.arm in ("A", "B")])  # C shares GPU 0
    assert ids(runs_to_start(runs, [], 1)) == ids(first[:1])
    assert runs_to_start([r for r in runs if r.replicate == 1], first[:1], 3) == []  # the barrier
    assert ids(runs_to_start(runs, [], 2, grouped=True)) == ids(first)  # Slurm holds it to 2
    assert runs_to_start(runs[1:], runs[:1], 2, grouped=True) == []
