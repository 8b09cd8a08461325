"""abtui's metric names and every other tool's name for them: the one alias table.

Each alias says where it is read as abtui's name, because one name means different things
in different places: Hugging Face's text log prints ``train_loss`` once, at the end, as the
mean loss of the whole run (a loss point there would bend the final loss), while a CSV's
``train_loss`` column or a callback's ``train_loss`` is the loss of that step. Readers:

- ``FILES`` (``abtui.ingest.files``): a row keeps every name it came with and abtui's name
  is added from its first alias present (``with_canonical``);
- ``CALLBACKS`` (``abtui.integrations``), ``TEXT`` (the ``named`` log adapter) and
  ``HF_TEXT`` (the ``hf`` log adapter): the alias is replaced by abtui's name
  (``renames``): a record is one reading, it has no column of its own to keep.

A new alias is one ``Alias`` here (``tests/test_metric_names.py`` checks the readers use
this table). Stdlib only: adapters, ingest and the callbacks all import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LOSS, ACCURACY, LR, THROUGHPUT = "loss", "accuracy", "lr", "throughput_samples_per_sec"
FILES, CALLBACKS, TEXT, HF_TEXT = "files", "callbacks", "text", "hf text"
_STEP_WISE = frozenset({FILES, CALLBACKS, TEXT})  # read as one step's value


@dataclass(frozen=True)
class Alias:
    """``alias`` is read as abtui's ``name`` by the readers in ``where``."""

    alias: str
    name: str
    where: frozenset[str]


def _each(name: str, where: frozenset[str], *aliases: str) -> tuple[Alias, ...]:
    return tuple(Alias(a, name, where) for a in aliases)


#: In order: for a file, the first alias of a name that a row has gives abtui's name.
ALIASES: tuple[Alias, ...] = (
    *_each(LOSS, _STEP_WISE, "train_loss"),
    *_each(LOSS, frozenset({FILES}), "train_loss_step"),
    *_each(LOSS, frozenset({FILES, TEXT}), "train/loss"),
    *_each(LOSS, frozenset({FILES}), "loss/train", "Loss/train", "train_loss_epoch"),
    *_each(LOSS, frozenset({TEXT}), "training_loss"),
    *_each(ACCURACY, _STEP_WISE, "val_acc", "val_accuracy"),
    *_each(ACCURACY, frozenset({FILES}), "val/acc", "val/accuracy"),
    *_each(ACCURACY, frozenset({FILES, TEXT}), "acc"),
    *_each(ACCURACY, frozenset({FILES}), "Accuracy/val", "accuracy/val"),
    *_each(ACCURACY, frozenset({FILES, TEXT}), "test_acc"),
    *_each(ACCURACY, frozenset({CALLBACKS, TEXT, HF_TEXT}), "eval_accuracy"),
    *_each(LR, frozenset({CALLBACKS, TEXT, HF_TEXT}), "learning_rate"),
    # Lightning's ThroughputMonitor: "train/samples_per_sec" over all devices (once it has
    # a window), "train/device/samples_per_sec" for one
    *_each(THROUGHPUT, frozenset({FILES, CALLBACKS}), "samples_per_sec",
           "train/samples_per_sec", "train/device/samples_per_sec"),
    *_each(THROUGHPUT, frozenset({FILES}), "device/samples_per_sec", "train|samples_per_sec",
           "throughput"),
    *_each(THROUGHPUT, frozenset({FILES, CALLBACKS}), "train_samples_per_second"),
    *_each(THROUGHPUT, frozenset({FILES}), "Throughput/train"),
)


def renames(where: str) -> dict[str, str]:
    """alias -> abtui's name, for a reader that replaces the alias (``CALLBACKS``, ``TEXT``,
    ``HF_TEXT``)."""
    return {a.alias: a.name for a in ALIASES if where in a.where}


def aliases_of(where: str) -> dict[str, tuple[str, ...]]:
    """abtui's name -> its aliases in order, for a reader that adds the name (``FILES``)."""
    out: dict[str, tuple[str, ...]] = {}
    for a in ALIASES:
        if where in a.where:
            out[a.name] = (*out.get(a.name, ()), a.alias)
    return out


_FILE_ALIASES = aliases_of(FILES)


def with_canonical(values: Mapping[str, float]) -> dict[str, float]:
    """A file's ``values`` plus abtui's name for each alias found (the first alias of a
    name that is there; never over a value the row has under abtui's name)."""
    out = dict(values)
    for name, aliases in _FILE_ALIASES.items():
        if name not in out:
            for alias in aliases:
                if alias in values:
                    out[name] = values[alias]
                    break
    return out
