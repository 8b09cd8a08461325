"""``AbtuiLogger``: a Lightning ``Logger`` writing abtui's protocol.

    trainer = L.Trainer(..., logger=AbtuiLogger())
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from abtui import reporter
from abtui.integrations.names import numbers


class AbtuiLogger(Logger):
    """Hyperparameters as the env record's config, every ``log_metrics`` as a record."""

    def __init__(self, rep: reporter.Reporter | None = None) -> None:
        super().__init__()
        self.rep = rep or reporter.default_reporter()
        self._env_sent = False

    @property
    def name(self) -> str:
        return "abtui"

    @property
    def version(self) -> str:
        return "0"

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        config = vars(params) if isinstance(params, Namespace) else dict(params)
        self.rep.env(config={k: v for k, v in config.items()
                             if isinstance(v, (int, float, str, bool)) or v is None})
        self._env_sent = True

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if not self._env_sent:
            self.rep.env()
            self._env_sent = True
        values = numbers(metrics)
        values.pop("step", None)
        if values:
            self.rep.log(int(step or 0), **values)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.rep.event("finished", status=status)
