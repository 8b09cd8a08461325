"""The sequential design a spec may ask for: add replicate pairs until the verdict decides."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The effects a stopping rule may watch (names as in gates and report.json).
DECIDABLE = ("throughput_ratio", "step_time_ratio", "memory_ratio", "loss_delta",
             "accuracy_delta")


class Sequential(BaseModel):
    """``replicates: auto``: replicate pairs are added, one look after each, until one
    metric's difference is decided, its equivalence within ``margin`` is shown, or the
    budget (``max_replicates`` runs per arm, ``max_minutes``) is spent. The rule is fixed
    here, before any data; the looks' levels are calibrated (``compare.sequential``)."""

    model_config = ConfigDict(extra="forbid")

    metric: Literal["throughput_ratio", "step_time_ratio", "memory_ratio", "loss_delta",
                    "accuracy_delta"] = Field(
        "throughput_ratio", description="The effect the rule decides on.")
    min_replicates: int = Field(3, ge=2, le=100, description="The first look, in runs per arm.")
    max_replicates: int = Field(8, ge=2, le=100, description="The budget in runs per arm.")
    margin: float | None = Field(
        None, gt=0, description="Equivalence margin: relative for ratios (0.02 = the same "
        "within ±2 %), in the metric's units for deltas; without one the rule only stops on "
        "a difference.")
    max_minutes: float | None = Field(
        None, gt=0, description="No new replicate pair starts after this many minutes.")

    @model_validator(mode="after")
    def _order(self) -> Sequential:
        if self.min_replicates > self.max_replicates:
            raise ValueError("min_replicates is more than max_replicates")
        if self.margin is not None and self.metric.endswith("_ratio") and self.margin >= 1:
            raise ValueError("margin: a ratio's margin is relative, below 1 (0.02 for ±2 %)")
        return self
