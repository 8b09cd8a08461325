"""Fixtures for tests against a real Slurm cluster (imported by conftest.py).

- ``slurm_cluster``: the one-node cluster ``.ci/slurm-up.sh`` starts, or a skip -- a
  failure where ``ABTUI_REQUIRE_SLURM=1`` (CI). At the end no job of the tests is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


def _squeue(*args: str) -> str:
    return subprocess.run(["squeue", "-h", *args], capture_output=True, text=True,
                          timeout=30).stdout


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[dict[str, str]]:
    """The node's name and partition; every job named abtui-slurmtest-* is cancelled after."""
    problem = None
    if shutil.which("sinfo") is None:
        problem = "no Slurm client (run `bash .ci/slurm-up.sh`)"
    else:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N|%T|%P"], capture_output=True,
                             text=True, timeout=30)
        lines = [line.split("|") for line in out.stdout.splitlines() if line.count("|") == 2]
        up = [p for p in lines if p[1].rstrip("*") in ("idle", "mixed", "allocated")]
        if out.returncode != 0 or not up:
            problem = f"no Slurm node is up ({(out.stderr or out.stdout).strip()[:200]}); run `bash .ci/slurm-up.sh`"
    if problem:
        if os.environ.get("ABTUI_REQUIRE_SLURM") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    node, _, partition = up[0]
    yield {"node": node, "partition": partition.rstrip("*")}
    left = [line.split()[0] for line in _squeue("-o", "%i %j").splitlines()
            if "abtui-slurmtest" in line]
    if left:
        subprocess.run(["scancel", *left], timeout=30)
    subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"],
                   capture_output=True, timeout=30)
