"""The spec's ``slurm:`` section: where the arms' jobs go and what they ask for."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SLURM_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")


class Slurm(BaseModel):
    """Where the arms' Slurm jobs go (``backend: slurm``); a job per run, a replicate's runs
    in one job array."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = Field(None, description="Partition (sbatch --partition).")
    account: str | None = Field(None, description="Account to charge (sbatch --account).")
    qos: str | None = Field(None, description="Quality of service (sbatch --qos).")
    constraint: str | None = Field(None, description="Node features required (sbatch --constraint).")
    nodelist: list[str] = Field(
        default_factory=list, description="Nodes to use; replicate i of arm k goes to node "
        "(k + i) mod len (rotated like GPUs), so no arm always gets the same node.")
    exclude: list[str] = Field(default_factory=list, description="Nodes never used (sbatch --exclude).")
    time_limit: str | None = Field(None, description="Per-job time limit: minutes, 'HH:MM:SS' or 'D-HH:MM:SS'.")
    nodes: int = Field(1, ge=1, le=1024, description="Nodes per arm (more than one: torchrun across them).")
    cpus_per_task: int | None = Field(None, ge=1, description="CPU cores per arm (sbatch --cpus-per-task).")
    mem: str | None = Field(None, description="Memory per node, e.g. '64G' (sbatch --mem).")
    gres_flag: Literal["gres", "gpus"] = Field(
        "gres", description="How GPUs are asked for: --gres=gpu:N (gres) or --gpus-per-node=N (gpus).")
    sbatch_args: list[str] = Field(default_factory=list, description="More sbatch options, each '--name=value'.")
    telemetry: bool = Field(True, description="Run the NVML sampler next to each job (srun --overlap).")
    array: bool = Field(True, description="Submit each replicate's runs as one job array "
                        "(sbatch --array, at most `concurrency` tasks at once); false: a job per run.")

    @field_validator("time_limit")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        if v is not None and not _SLURM_TIME.match(v):
            raise ValueError(f"time_limit {v!r}: minutes, 'MM:SS', 'HH:MM:SS' or 'D-HH:MM:SS'")
        return v

    @field_validator("partition", "account", "qos", "constraint", "mem")
    @classmethod
    def _word(cls, v: str | None) -> str | None:
        if v is not None and (not v or v.startswith("-") or any(c.isspace() or ord(c) < 32 for c in v)):
            raise ValueError(f"{v!r}: one word, not starting with '-'")
        return v

    @field_validator("nodelist", "exclude")
    @classmethod
    def _nodes(cls, v: list[str]) -> list[str]:
        for n in v:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-\[\],]*$", n):
                raise ValueError(f"{n!r} is not a node name")
        return v

    @field_validator("sbatch_args")
    @classmethod
    def _args(cls, v: list[str]) -> list[str]:
        for a in v:
            if not re.match(r"^--[a-z][a-z-]*(=.*)?$", a) or "\n" in a:
                raise ValueError(f"sbatch_args: {a!r} is not '--option' or '--option=value'")
            if a.split("=")[0] in ("--output", "--error", "--open-mode", "--parsable", "--wrap",
                                   "--chdir", "--job-name", "--requeue", "--array"):
                raise ValueError(f"sbatch_args: abtui sets {a.split('=')[0]} itself")
        return v
