"""Log adapters: the log formats training scripts already print, read as metric records.

An arm that does not speak abtui's JSON protocol still prints its metrics, in its trainer's
own words. Each adapter is a small pure parser from one plain line (JSON protocol lines
never reach them) to a ``Parsed``: metrics with a step, or totals for the final record.
The arm's ``LogAdapter`` picks the adapter the spec names (``log_format``), or, with
``auto``, the first one that claims a line; lines no adapter claims stay plain log lines.
Metric names are mapped to abtui's (``throughput_samples_per_sec``, ``step_time_ms``,
``accuracy``, ``gpu_memory_mb`` …) so the verdict works as for protocol records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from abtui.ingest.adapters import hf, nanogpt, pytorch_examples, torchtitan
from abtui.ingest.adapters.base import Parsed, strip_ansi

__all__ = ["ADAPTERS", "LogAdapter", "Parsed", "make_adapter", "regex_adapter", "strip_ansi"]

Parser = Callable[[str], Parsed | None]

#: name -> (words for people, parser), in the order auto-detection tries them.
ADAPTERS: dict[str, tuple[str, Parser]] = {
    "hf_trainer": ("Hugging Face Trainer lines", hf.parse),
    "nanogpt": ("nanoGPT lines", nanogpt.parse_nanogpt),
    "nanochat": ("nanochat lines", nanogpt.parse_nanochat),
    "modded_nanogpt": ("modded-nanogpt lines", nanogpt.parse_modded),
    "torchtitan": ("torchtitan lines", torchtitan.parse),
    "pytorch_examples": ("PyTorch examples lines", pytorch_examples.parse),
}


def regex_adapter(pattern: str) -> Parser:
    """A spec's own format: named groups become metrics (``step`` gives the step)."""
    rx = re.compile(pattern)

    def parse(line: str) -> Parsed | None:
        m = rx.search(strip_ansi(line))
        if m is None:
            return None
        values = {}
        for name, text in m.groupdict().items():
            if text is None or name == "step":
                continue
            try:
                values[name] = float(text.replace(",", ""))
            except ValueError:
                continue
        step = m.groupdict().get("step")
        return Parsed(int(step) if step and step.isdigit() else None, values)

    return parse


@dataclass
class LogAdapter:
    """One arm's adapter: fixed by the spec, or chosen by the first line an adapter claims.

    Steps: an adapter's own step when its format has one, else a count of the metric lines
    it has read (Hugging Face's dicts and the PyTorch examples carry no global step).
    """

    mode: str = "auto"  # "auto", "protocol" (none), an ADAPTERS name, or "regex"
    pattern: str | None = None
    name: str | None = None  # the adapter in use (auto: once detected)
    words: str | None = None
    last_step: int = 0
    _parse: Parser | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode == "regex" and self.pattern:
            self.name, self.words, self._parse = "regex", "lines of the spec's regex", regex_adapter(self.pattern)
        elif self.mode in ADAPTERS:
            self.name = self.mode
            self.words, self._parse = ADAPTERS[self.mode]

    def feed(self, line: str) -> Parsed | None:
        """The line read as metrics (or totals), or None: a plain log line."""
        if self.mode == "protocol":
            return None
        parsed = None
        if self._parse is not None:
            parsed = self._parse(line)
        elif self.mode == "auto":
            for name, (words, parse) in ADAPTERS.items():
                parsed = parse(line)
                if parsed is not None:
                    self.name, self.words, self._parse = name, words, parse
                    break
        if parsed is None:
            return None
        if not parsed.final:
            if parsed.step is None:
                parsed.step = self.last_step + 1 if not parsed.eval else max(1, self.last_step)
            self.last_step = max(self.last_step, parsed.step)
        return parsed


def make_adapter(log_format: object) -> LogAdapter:
    """The adapter for a spec's ``log_format``: a name, ``auto``, ``protocol`` or
    ``{"regex": "..."}``."""
    if isinstance(log_format, dict) and "regex" in log_format:
        return LogAdapter("regex", str(log_format["regex"]))
    return LogAdapter(str(log_format or "auto"))
