"""Node findings: where a remote arm's job ran, as its node reported it (``node.json``).

A Slurm arm's facts come from its node (``abtui.telemetry.node facts``, in the run's
``inspect.node``): partition, the cores and GPUs the job was given, the node's CPU model,
GPU models, driver, clock and power ceilings. Arms whose nodes differ in any of these were
not measured on equal machines: a confound. GPU UUIDs and node names are recorded (a
different node with identical hardware is the expected case on a cluster, and is noted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abtui.diff.context import RunFacts, RunPair
from abtui.diff.findings import INFO, WARNING, Finding, show

CATEGORY = "hardware"


def _node(facts: RunFacts) -> Mapping[str, Any] | None:
    node = (facts.inspect or {}).get("node")
    return node if isinstance(node, Mapping) else None


def node_values(node: Mapping[str, Any]) -> dict[str, Any]:
    """What is compared, by finding key."""
    slurm: Mapping[str, Any] = node["slurm"] if isinstance(node.get("slurm"), Mapping) else {}
    cpu: Mapping[str, Any] = node["cpu"] if isinstance(node.get("cpu"), Mapping) else {}
    gpus = [g for g in node.get("gpus") or () if isinstance(g, Mapping)]
    return {
        "node.partition": slurm.get("SLURM_JOB_PARTITION"),
        "node.cpus": slurm.get("SLURM_CPUS_ON_NODE"),
        "node.gpus": slurm.get("SLURM_GPUS_ON_NODE") or (len(gpus) if gpus else None),
        "node.cpu_model": cpu.get("cpu_model"),
        "node.gpu_model": sorted(str(g.get("name")) for g in gpus) or None,
        "node.driver": node.get("driver"),
        "node.sm_clock_max_mhz": sorted(g["sm_clock_max_mhz"] for g in gpus
                                        if isinstance(g.get("sm_clock_max_mhz"), (int, float))) or None,
        "node.power_limit_w": sorted(g["power_limit_w"] for g in gpus
                                     if isinstance(g.get("power_limit_w"), (int, float))) or None,
        "node.memory_mb": cpu.get("memory_mb"),
        "node.cpu_count": cpu.get("cpu_count"),
        "node.kernel": cpu.get("kernel"),
        "node.engine": node.get("engine"),
    }


WORDS = {
    "node.partition": "the Slurm partition", "node.cpus": "the cores Slurm gave the job",
    "node.gpus": "the GPUs Slurm gave the job", "node.cpu_model": "the node's CPU model",
    "node.gpu_model": "the node's GPU models", "node.driver": "the node's NVIDIA driver",
    "node.sm_clock_max_mhz": "the GPUs' maximum SM clock", "node.power_limit_w":
    "the GPUs' power limit", "node.memory_mb": "the node's memory (MB)",
    "node.cpu_count": "the node's core count", "node.kernel": "the node's kernel",
    "node.engine": "the Docker Engine version",
}


def node_findings(pair: RunPair) -> list[Finding]:
    na, nb = _node(pair.a), _node(pair.b)
    if na is None or nb is None:
        return []
    va, vb = node_values(na), node_values(nb)
    out = []
    for key, words in WORDS.items():
        a, b = va.get(key), vb.get(key)
        if a is None or b is None or a == b:
            continue
        out.append(pair.finding(key, CATEGORY, a, b, f"{pair.where}{words} differs "
                                f"({pair.la}: {show(a)}, {pair.lb}: {show(b)})", WARNING))
    ha, hb = na.get("host"), nb.get("host")
    if ha and hb and ha != hb and not out:
        out.append(pair.finding("node.host", CATEGORY, ha, hb, f"{pair.where}{pair.la} ran on "
                                f"node {ha} and {pair.lb} on {hb}, with the same hardware", INFO))
    return out
