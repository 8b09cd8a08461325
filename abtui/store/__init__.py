"""Store: per-arm columnar series, downsampled views, running summaries."""

from abtui.store.run import ArmStatus, RunState
from abtui.store.series import BUCKETS, Series, View
from abtui.store.store import Store

__all__ = ["BUCKETS", "RunState", "ArmStatus", "Series", "Store", "View"]
