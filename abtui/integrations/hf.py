"""``AbtuiCallback``: a Hugging Face ``TrainerCallback`` writing abtui's protocol.

    trainer = Trainer(..., callbacks=[AbtuiCallback()])
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from abtui import reporter
from abtui.integrations.names import numbers


class AbtuiCallback(TrainerCallback):
    """Env record at train begin, a metric record per ``on_log``, the final record."""

    def __init__(self, rep: reporter.Reporter | None = None) -> None:
        self.rep = rep or reporter.default_reporter()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        config = {"learning_rate": args.learning_rate, "max_steps": args.max_steps,
                  "per_device_train_batch_size": args.per_device_train_batch_size}
        self.rep.env(config=config, seed=args.seed)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        values = numbers(logs or {})
        if "train_runtime" in values:  # the end-of-training totals
            totals = {"steps": state.global_step, "wall_time_s": values["train_runtime"]}
            if "throughput_samples_per_sec" in values:
                totals["throughput_samples_per_sec"] = values["throughput_samples_per_sec"]
                totals["samples"] = values["throughput_samples_per_sec"] * values["train_runtime"]
            if "loss" in values:
                totals["final_loss"] = values["loss"]
            self.rep.final(**totals)
        elif values:
            self.rep.log(state.global_step, **values)
