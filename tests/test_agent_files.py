"""The telemetry agent's image holds abtui/__init__.py, abtui/reporter.py and
abtui/telemetry/*.py alone (tests/images/build.sh, build_agent): the agent must start
from exactly those files, on a machine where nothing else of abtui is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_agent_starts_from_the_files_its_image_holds(tmp_path) -> None:
    pkg = tmp_path / "abtui"
    (pkg / "telemetry").mkdir(parents=True)
    for name in ("__init__.py", "reporter.py"):
        shutil.copy(REPO / "abtui" / name, pkg / name)
    for f in (REPO / "abtui" / "telemetry").glob("*.py"):
        shutil.copy(f, pkg / "telemetry" / f.name)
    # -I -S: no site-packages, so no editable install of this repo; psutil is found
    # through its own folder, given explicitly, as the image installs it
    import psutil  # the agent's own dependency, present in the dev venv

    deps = [str(Path(psutil.__file__).resolve().parent.parent)]
    root = str(tmp_path)
    code = (f"import sys; sys.path[:0] = [{root!r}, *{deps!r}]; import abtui.telemetry.node, "
            "abtui.telemetry.sampler, abtui.telemetry.samples; "
            f"assert abtui.__file__.startswith({root!r}), abtui.__file__; print('ok')")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
