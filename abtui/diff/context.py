"""What the category modules compare: two runs' facts, as a pair, with the treatment.

``RunFacts`` gathers, for one run (an arm's replicate), everything the diff looks at:
the runner's env record, the manifest's entry, the image identity and the telemetry
summary. ``RunPair`` is two of them plus the rules: which keys are the treatment, and
whether the two runs are replicates of one arm (where only the seed may differ).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from abtui.diff import categories
from abtui.diff.findings import INFO, WARNING, Finding, Severity
from abtui.infra.secrets import MASK, is_secret_name


def names_category(entry: str) -> bool:
    """Does a treatment entry name a finding key of another category than config
    (``treatment: [envvar.NCCL_ALGO]`` makes that variable the intended difference)? The
    words are the registered categories' (``categories.treatment_words``)."""
    prefixes, names = categories.treatment_words()
    return entry in names or entry.startswith(prefixes)


@dataclass
class RunFacts:
    """Everything known about one run that the diff compares."""

    run_id: str
    arm: str
    replicate: int = 0
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the manifest's resolved config
    env: dict[str, Any] | None = None  # the runner's env record
    spec_env: dict[str, Any] = field(default_factory=dict)  # env the spec asked for (masked)
    command: list[str] | None = None
    image: dict[str, Any] | None = None  # normalised image identity (see image.py)
    image_ref: str | None = None  # the image as the spec named it (tag or digest)
    telemetry: dict[str, Any] | None = None  # the run's telemetry summary
    inspect: dict[str, Any] = field(default_factory=dict)  # backend facts about the arm
    source: str = ""  # where the run lives, for messages of `abtui diff` (a run dir name)
    secret_digests: dict[str, str] = field(default_factory=dict)  # keyed hashes made at launch
    writes: tuple[str, ...] | None = None  # files its processes wrote outside $ABTUI_OUT
    cwd: str | None = None  # where it started (for messages)

    @property
    def numerics(self) -> dict[str, Any] | None:
        """The precision / determinism state training ran with: the reporter's record at
        the first logged step (a script may change it after start-up), else at start."""
        env = self.env or {}
        for key in ("numerics_at_first_step", "numerics"):
            value = env.get(key)
            if isinstance(value, dict):
                return value
        return None

    @property
    def env_config(self) -> dict[str, Any] | None:
        """The config the runner says it ran with, if it said."""
        env = self.env or {}
        cfg = env.get("config")
        return cfg if isinstance(cfg, dict) else None


def _norm(key: str) -> str:
    return key.replace("-", "_")


class Treatment:
    """The keys meant to differ. ``model`` covers ``model`` and ``model.*``; dashes and
    underscores are the same (``batch-size`` is ``batch_size``, as argparse sees it)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
        self._norm = tuple(_norm(k) for k in self.keys)

    def covers_config(self, dotted: str) -> bool:
        k = _norm(dotted)
        return any(k == t or k.startswith(t + ".") for t in self._norm)

    @staticmethod
    def _in_config(n: str, cfg: set[str]) -> bool:
        return any(c == n or c.startswith(n + ".") for c in cfg)

    def config_entries(self, config_keys: Iterable[str] = ()) -> tuple[str, ...]:
        """Treatment entries meant as config keys: all but those naming another category
        (``envvar.X``, ``image`` ...) that are not config keys of the runs."""
        cfg = {_norm(c) for c in config_keys}
        return tuple(t for t, n in zip(self.keys, self._norm, strict=True)
                     if not names_category(t) or self._in_config(n, cfg))

    def covers_finding(self, key: str, config_keys: Iterable[str] = ()) -> bool:
        """A non-config finding key (``envvar.NCCL_ALGO``, ``image.digest``) named by an
        entry that is not also a config key of the runs."""
        cfg = {_norm(c) for c in config_keys}
        for t, n in zip(self.keys, self._norm, strict=True):
            if not names_category(t) or self._in_config(n, cfg):
                continue  # "data.path" here is a config key, not the data category
            if key == t or key.startswith(t + "."):
                return True
        return False


@dataclass
class RunPair:
    """Two runs to compare: two arms at one replicate index, or two replicates of one arm."""

    a: RunFacts
    b: RunFacts
    treatment: Treatment
    within_arm: bool = False
    arms: tuple[str, str] = ("", "")
    config_keys: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.arms == ("", ""):
            if self.within_arm:
                self.arms = (self.a.run_id, self.b.run_id)
            else:
                self.arms = (self.a.arm, self.b.arm)

    @property
    def la(self) -> str:
        return self.arms[0]

    @property
    def lb(self) -> str:
        return self.arms[1]

    @property
    def where(self) -> str:
        """Prefix of a sentence: ``inside arm B, `` for replicates, empty for arms."""
        return f"inside arm {self.a.arm}, " if self.within_arm else ""

    def intended(self, key: str) -> bool:
        """Is a non-config finding key part of the treatment (never inside one arm)?"""
        return not self.within_arm and self.treatment.covers_finding(key, self.config_keys)

    def finding(self, key: str, category: str, a: Any, b: Any, message: str,
                severity: Severity = WARNING, detail: str | None = None,
                intended: bool | None = None) -> Finding:
        """A finding for this pair; intended ones are info and say they are the treatment."""
        if intended is None:
            intended = self.intended(key)
        if intended:
            severity = INFO
            message = f"{message} (the treatment)"
        return Finding(key=key, category=category, a=a, b=b, intended=intended,
                       severity=severity, message=message, arms=self.arms,
                       detail=detail)


def mask_value(name: str, value: Any) -> Any:
    """``***`` for a set value whose name looks secret; the value otherwise."""
    if is_secret_name(str(name).rsplit(".", 1)[-1]) and value not in (None, ""):
        return MASK
    return value


class SecretScrubber:
    """Removes known secret values from any text a finding carries (belt and braces:
    a token can leak into an argv, a label or a committed file)."""

    MIN_LEN = 4  # shorter values would blank out ordinary words and numbers

    def __init__(self) -> None:
        self.values: set[str] = set()

    def collect(self, mapping: Any, prefix: str = "") -> None:
        """Remember the values of secret-looking names in a (nested) dict or NAME=value list."""
        if isinstance(mapping, dict):
            for k, v in mapping.items():
                if isinstance(v, (dict, list)):
                    self.collect(v, f"{prefix}{k}.")
                elif is_secret_name(str(k)) and isinstance(v, str) and v and v != MASK:
                    self._add(v)
        elif isinstance(mapping, list):
            for item in mapping:
                if isinstance(item, str) and "=" in item:
                    name, _, value = item.partition("=")
                    if is_secret_name(name) and value and value != MASK:
                        self._add(value)
                elif isinstance(item, (dict, list)):
                    self.collect(item, prefix)

    def _add(self, value: str) -> None:
        if len(value) >= self.MIN_LEN:
            self.values.add(value)

    def text(self, s: str | None) -> str | None:
        if not s or not self.values:
            return s
        for v in sorted(self.values, key=len, reverse=True):
            if v in s:
                s = s.replace(v, MASK)
        return s

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, tuple):
            return tuple(self.value(x) for x in v)
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        return v

    def finding(self, f: Finding) -> Finding:
        if not self.values:
            return f
        return Finding(key=f.key, category=f.category, a=self.value(f.a), b=self.value(f.b),
                       intended=f.intended, severity=f.severity, message=self.text(f.message) or "",
                       arms=f.arms, detail=self.text(f.detail))


def pairs_of(names: Sequence[str], baseline: str) -> list[tuple[str, str]]:
    """Baseline against each other name; with more than two, every pair (baseline first)."""
    ordered = [baseline, *[n for n in names if n != baseline]] if baseline in names else list(names)
    if len(ordered) <= 2:
        return [(ordered[0], o) for o in ordered[1:]]
    out = []
    for i, x in enumerate(ordered):
        for y in ordered[i + 1:]:
            out.append((x, y))
    return out
