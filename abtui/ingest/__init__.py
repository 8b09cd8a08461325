"""Ingest: byte chunks -> lines -> typed records, and raw persistence of every line."""

from abtui.ingest.decode import Decoder, EnvRecord, FinalRecord, MetricRecord, TextRecord
from abtui.ingest.events import EventWriter, read_events
from abtui.ingest.lines import MAX_LINE, LineAssembler

__all__ = [
    "MAX_LINE",
    "Decoder",
    "EnvRecord",
    "EventWriter",
    "FinalRecord",
    "LineAssembler",
    "MetricRecord",
    "TextRecord",
    "read_events",
]
