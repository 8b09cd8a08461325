"""``abtui doctor``: what is usable here, with a hint for each missing piece."""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable

from abtui.infra.errors import EXIT_ENVIRONMENT

OK, MISSING = "ok", "missing"


def _check(name: str, fn: Callable[[], tuple[bool, str, str]]) -> tuple[str, bool, str, str]:
    try:
        ok, detail, hint = fn()
    except Exception as exc:  # a check must report, not crash
        ok, detail, hint = False, f"{type(exc).__name__}: {exc}", ""
    return name, ok, detail, hint


def _docker() -> tuple[bool, str, str]:
    import docker

    try:
        client = docker.from_env(timeout=5)
        v = client.version()
    except Exception as exc:
        return (False, f"daemon not reachable ({str(exc).splitlines()[0][:80]})",
                "start dockerd (sudo systemctl start docker) or add your user to the docker group")
    runtimes = client.info().get("Runtimes", {})
    extra = " ; nvidia runtime present" if "nvidia" in runtimes else " ; no nvidia runtime"
    return True, f"Docker Engine {v.get('Version')} (API {v.get('ApiVersion')}){extra}", (
        "" if "nvidia" in runtimes else "GPU arms in containers need the NVIDIA Container Toolkit")


def _nvml() -> tuple[bool, str, str]:
    from abtui.telemetry import TelemetrySampler

    s = TelemetrySampler()
    try:
        if not s.available:
            return False, s.reason_unavailable or "NVML unavailable", (
                "install the NVIDIA driver (CPU-only is fine: telemetry is then off)")
        info = s.gpu_info()
        names = [g.get("name") for g in info.get("gpus", [])]
        return True, f"{len(names)} GPU(s), driver {info.get('driver')}: {', '.join(map(str, names))}", ""
    finally:
        s.close()


def _telemetry_cost() -> tuple[bool, str, str]:
    import threading

    from abtui.telemetry import TelemetrySampler

    s = TelemetrySampler(interval=0.05)
    stop = threading.Event()
    n = 0

    def count(_sample: object) -> None:
        nonlocal n
        n += 1
        if n >= 21:
            stop.set()

    try:
        s.run(stop, count)
        d = s.describe()
    finally:
        s.close()
    cost = d["cost"]
    return True, (f"one sample: {cost['wall_ms_mean']:.2f} ms wall, {cost['cpu_ms_mean']:.2f} ms CPU "
                  f"-> {cost['cpu_ms_mean'] / 10:.3f} % of a core at 1 Hz"), ""


def _torch() -> tuple[bool, str, str]:
    if importlib.util.find_spec("torch") is None:
        return False, "not installed in this Python", "pip install 'abtui[train]' (runners need torch)"
    out = subprocess.run([sys.executable, "-c", "import torch;print(torch.__version__, torch.cuda.is_available())"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return False, out.stderr.strip().splitlines()[-1][:100], ""
    ver, cuda = out.stdout.split()
    return True, f"torch {ver}, CUDA available: {cuda}", ""


def _nvidia_smi() -> tuple[bool, str, str]:
    path = shutil.which("nvidia-smi")
    return (path is not None, path or "not on PATH", "" if path else "comes with the NVIDIA driver")


def _slurm() -> tuple[bool, str, str]:
    if shutil.which("sbatch") is None:
        return False, "no sbatch on PATH", "backend: slurm needs Slurm's client tools on this host"
    from abtui.backends.slurm_cli import cluster_facts

    try:
        facts = cluster_facts()
    except Exception as exc:
        return False, f"controller not reachable ({str(exc)[:100]})", "is slurmctld up? (sinfo)"
    nodes = facts["nodes"] if isinstance(facts["nodes"], list) else []
    up = [n for n in nodes if str(n.get("state", "")).rstrip("*") in ("idle", "mixed", "allocated")]
    gres = sorted({str(n.get("gres")) for n in nodes if n.get("gres") not in (None, "(null)")})
    return bool(up), (f"{facts['version']}: {len(up)} of {len(nodes)} node(s) up"
                      + (f", GRES {', '.join(gres)}" if gres else ", no GPU GRES")), (
        "" if up else "no node is up (sinfo -N -l; scontrol update nodename=N state=resume)")


def _host(host: str, image: str | None, agent: str | None) -> tuple[bool, str, str]:
    from abtui.backends.docker_hosts import client_for

    try:
        client = client_for(host, timeout=20)
        version, info = client.version(), client.info()
    except Exception as exc:
        return False, f"not reachable ({str(exc).splitlines()[0][:120]})", (
            "check the URL or context, and that `docker -H HOST info` works from here")
    gpus = "nvidia runtime" if "nvidia" in (info.get("Runtimes") or {}) else "no nvidia runtime"
    parts = [f"{info.get('Name')}: Engine {version.get('Version')}, {info.get('NCPU')} cores, {gpus}"]
    ok, hint = True, ""
    for what, ref in (("image", image), ("agent", agent)):
        if not ref:
            continue
        try:
            parts.append(f"{what} {ref} = {client.images.get(ref).id.removeprefix('sha256:')[:12]}")
        except Exception:
            ok, hint = False, f"{ref} is not on this host: docker save {ref} | docker -H HOST load"
            parts.append(f"{what} {ref} MISSING")
    return ok, "; ".join(parts), hint


def spec_checks(spec_path: str) -> list[tuple[str, bool, str, str]]:
    """Where a spec's arms would run: each Docker host, or the Slurm cluster; and whether
    every host holds the same image."""
    from abtui.spec import load_spec

    spec = load_spec(spec_path)
    if spec.backend == "slurm":
        return [_check("slurm", _slurm)]
    if spec.backend != "docker":
        return []
    image = spec.image or next((a.image for a in spec.arms.values() if a.image), None)
    out = [_check(f"host {h}", functools.partial(_host, h, image, spec.telemetry.agent_image))
           for h in spec.hosts or ["local"]]
    ids = {d.split(f"image {image} = ")[1].split(";")[0] for _, ok, d, _ in out
           if image and f"image {image} = " in d}
    if len(ids) > 1:
        out.append(("same image", False, f"{image} is {len(ids)} different images across the "
                    "hosts", "load one image everywhere (docker save | docker load)"))
    return out


def doctor(spec: str | None = None) -> int:
    if spec is not None:
        checks = spec_checks(spec)
        for name, ok, detail, hint in checks:
            print(f"{name:<15} {OK if ok else MISSING:<8} {detail}")
            if hint:
                print(f"{'':<24} hint: {hint}")
        return 0 if all(ok for _, ok, _, _ in checks) else EXIT_ENVIRONMENT
    checks = [
        _check("docker", _docker),
        _check("slurm", _slurm),
        _check("nvml", _nvml),
        _check("nvidia-smi", _nvidia_smi),
        _check("torch", _torch),
        _check("telemetry cost", _telemetry_cost),
    ]
    for name, ok, detail, hint in checks:
        mark = OK if ok else MISSING
        print(f"{name:<15} {mark:<8} {detail}")
        if hint:
            print(f"{'':<24} hint: {hint}")
    print("abtui works with any subset: no Docker -> local backend; no GPU -> CPU arms, telemetry off;"
          " no Slurm -> local or docker.")
    return 0
