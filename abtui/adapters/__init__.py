"""Log adapters: the log formats training scripts already print, read as metric records.

An arm that does not speak abtui's JSON protocol still prints its metrics, in its trainer's
own words. Each adapter is a small pure parser from one plain line (JSON protocol lines
never reach them) to a ``Parsed``: metrics with a step, or totals for the final record.
Lines are first read as a terminal shows them (``base.segments``: a ``\\r`` overwrites,
escape sequences and launcher rank prefixes go), so a progress bar on the same line never
hides a metric. The arm's ``LogAdapter`` picks the adapter the spec names
(``log_format``), or, with ``auto``, the first one that claims a line; lines that no
specific adapter claims may still be read by the ``named`` fallback (``loss: 2.31``),
which never stops detection. Metric names are mapped to abtui's
(``throughput_samples_per_sec``, ``step_time_ms``, ``accuracy`` …) so the verdict works as
for protocol records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from abtui.adapters import deepspeed, hf, named, nanogpt, pytorch_examples, timm, torchtitan
from abtui.adapters.base import Parsed, segments, split_line, strip_ansi, terminal_text

__all__ = ["ADAPTERS", "FALLBACK", "LogAdapter", "Parsed", "clip", "make_adapter",
           "regex_adapter", "segments", "split_line", "strip_ansi", "terminal_text"]

Parser = Callable[[str], Parsed | None]

#: name -> (words for people, parser), in the order auto-detection tries them. The only
#: list of adapters: the spec's ``log_format`` names and the docs are derived from it.
ADAPTERS: dict[str, tuple[str, Parser]] = {
    "hf_trainer": ("Hugging Face Trainer lines", hf.parse),
    "nanogpt": ("nanoGPT lines", nanogpt.parse_nanogpt),
    "nanochat": ("nanochat lines", nanogpt.parse_nanochat),
    "modded_nanogpt": ("modded-nanogpt lines", nanogpt.parse_modded),
    "torchtitan": ("torchtitan lines", torchtitan.parse),
    "timm": ("timm train.py lines", timm.parse),
    "deepspeed": ("DeepSpeed progress lines", deepspeed.parse),
    "pytorch_examples": ("PyTorch examples lines", pytorch_examples.parse),
    "named": ("'name: number' pairs on lines that name a loss (no known format matched)",
              named.parse),
}
#: the adapter auto-detection falls back to: it reads lines, but never ends detection
FALLBACK = "named"
MAX_LINE_CHARS = 65536  # of a longer line only its end is read


def clip(line: str) -> str:
    """A line as the adapters read it: a bar's thousand redraws hold the line at their end."""
    return line[-MAX_LINE_CHARS:] if len(line) > MAX_LINE_CHARS else line


def regex_adapter(pattern: str) -> Parser:
    """A spec's own format: named groups become metrics (``step`` gives the step)."""
    rx = re.compile(pattern)

    def parse(line: str) -> Parsed | None:
        m = rx.search(line)
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
    name: str | None = None  # the adapter in use (auto: once detected; the fallback meanwhile)
    words: str | None = None
    last_step: int = 0
    _parse: Parser | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode == "regex" and self.pattern:
            self.name, self.words, self._parse = "regex", "lines of the spec's regex", regex_adapter(self.pattern)
        elif self.mode in ADAPTERS:
            self.name = self.mode
            self.words, self._parse = ADAPTERS[self.mode]

    @property
    def detecting(self) -> bool:
        """Auto-detection still looks for a specific format (nothing, or only the fallback,
        has claimed a line)."""
        return self.mode == "auto" and self._parse is None

    def feed(self, line: str) -> list[Parsed]:
        """The line read as metrics (or totals): one result per segment a terminal would
        have drawn and an adapter claimed; the last per step. Empty: a plain log line."""
        if self.mode == "protocol":
            return []
        return self.feed_split(split_line(clip(line)))

    def feed_split(self, split: list[tuple[str, bool]]) -> list[Parsed]:
        """``feed`` of a line already split (``base.split_line``): the store splits each line
        once, for its log pane and for this."""
        if self.mode == "protocol":
            return []
        if len(split) == 1:  # most lines: one segment, no bar redrawn over it
            text, other = split[0]
            parsed = None if other else self._one(text)
            if parsed is None:
                return []
            self._count(parsed)
            return [parsed] if parsed.values or parsed.final else []
        out: list[Parsed] = []
        for text, other in split:
            parsed = None if other else self._one(text)
            if parsed is None:
                continue
            if out and parsed.step is not None and out[-1].step == parsed.step \
                    and out[-1].eval == parsed.eval and not parsed.final:
                out[-1] = parsed  # a bar redrawn at the same step: its last state
            else:
                out.append(parsed)
        for parsed in out:
            self._count(parsed)
        return [p for p in out if p.values or p.final]

    def _count(self, parsed: Parsed) -> None:
        """A step for a line of a format that has none (the lines read so far)."""
        if not parsed.final:
            if parsed.step is None:
                parsed.step = self.last_step + 1 if not parsed.eval else max(1, self.last_step)
            self.last_step = max(self.last_step, parsed.step)

    def _one(self, text: str) -> Parsed | None:
        if self._parse is not None:
            return self._parse(text)
        if self.mode != "auto":
            return None
        # the fallback last, wherever it sits in the registry (an adapter registered after
        # it must still be found)
        for name in sorted(ADAPTERS, key=lambda n: n == FALLBACK):
            words, parse = ADAPTERS[name]
            parsed = parse(text)
            if parsed is not None:
                if name != FALLBACK:
                    self._parse = parse
                self.name, self.words = name, words
                return parsed
        return None


def parse_log_format(text: str) -> object:
    """``--log-format``'s words as a spec's ``log_format``: a name, or ``regex:PATTERN``."""
    if text.startswith("regex:"):
        return {"regex": text[len("regex:"):]}
    return text


def make_adapter(log_format: object) -> LogAdapter:
    """The adapter for a spec's ``log_format``: a name, ``auto``, ``protocol`` or
    ``{"regex": "..."}``."""
    if isinstance(log_format, dict) and "regex" in log_format:
        return LogAdapter("regex", str(log_format["regex"]))
    return LogAdapter(str(log_format or "auto"))
