"""The one sanitising boundary: every string that came from an arm is made inert here.

An arm is untrusted input: its log lines, its env record (GPU names, package names, paths),
its metric names, and every finding or failure tail built from them. Each rendering path
(the console, headless output, ``abtui diff``, report.md / report.html) passes what it
shows through ``inert`` (one line) or ``inert_block`` (keeps newlines), and the store makes
records inert as they arrive (``inert_deep``); tests scan every output of a hostile arm
for escape bytes.

A training script (or anything it imports) may print ANSI colours, progress bars with
carriage returns, terminal title changes (OSC 0), clipboard writes (OSC 52) or hyperlinks
(OSC 8). Passed to the terminal they would act; here they are removed. Square brackets are
left alone: the console shows lines with ``rich.text.Text(line)``, never as markup.
"""

from __future__ import annotations

import re
from typing import Any, cast

# ESC-introduced sequences (7-bit) and their 8-bit C1 equivalents.
_OSC = r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC ... BEL | ST (or cut off)
_STRING = r"(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS SOS PM APC
_CSI = r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
_NF = r"\x1b[\x20-\x2f]+[\x30-\x7e]?"  # ESC ( B and friends (charset selection)
_FE = r"\x1b[\x30-\x7e]?"  # any other two-byte escape, or a lone ESC at the end
_ESCAPES = re.compile("|".join((_OSC, _STRING, _CSI, _NF, _FE)))

# C0 and C1 controls (tab handled separately), DEL, and the Unicode bidirectional
# overrides / isolates that can make text read differently from what it is.
# Zero-width characters and marks, and the line / paragraph separators (U+2028/9: a line
# split there could forge an ``[abtui]`` line of its own) go too.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                       "\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff\u061c]")
TAB = "    "


def inert(line: str) -> str:
    """``line`` with every escape sequence and control character removed.

    A carriage return keeps only what was printed after it (a progress bar's last state);
    tabs become four spaces. Printable text, including ``[bold]``-like brackets, is kept.
    """
    if line.isprintable():  # the common case: nothing to do
        return line
    text = _ESCAPES.sub("", line)
    if "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    return _CONTROLS.sub("", text.replace("\t", TAB))


sanitize = inert  # the name the console's widgets use


def inert_block(text: str) -> str:
    """``text`` made inert line by line, newlines kept (a report, a diff's detail)."""
    if text.isprintable():
        return text
    return "\n".join(inert(line) for line in text.split("\n"))


def shown(text: str) -> str:
    """Text as it may reach a terminal or a file a person reads: secret-shaped values
    masked (``abtui.infra.secrets.redact``), then made inert, newlines kept."""
    from abtui.infra.secrets import redact

    # inert first: a token with an escape or a control inside it is whole again, and then
    # its shape is seen and masked
    return redact(inert_block(text))


def inert_record(data: dict[str, Any]) -> dict[str, Any]:
    """``inert_deep`` of a decoded JSON object, typed as one."""
    return cast(dict[str, Any], inert_deep(data))


MAX_DEPTH = 32  # a record nested deeper is cut there (an arm may send 600 levels)
MAX_ITEMS = 1000  # items kept of one list or object
MAX_CHARS = 16384  # characters kept of one string


def inert_deep(value: object, depth: int = 0) -> object:
    """A record (dicts, lists, strings) with every string, keys included, made inert, and
    bounded: ``MAX_DEPTH`` levels, ``MAX_ITEMS`` items a container, ``MAX_CHARS`` a string
    (what is cut is said in the value, never an error)."""
    if isinstance(value, str):
        return inert(value[:MAX_CHARS]) + ("…" if len(value) > MAX_CHARS else "")
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        return f"… (nested deeper than {MAX_DEPTH} levels)"
    if isinstance(value, dict):
        out: dict[object, object] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            out[inert(k[:MAX_CHARS]) if isinstance(k, str) else k] = inert_deep(v, depth + 1)
        return out
    if isinstance(value, list):
        return [inert_deep(v, depth + 1) for v in value[:MAX_ITEMS]] + (
            [f"… {len(value) - MAX_ITEMS} more"] if len(value) > MAX_ITEMS else [])
    return value
