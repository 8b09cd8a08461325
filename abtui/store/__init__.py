"""Store: per-arm columnar series, downsampled views, running summaries."""

from abtui.store.arm import ArmState, ArmStatus
from abtui.store.series import BUCKETS, Series, View
from abtui.store.store import Store

__all__ = ["BUCKETS", "ArmState", "ArmStatus", "Series", "Store", "View"]
