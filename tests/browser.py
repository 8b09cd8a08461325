"""Headless Chromium for the HTML report tests: Debian's ``chromium`` (``.ci/run`` installs it).

Missing Chromium is a skip here and a failure where ``ABTUI_REQUIRE_CHROMIUM=1`` (CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


@dataclass
class Page:
    dom: str
    console: list[str]  # every console message the page logged


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("ABTUI_REQUIRE_CHROMIUM") == "1":
        pytest.fail("chromium is required here (ABTUI_REQUIRE_CHROMIUM=1): apt-get install chromium")
    pytest.skip("no chromium (apt-get install chromium)")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="abtui-chromium-") as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


def open_page(path: Path, timeout: float = 90) -> Page:
    """The page's DOM after load, and the console messages it logged."""
    out = _run(["--dump-dom", path.resolve().as_uri()], timeout)
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    return Page(out.stdout, console)


def screenshot(path: Path, png: Path, size: str = "1200,2400", timeout: float = 90) -> None:
    _run([f"--screenshot={png.resolve()}", f"--window-size={size}", "--hide-scrollbars",
          path.resolve().as_uri()], timeout)
