"""The wheel carries the CPU quickstart (``abtui demo`` from any folder, after ``pipx install``).

Everything else is declared in pyproject.toml. The reference runner lives in ``runners/`` and
the spec in ``configs/`` (the repository, the images and the tests use them there); a wheel
gets a copy of both under ``abtui/_demo`` at build time, with the spec's workdir pointed at
that copy. An editable install reads them from the repository instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithDemo(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "abtui" / "_demo"
        (dest / "runners").mkdir(parents=True, exist_ok=True)
        for src in sorted((ROOT / "runners").glob("*.py")):
            shutil.copy2(src, dest / "runners" / src.name)
        spec = (ROOT / "configs" / "quickstart.yaml").read_text()
        spec = spec.replace("workdir: ..                    # relative to this file: the "
                            "repository root", "workdir: .                     # this folder")
        if "workdir: . " not in spec:
            raise SystemExit("setup.py: configs/quickstart.yaml's workdir line changed")
        (dest / "quickstart.yaml").write_text(spec)


setup(cmdclass={"build_py": BuildWithDemo})
