"""The names of the metrics trainers write to files: how long one may be, and abtui's name
for each alias (the one alias table is ``abtui.infra.metric_names``; a file's row keeps
every name it came with and gains abtui's, so the verdict's loss, accuracy and throughput
work as for protocol records)."""

from __future__ import annotations

from abtui.infra.metric_names import with_canonical

MAX_NAME = 128
canonical = with_canonical
