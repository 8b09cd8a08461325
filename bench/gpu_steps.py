"""The GPU check's plumbing and its first steps (wheels, doctor, verify, trace); the A/B, the
console and the benchmarks are in ``gpu_steps_run.py``. See ``gpu_check.py``.

Everything a step starts runs in a subprocess with ``Check.env()`` (the carried wheels and
the repository on PYTHONPATH; in the dry run the fake NVML first), its output in
``logs/<name>.log``, under a hard timeout that kills its whole process group.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FAKE = REPO / "bench" / "gpu_fake"
PY = sys.executable
#: import name -> distribution, of abtui's dependencies the GPU machine may lack (it has
#: torch with CUDA, numpy, nvidia-ml-py, psutil and pyyaml)
CARRIED = {"textual": "textual", "docker": "docker", "msgspec": "msgspec", "pydantic": "pydantic",
           "prometheus_client": "prometheus-client", "crc32c": "crc32c"}
PRESENT = {"torch": "torch", "numpy": "numpy", "pynvml": "nvidia-ml-py", "psutil": "psutil",
           "yaml": "pyyaml"}


@dataclass
class Outcome:
    """What one step did: passed (True), failed (False) or was not run (None)."""

    name: str
    ok: bool | None
    seconds: float
    budget: float
    note: str
    report: str = ""  # markdown for summary.md
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Check:
    """One run of the check: where it writes, whether it is the dry run, what it learnt."""

    out: Path
    dry: bool
    gpu: int
    wheelhouse: Path
    site: Path
    install_all: bool = False
    facts: dict[str, Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        paths = ([str(FAKE)] if self.dry else []) + \
                ([str(self.site)] if self.site.is_dir() else []) + [str(REPO)]
        old = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths + ([old] if old else [])),
                   CUDA_DEVICE_ORDER="PCI_BUS_ID", PYTHONUNBUFFERED="1")
        if self.dry:
            env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return env

    @property
    def bin(self) -> Path:
        """The dry run's ``nvidia-smi`` (a wrapper of bench/gpu_fake/nvidia_smi.py)."""
        path = self.out / "bin"
        smi = path / "nvidia-smi"
        if self.dry and not smi.exists():
            path.mkdir(parents=True, exist_ok=True)
            smi.write_text(f"#!/bin/sh\nexec {shlex.quote(PY)} "
                           f"{shlex.quote(str(FAKE / 'nvidia_smi.py'))} \"$@\"\n")
            smi.chmod(0o755)
        return path

    @property
    def nvidia_smi(self) -> str:
        return str(self.bin / "nvidia-smi") if self.dry else "nvidia-smi"

    def sh(self, name: str, argv: list[str], timeout: float, cwd: Path = REPO,
           env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run ``argv``; its output (stdout and stderr) in ``logs/<name>.log`` and returned.
        124 when it ran past ``timeout`` (its process group is killed)."""
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as sink:
            sink.write(f"$ {shlex.join(argv)}\n".encode())
            sink.flush()
            proc = subprocess.Popen(argv, cwd=cwd, env=env or self.env(), stdout=sink,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=max(1.0, timeout))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = 124
        return rc, log.read_text(errors="replace")

    def python(self, name: str, code: str, *args: str, timeout: float = 60) -> tuple[int, str]:
        return self.sh(name, [PY, "-c", code, *args], timeout)

    def gpu_slug(self) -> str:
        """``h100-80gb-hbm3`` from the GPU's name; the dry run's begins ``dryrun-``."""
        name = str(self.facts.get("gpu_name") or "unknown-gpu")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-").removeprefix("nvidia-")
        return f"dryrun-{slug}" if self.dry else slug


@dataclass(frozen=True)
class Step:
    """A step: its name, its budget on the GPU machine and in the dry run, what it does."""

    name: str
    seconds: float
    dry_seconds: float
    run: Callable[[Check, float], Outcome]

    def budget(self, dry: bool) -> float:
        return self.dry_seconds if dry else self.seconds


# -- wheels -------------------------------------------------------------------------------

_PROBE = ("import importlib.util, json, sys\n"
          "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]))")


def _missing(check: Check, name: str, modules: list[str]) -> list[str]:
    rc, text = check.python(name, _PROBE, *modules)
    lines = [ln for ln in text.splitlines() if ln.startswith("[")]
    if rc != 0 or not lines:
        raise RuntimeError(f"could not probe the modules: {text[-300:]}")
    return list(json.loads(lines[-1]))


def prepare_wheelhouse(dest: Path, pythons: list[str]) -> int:
    """Here, with network: the wheels of ``CARRIED`` (the versions installed here, their
    dependencies too) for each Python, Linux x86-64, and ``versions.json``."""
    dest.mkdir(parents=True, exist_ok=True)
    versions = {dist: metadata.version(dist) for dist in CARRIED.values()}
    for version in pythons:
        argv = [PY, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest",
                str(dest), "--implementation", "cp", "--python-version", version,
                "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
                "--platform", "manylinux_2_28_x86_64",
                *(f"{d}=={v}" for d, v in versions.items())]
        if subprocess.run(argv).returncode != 0:
            print(f"gpu_check: pip download for Python {version} failed", file=sys.stderr)
            return 1
    (dest / "versions.json").write_text(json.dumps(versions, indent=1))
    size = sum(p.stat().st_size for p in dest.iterdir()) / 2**20
    print(f"{dest}: {len(list(dest.glob('*.whl')))} wheels, {size:.1f} MiB, for Python "
          f"{', '.join(pythons)}")
    return 0


def unpack_wheels(house: Path, site: Path) -> int:
    """Without pip: every wheel of the wheelhouse that fits this Python unpacked into
    ``site`` (the newest of each project). A wheel is a zip laid out as site-packages; the
    wheelhouse holds exactly the carried projects and their dependencies, so nothing is
    left to resolve. The number of wheels unpacked."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    best: dict[str, tuple[str, Path]] = {}
    for wheel in sorted(house.glob("*.whl")):
        project, version, *_, py, abi, plat = wheel.stem.split("-")
        fits = (py, abi, plat) == ("py3", "none", "any") or py == tag == abi
        if fits and (project not in best or _version(version) > _version(best[project][0])):
            best[project] = (version, wheel)
    site.mkdir(parents=True, exist_ok=True)
    for _, wheel in best.values():
        with zipfile.ZipFile(wheel) as z:
            z.extractall(site)
    return len(best)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def wheels(check: Check, budget: float) -> Outcome:
    needed = [*CARRIED, *PRESENT]
    before = _missing(check, "wheels-probe", needed)
    absent = [m for m in before if m in PRESENT]
    install = list(CARRIED) if check.install_all else [m for m in before if m in CARRIED]
    rows = ["| module | before | after |", "|---|---|---|"]
    if install:
        versions_file = check.wheelhouse / "versions.json"
        if not versions_file.is_file():
            return Outcome("wheels", False, 0, budget,
                           f"missing {', '.join(install)} and no wheelhouse at "
                           f"{check.wheelhouse}: run `python bench/gpu_check.py "
                           f"--prepare-wheelhouse .gpu-wheelhouse` here and carry it")
        versions = json.loads(versions_file.read_text())
        shutil.rmtree(check.site, ignore_errors=True)
        if check.python("wheels-pip", "import pip")[0] != 0:
            n = unpack_wheels(check.wheelhouse, check.site)
            rc, text = (0, "") if n else (1, "no wheel in the wheelhouse fits this Python")
        else:
            rc, text = check.sh("wheels-install", [
                PY, "-m", "pip", "install", "--quiet", "--no-index",
                "--disable-pip-version-check", "--no-warn-script-location",
                "--find-links", str(check.wheelhouse), "--target", str(check.site),
                *(f"{CARRIED[m]}=={versions[CARRIED[m]]}" for m in install)], budget)
        if rc != 0:
            return Outcome("wheels", False, 0, budget,
                           f"pip install from the wheelhouse failed (rc {rc}): {text[-300:]}")
    after = _missing(check, "wheels-probe-after", needed)
    for m in needed:
        rows.append(f"| {m} | {'missing' if m in before else 'present'} | "
                    f"{'MISSING' if m in after else ('installed' if m in install else 'present')} |")
    ok = not after
    note = (f"installed {', '.join(install)} into {check.site}" if install else "nothing missing")
    if absent:
        note += f"; the machine lacks {', '.join(absent)} (not carried)"
    if after:
        note += f"; still missing: {', '.join(after)}"
    return Outcome("wheels", ok, 0, budget, note, "\n".join(rows))


# -- doctor and verify ----------------------------------------------------------------------

def doctor(check: Check, budget: float) -> Outcome:
    rc, text = check.sh("doctor", [PY, "-m", "abtui", "doctor"], budget)
    body = text.split("\n", 1)[-1]
    nvml = [ln for ln in body.splitlines() if ln.startswith("nvml")]
    ok = rc == 0 and bool(nvml) and " ok " in nvml[0] + " "
    return Outcome("doctor", ok, 0, budget, nvml[0] if nvml else f"rc {rc}, no nvml line",
                   f"```\n{body.strip()}\n```")


def _gpu_name(xml_text: str, index: int) -> str | None:
    gpus = ET.fromstring(xml_text).findall("gpu")
    if index >= len(gpus):
        return None
    el = gpus[index].find("product_name")
    return el.text.strip() if el is not None and el.text else None


def verify(check: Check, budget: float) -> Outcome:
    rc, text = check.sh("nvidia-smi", [check.nvidia_smi, "-q", "-x"], 30)
    xml_text = text.split("\n", 1)[-1]
    (check.out / "nvidia-smi.xml").write_text(xml_text)
    try:
        check.facts["gpu_name"] = _gpu_name(xml_text, check.gpu)
    except ET.ParseError as exc:
        return Outcome("verify", False, 0, budget, f"nvidia-smi -q -x is not XML: {exc}")
    rc, text = check.sh("verify", [PY, "-m", "abtui.telemetry.verify", "--nvidia-smi",
                                   check.nvidia_smi], budget)
    table = text.split("\n", 1)[-1].strip()
    bad = [ln.split()[0] for ln in table.splitlines() if ln.rstrip().endswith(" NO")]
    note = "every compared field matches" if rc == 0 else (
        f"rc {rc}; mismatched: {', '.join(bad) or 'see logs/verify.log'}")
    return Outcome("verify", rc == 0, 0, budget, note, f"```\n{table}\n```",
                   ["nvidia-smi.xml", "logs/verify.log"])


# -- trace ----------------------------------------------------------------------------------

def train_command(check: Check, steps: int = 1_000_000) -> list[str]:
    """ResNet-50 on synthetic images with bf16 AMP (the dry run: the small CNN on the CPU)."""
    size = ["--model", "cnn", "--image-size", "16", "--batch-size", "8", "--num-classes", "10",
            "--device", "cpu", "--threads", "1"] if check.dry else [
            "--model", "resnet50", "--image-size", "224", "--batch-size", "128",
            "--channels-last", "--device", "cuda"]
    return [PY, "-u", str(REPO / "runners" / "train.py"), "--dataset", "synthetic", *size,
            "--amp", "--amp-dtype", "bf16", "--steps", str(steps), "--log-interval", "20"]


_TRACE_SUMMARY = """
import json, sys
from abtui.telemetry.samples import read_samples
from abtui.telemetry.summary import confounds, summarize
from abtui.telemetry.reasons import describe
samples = list(read_samples(sys.argv[1]))
gpus = [g for s in samples for g in s.get("gpus", []) if g.get("index") == int(sys.argv[2])]
masks = sorted({g["reasons"] for g in gpus if g.get("reasons") is not None})
clocks = [g["sm_clock_mhz"] for g in gpus if g.get("sm_clock_mhz")]
power = [g["power_w"] for g in gpus if g.get("power_w")]
print(json.dumps({"samples": len(samples), "gpu_samples": len(gpus),
                  "owned": sum(1 for g in gpus if g.get("run")),
                  "reasons": [[m, describe(m)] for m in masks],
                  "sm_clock": [min(clocks), max(clocks)] if clocks else None,
                  "power_w": [min(power), max(power)] if power else None,
                  "confounds": confounds(summarize(samples))}))
"""


def trace(check: Check, budget: float) -> Outcome:
    seconds, idle = (14, 2) if check.dry else (130, 5)
    rel = f"tests/fixtures/telemetry/{check.gpu_slug()}-recorded-resnet50-then-matmul.jsonl"
    path = check.out / "repo" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    argv = [PY, "-m", "abtui.telemetry.record", str(path), "--seconds", str(seconds),
            "--interval", "1", "--process-interval", "5", "--arm", f"train={check.gpu}",
            "--load-arm", "train", "--load-gpu", str(check.gpu), "--idle", str(idle),
            "--load-cmd", shlex.join(train_command(check)), "--load", "matmul"]
    if check.dry:
        argv += ["--load-device", "cpu"]
    rc, text = check.sh("trace", argv, budget)
    if rc != 0 or not path.is_file():
        return Outcome("trace", False, 0, budget, f"record failed (rc {rc}): {text[-300:]}")
    rc, text = check.python("trace-summary", _TRACE_SUMMARY, str(path), str(check.gpu))
    found = [ln for ln in text.splitlines() if ln.startswith("{")]
    if rc != 0 or not found:
        return Outcome("trace", False, 0, budget, f"the summary failed: {text[-300:]}")
    s = json.loads(found[-1])
    check.facts["trace"] = s
    capped = any(m & 0x4 for m, _ in s["reasons"])
    ok = s["gpu_samples"] >= 0.7 * seconds and s["owned"] > 0
    note = (f"{s['samples']} samples, {s['owned']} with the GPU owned by the arm; reasons seen: "
            + ("; ".join(f"{m:#x} {words}" for m, words in s["reasons"]) or "none")
            + ("" if capped else " (0x4 SW power cap expected under the matmul: not seen)"))
    report = (f"Recorded `{rel}` ({seconds} s: {idle} s idle, ResNet-50 bf16 AMP training, "
              f"the bf16 matmul, {idle} s idle). SM clock {s['sm_clock']} MHz, power "
              f"{s['power_w']} W. Confounds said: {s['confounds'] or 'none'}.")
    return Outcome("trace", ok, 0, budget, note, report, [f"repo/{rel}"])
