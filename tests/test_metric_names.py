"""One alias table (abtui.infra.metric_names) for every reader of other tools' metric names:
each reader's names are that table's, and where one name means two things (Hugging Face's
``train_loss``: the run's mean in its text log, a step's loss elsewhere) each reader reads
it as it means there."""

from __future__ import annotations

from abtui.adapters import hf, named
from abtui.infra import metric_names as mn
from abtui.ingest.files.names import canonical
from abtui.integrations import names as callbacks


def test_every_reader_takes_its_names_from_the_one_table() -> None:
    assert mn.renames(mn.CALLBACKS) == callbacks.RENAME
    assert mn.renames(mn.HF_TEXT) == hf.RENAME
    assert {k: v for k, v in named.KNOWN.items() if k != v} == mn.renames(mn.TEXT)
    readers = {mn.FILES, mn.CALLBACKS, mn.TEXT, mn.HF_TEXT}
    assert all(a.where and a.where <= readers for a in mn.ALIASES)
    assert {a.name for a in mn.ALIASES} == {mn.LOSS, mn.ACCURACY, mn.LR, mn.THROUGHPUT}


def test_train_loss_is_a_step_loss_except_in_hugging_faces_summary_line() -> None:
    # a CSV column: kept, and also the loss; a callback's or a text log's value: the loss
    assert canonical({"train_loss": 0.4}) == {"train_loss": 0.4, "loss": 0.4}
    assert canonical({"loss": 0.3, "train_loss": 0.4})["loss"] == 0.3  # never over its own
    assert callbacks.numbers({"train_loss": 0.4, "learning_rate": 1e-3}) == {"loss": 0.4,
                                                                              "lr": 1e-3}
    parsed = named.parse("step 20 train_loss: 0.31 acc: 85%")
    assert parsed is not None and parsed.values == {"loss": 0.31, "accuracy": 0.85}
    # the Trainer's last line: train_loss is the mean of the run, never a loss point
    final = hf.parse("{'train_runtime': 12.5, 'train_samples_per_second': 80.0, "
                     "'train_loss': 0.69, 'epoch': 1.0}")
    assert final is not None and final.final and "loss" not in final.values
    step = hf.parse("{'loss': 0.5, 'learning_rate': 0.0001, 'epoch': 0.1}")
    assert step is not None and step.values == {"loss": 0.5, "lr": 0.0001, "epoch": 0.1}


def test_a_files_first_alias_present_names_the_metric() -> None:
    row = {"Loss/train": 2.0, "train_loss_epoch": 3.0, "val/acc": 0.5, "throughput": 90.0}
    out = canonical(row)
    assert (out["loss"], out["accuracy"], out[mn.THROUGHPUT]) == (2.0, 0.5, 90.0)
