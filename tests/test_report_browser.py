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


def _pixels(png: Path) -> bytes:
    from PIL import Image

    with Image.open(png) as im:
        return im.convert("RGB").tobytes()


def test_five_arms_are_ranked_and_a_header_click_shows_the_table_sorted_by_it(tmp_path: Path) -> None:
    """Five arms: the ranking section with each arm's lead and interval; each arm's loss in
    a small chart of its own, all on one scale; the arms table sorts by a header's click
    with no script. Chromium shows, with a column's button checked (what a click on its
    header does), exactly that column's sorted copy and nothing else: the page is pixel for
    pixel the page with only that copy in the table's place."""
    rd = fabricate(tmp_path, replicates=3, more={"C": 0.8, "D": 1.5, "E": 1.1})
    report = build_report(Experiment.attach(rd.root, follow=False),
                          fairness=Fairness("fair", [], ["only amp"]))
    page_path = write_reports(rd, report)["html"]
    page = open_page(page_path)
    assert page.console == [] and "<script" not in page.dom
    text = _text(page.dom)
    assert "Ranking by final loss" in text and "lead over the best other" in text
    assert report["ranking"]["sentence"] in text
    source = page_path.read_text()
    assert source.count('name="sort-arms"') == 12  # the given order and one per column
    tables = re.findall(r"<table>.*?</table>", source.split('<div class="sortable">')[1])[:12]
    throughput = tables[3]  # copy 3: sorted by the throughput column, higher first
    order = re.findall(r"<tr><td>(\w)( \(baseline\))?</td>", throughput)
    assert [a for a, _ in order] == ["D", "B", "E", "A", "C"], order
    small = re.findall(r'<svg viewBox="0 0 640 300" width="330".*?</svg>', source)
    assert len(small) == 5 and "Each arm's loss, on one scale" in text
    ticks = {tuple(re.findall(r'text-anchor="end">([^<]+)</text>', svg)) for svg in small}
    assert len(ticks) == 1  # one y scale for all: the arms compare by eye
    assert sum('stroke="#bbbbbb"' in svg for svg in small) == 4  # the baseline behind the others
    shots = {}
    for k in (0, 3):
        checked = source.replace(' checked>', '>', 1).replace(
            f'id="sort-arms-{k}" aria-label', f'id="sort-arms-{k}" checked aria-label', 1)
        start, end = checked.index('<div class="sortable">'), checked.index("</div>", checked.index('<div class="sortable">'))
        only = checked[:start] + "<div>" + tables[k] + checked[end:]
        for name, html_text in (("clicked", checked), ("only", only)):
            path = tmp_path / f"{name}-{k}.html"
            path.write_text(html_text)
            screenshot(path, tmp_path / f"{name}-{k}.png", size="1200,1400")
            shots[name, k] = _pixels(tmp_path / f"{name}-{k}.png")
    assert shots["clicked", 0] == shots["only", 0]
    assert shots["clicked", 3] == shots["only", 3]
    assert shots["clicked", 3] != shots["clicked", 0]  # the click changed what is shown
