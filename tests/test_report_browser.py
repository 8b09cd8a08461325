"""report.html opened for real in headless Chromium: offline, no console messages, and the
verdict's words and intervals on the page."""

from __future__ import annotations

import html
import re
from pathlib import Path

from browser import open_page, screenshot
from test_report import fabricate

from abtui.diff.fairness import Fairness
from abtui.experiment import Experiment
from abtui.report import build_report, write_reports


def _text(dom: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


def test_replicated_report_renders_with_its_statistics(tmp_path: Path) -> None:
    rd = fabricate(tmp_path, replicates=3)
    report = build_report(Experiment.attach(rd.root, follow=False),
                          gates=["throughput_ratio >= 0.97"],
                          fairness=Fairness("fair", [], ["only amp"]))
    page_path = write_reports(rd, report)["html"]
    page = open_page(page_path)
    assert page.console == []
    text = _text(page.dom)
    assert "95 % CI" in text and "Holm p" in text and "MDE (80 % power)" in text
    assert re.search(r"throughput \+[\d.]+ % \(95 % CI \+[\d.]+…\+[\d.]+ %, p [=<] [\d.]+, "
                     r"Holm-adjusted p [=<] [\d.]+ over 3 effects, 3 vs 3 runs; significant; "
                     r"P\(a run beats the baseline's\) [\d.]+ \(95 % CI [\d.]+…[\d.]+\)\)", text)
    assert "PASS throughput_ratio >= 0.97" in text
    assert report["verdict"]["summary"] in text
    png = tmp_path / "report.png"
    screenshot(page_path, png)
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_n1_report_says_within_run_only_on_the_page(tmp_path: Path) -> None:
    rd = fabricate(tmp_path, replicates=1, telemetry=False)
    report = build_report(Experiment.attach(rd.root, follow=False))
    page = open_page(write_reports(rd, report)["html"])
    assert page.console == []
    text = _text(page.dom)
    assert "within-run noise only" in text and "run-to-run variation not measured" in text
    assert "(within-run)" in text and "no (n = 1)" in text
    assert "(significant" not in text
