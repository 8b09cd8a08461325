"""The abtui log protocol, spoken from a training script: one JSON object per line on stdout.

Standard library only: this file is copied next to runners inside images and may be
vendored into anyone's training script. Usage::

    from abtui import reporter          # or: import reporter  (the file copied alongside)

    reporter.env(config=vars(args), seed=args.seed)
    for step in ...:
        reporter.log(step, loss=loss, accuracy=acc)
    reporter.final(steps=n, wall_time_s=t)

Metric values that are not finite (NaN, +/-Inf) are written as ``null``; consumers count
them. Only rank 0 writes when ``RANK`` / ``LOCAL_RANK`` name another rank. The protocol is
described in docs/protocol.md and abtui/protocol.schema.json.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

PROTOCOL_VERSION = 1

#: Environment variables recorded in the env record (exact names, then prefixes).
ENV_VAR_NAMES = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
    "CUDA_LAUNCH_BLOCKING",
)
ENV_VAR_PREFIXES = ("NCCL_", "PYTORCH_", "TORCH_", "CUDA_", "CUDNN_", "KMP_", "MKL_", "OMP_")
#: Substrings of a variable's name (upper-cased) whose value is replaced by ``MASK``.
# keep in step with abtui/infra/secrets.py (this file must stay stdlib-only, so it cannot import it)
SECRET_MARKERS = ("TOKEN", "KEY", "SECRET", "PASSW", "PWD", "CREDENTIAL", "AUTH", "COOKIE",
                  "SESSION", "PRIVATE", "CONNECTION_STRING", "CONNECTIONSTRING", "CONNSTR")
#: Whole words of a name that mark it secret (as substrings they would catch PATH, BYPASS).
SECRET_WORDS = frozenset({"PAT", "PASS", "CONN", "DSN", "PW"})
_WORDS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")


def is_secret_name(name: str) -> bool:
    """WANDB_API_KEY, HF_TOKEN, DB_PASS, GH_PAT …: the rule of ``abtui.infra.secrets``."""
    upper = name.upper()
    return (any(m in upper for m in SECRET_MARKERS)
            or any(w.upper() in SECRET_WORDS for w in _WORDS.split(name) if w))
MASK = "***"

_GIT_TIMEOUT_S = 5.0
# One encoder for every record: json.dumps with non-default options builds one per call.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def config_hash(config: Mapping[str, Any]) -> str:
    """Short sha256 of a config: the same function abtui's spec layer uses."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# secret-shaped values, whatever the name (a URL's password, Bearer, prefixed tokens, Pwd=)
# keep in step with abtui/infra/secrets.py's _SHAPES (tests/test_reporter.py checks it)
SHAPES = (
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), r"\1***@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    (re.compile(r"\b(hf_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|sk-(?:proj-|ant-)?|"
                r"sk_live_|sk_test_|rk_live_|xox[abprs]-|AKIA|ASIA|npm_|pypi-)[A-Za-z0-9_\-]{8,}"),
     r"\1***"),
    (re.compile(r"(?i)\b(pwd|password|passwd)(\s*=\s*)[^;\s\"']+"), r"\1\2***"),
)


def redact_shapes(value: str) -> str:
    """``value`` with secret-shaped parts masked (the shapes of ``abtui.infra.secrets``)."""
    for pattern, repl in SHAPES:
        value = pattern.sub(repl, value)
    return value


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """Copy of ``env`` with the values of secret-looking names (TOKEN, KEY, ...) masked, and
    secret-shaped values (a URL with a password, ``hf_…``) masked whatever the name."""
    return {
        name: (MASK if is_secret_name(name) else redact_shapes(str(value)))
        for name, value in env.items()
    }


def relevant_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables that change how training runs, secrets masked."""
    environ = os.environ if environ is None else environ
    picked = {
        name: value
        for name, value in environ.items()
        if name in ENV_VAR_NAMES or name.startswith(ENV_VAR_PREFIXES)
    }
    return mask_env(dict(sorted(picked.items())))


def _finite(value: Any) -> Any:
    """A metric value as JSON can carry it: non-finite floats become None."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int or value is None:
        return value
    try:  # numpy scalars, 0-d tensors, bools, Decimal, ...
        if isinstance(value, (str, bytes)):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"metric values must be numbers, got {kind.__name__}: {value!r}"
        ) from None
    return number if math.isfinite(number) else None


def _sanitize(value: Any) -> Any:
    """Deep copy of a record body that ``json.dumps(allow_nan=False)`` accepts."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_sanitize(v) for v in value]
    if isinstance(value, (str, int, type(None))):
        return value
    try:
        return _sanitize(float(value))
    except (TypeError, ValueError):
        return str(value)


def _default_rank() -> int:
    for name in ("RANK", "LOCAL_RANK"):
        raw = os.environ.get(name)
        if raw is not None:
            try:
                return int(raw)
            except ValueError:
                return 0
    return 0


class Reporter:
    """Writes protocol records, one JSON line each, to ``stream`` (default: current sys.stdout).

    ``rank``: this process's rank (default from ``RANK`` / ``LOCAL_RANK``); when
    ``all_ranks`` is false (default) only rank 0 writes and the other calls are no-ops.
    A closed or broken stream (the monitor went away) silences the reporter instead of
    killing the training run.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        rank: int | None = None,
        all_ranks: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stream = stream
        self.rank = _default_rank() if rank is None else rank
        self.enabled = all_ranks or self.rank == 0
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp_second = -1
        self._stamp = ""
        self._numerics_sent = False

    # -- records --------------------------------------------------------------------------

    def log(self, step: int, **metrics: Any) -> None:
        """Write a metric record: ``step`` plus numeric metrics (non-finite -> null)."""
        if not self.enabled:
            return
        if not self._numerics_sent:  # the state training really ran with (set after env())
            self._numerics_sent = True
            state = _guarded(numerics)
            if state is not None:
                self.event("numerics", at_step=int(step), **state)
        record: dict[str, Any] = {"step": int(step)}
        for name, value in metrics.items():
            record[name] = _finite(value)
        record["timestamp"] = self._timestamp()
        self._write(record)

    def event(self, name: str, **fields: Any) -> None:
        """Write an event record ``{"event": name, ...fields, "timestamp": ...}``."""
        if not self.enabled:
            return
        record = {"event": name, **_sanitize(fields), "timestamp": self._timestamp()}
        self._write(record)

    def final(self, **totals: Any) -> None:
        """Write the final record with run totals (steps, wall_time_s, samples, ...)."""
        self.event("final", **totals)

    def env(
        self,
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        code_dir: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Collect and write the environment record; returns it. Never raises.

        ``code_dir`` is where the training code lives (default: the running script's
        folder); its git commit and dirty state are recorded.
        """
        record = collect_env(config=config, seed=seed, data=data, code_dir=code_dir, **extra)
        if self.enabled:
            self._write({"event": "env", **_sanitize(record), "timestamp": self._timestamp()})
        return record

    # -- output ---------------------------------------------------------------------------

    def _timestamp(self) -> str:
        now = self._clock()
        second = int(now)
        if second != self._stamp_second:  # format once per second, not per call
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
            self._stamp_second = second
        return self._stamp

    def _write(self, record: dict[str, Any]) -> None:
        line = _ENCODER.encode(record) + "\n"
        stream = self.stream if self.stream is not None else sys.stdout
        with self._lock:
            if not self.enabled:
                return
            try:
                stream.write(line)
                stream.flush()
            except (BrokenPipeError, ValueError):  # reader gone / stream closed
                self.enabled = False


# -- environment collection (once per run, so clarity over speed) ---------------------------


def _guarded(collect: Callable[[], Any]) -> Any:
    try:
        return collect()
    except Exception:  # an env record with a hole beats a crashed training run
        return None


def _git(code_dir: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", code_dir, *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(code_dir: str) -> dict[str, Any] | None:
    """Commit, dirty flag (tracked files) and root of the repo holding ``code_dir``; None if none."""
    root = _git(code_dir, "rev-parse", "--show-toplevel")
    commit = _git(code_dir, "rev-parse", "HEAD")
    if root is None:
        return None
    status = _git(code_dir, "status", "--porcelain", "--untracked-files=no") or ""
    state: dict[str, Any] = {
        "commit": commit.strip() if commit else None,  # None: a repo without commits
        "dirty": bool(status.strip()),
        "root": root.strip(),
    }
    if state["dirty"] and commit:
        diff = _git(code_dir, "diff", "HEAD") or ""
        state["diff_hash"] = hashlib.sha256(diff.encode()).hexdigest()[:16]
    return state


def script_fingerprint(path: str) -> dict[str, Any] | None:
    """Path and short sha256 of the running script: code identity where git is absent."""
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    return {"path": os.path.abspath(path), "sha256": digest}


def installed_packages() -> dict[str, str]:
    """{distribution name: version} of everything importlib.metadata can see."""
    from importlib import metadata  # once per run; keeps `import reporter` cheap

    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name and name not in packages:
            packages[name] = dist.version
    return dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))


def packages_hash(packages: Mapping[str, str]) -> str:
    """Short sha256 of the sorted ``name==version`` lines."""
    lines = sorted(f"{name.lower()}=={version}" for name, version in packages.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _driver_version() -> str | None:
    try:
        with open("/proc/driver/nvidia/version") as f:
            text = f.read()
    except OSError:
        return _nvml_driver_version()
    for word in text.split():
        parts = word.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts):
            return word
    return None


def _nvml_driver_version() -> str | None:
    import ctypes

    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    if nvml.nvmlInit_v2() != 0:
        return None
    try:
        buf = ctypes.create_string_buffer(96)
        if nvml.nvmlSystemGetDriverVersion(buf, 96) != 0:
            return None
        return buf.value.decode()
    finally:
        nvml.nvmlShutdown()


def host_facts() -> dict[str, Any]:
    """The machine the run ran on, as the process sees it: CPU model, cores (all and the
    ones this process may use), memory, kernel and container runtime."""
    cpu_model = None
    memory_mb = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8",
                                            errors="replace") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
                break
    usable = _guarded(lambda: len(os.sched_getaffinity(0)))
    return {"cpu_model": cpu_model or platform.processor() or None, "cpu_count": os.cpu_count(),
            "cpus_usable": usable, "memory_mb": memory_mb, "kernel": platform.release(),
            "container": _guarded(_container_runtime)}


def _container_runtime() -> str | None:
    """docker / podman / kubernetes / containerd when this process runs in a container."""
    if os.path.exists("/.dockerenv"):
        return "docker"
    if os.path.exists("/run/.containerenv"):
        return "podman"
    with contextlib.suppress(OSError):
        with open("/proc/1/cgroup", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for needle, name in (("kubepods", "kubernetes"), ("docker", "docker"),
                             ("containerd", "containerd"), ("libpod", "podman")):
            if needle in text:
                return name
    return None


def numerics() -> dict[str, Any] | None:
    """The precision and determinism state of torch in this process: what changes the
    numbers a run computes besides its config. None when the script has not imported torch
    (importing it here would cost seconds and hundreds of MB)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    b = torch.backends
    return {
        "cudnn_benchmark": _guarded(lambda: bool(b.cudnn.benchmark)),
        "cudnn_deterministic": _guarded(lambda: bool(b.cudnn.deterministic)),
        "cudnn_allow_tf32": _guarded(lambda: bool(b.cudnn.allow_tf32)),
        "cuda_matmul_allow_tf32": _guarded(lambda: bool(b.cuda.matmul.allow_tf32)),
        "float32_matmul_precision": _guarded(torch.get_float32_matmul_precision),
        "deterministic_algorithms": _guarded(torch.are_deterministic_algorithms_enabled),
        "default_dtype": _guarded(lambda: str(torch.get_default_dtype()).removeprefix("torch.")),
        "num_threads": _guarded(torch.get_num_threads),
    }


def _torch_versions() -> dict[str, Any]:
    """torch / CUDA / cuDNN / NCCL versions and visible GPUs; empty when torch is absent.

    Reads the torch the script imported; a script that never imported it gets torch's
    installed version from its package metadata, without the import."""
    torch = sys.modules.get("torch")
    if torch is None:
        from importlib import metadata

        version = _guarded(lambda: metadata.version("torch"))
        return {"torch": version, "cuda": None, "cudnn": None, "nccl": None, "gpus": [],
                "torch_imported": False}
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": _guarded(lambda: torch.backends.cudnn.version()),
        "nccl": None,
        "gpus": [],
    }
    if not _guarded(torch.cuda.is_available):
        return info
    nccl = _guarded(lambda: torch.cuda.nccl.version())
    info["nccl"] = ".".join(map(str, nccl)) if isinstance(nccl, tuple) else nccl
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        uuid = _guarded(lambda p=props: str(p.uuid))
        if uuid and not uuid.startswith("GPU-"):
            uuid = "GPU-" + uuid
        gpus.append(
            {
                "index": index,
                "name": props.name,
                "memory_mb": props.total_memory // (1024 * 1024),
                "uuid": uuid,
                "capability": f"{props.major}.{props.minor}",
            }
        )
    info["gpus"] = gpus
    return info


def collect_env(
    config: Mapping[str, Any] | None = None,
    seed: int | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    code_dir: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The environment record's body (without ``event`` / ``timestamp``). Never raises."""
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    if code_dir is None:
        code_dir = os.path.dirname(os.path.abspath(script)) if script else os.getcwd()
    packages = _guarded(installed_packages) or {}
    record: dict[str, Any] = {"protocol": PROTOCOL_VERSION, "python": platform.python_version()}
    record.update(
        _guarded(_torch_versions)
        or {"torch": None, "cuda": None, "cudnn": None, "nccl": None, "gpus": []}
    )
    record.update(
        {
            "driver": _guarded(_driver_version),
            "hostname": _guarded(socket.gethostname),
            "platform": _guarded(platform.platform),
            "git": _guarded(lambda: git_state(code_dir)),
            "script": _guarded(lambda: script_fingerprint(script)),
            "seed": seed,
            "config": dict(config) if config is not None else None,
            "config_hash": _guarded(lambda: config_hash(config)) if config is not None else None,
            "packages_hash": _guarded(lambda: packages_hash(packages)),
            "packages": packages,
            "data": dict(data) if data is not None else None,
            "env_vars": _guarded(relevant_env) or {},
            "numerics": _guarded(numerics),
            "host": _guarded(host_facts),
        }
    )
    record.update(extra)
    return record


# -- module-level API over one default reporter ---------------------------------------------

_default = Reporter()


def default_reporter() -> Reporter:
    """The Reporter behind the module-level functions."""
    return _default


def env(
    config: Mapping[str, Any] | None = None,
    seed: int | None = None,
    data: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Write the environment record (once, at start); returns it. Never raises."""
    return _default.env(config=config, seed=seed, data=data, **extra)


def log(step: int, **metrics: Any) -> None:
    """Write a metric record: ``log(100, loss=2.15, accuracy=0.67)``."""
    _default.log(step, **metrics)


def final(**totals: Any) -> None:
    """Write the final record: ``final(steps=600, wall_time_s=31.2, samples=38400)``."""
    _default.final(**totals)


def event(name: str, **fields: Any) -> None:
    """Write any other event record: ``event("checkpoint", path="ckpt.pt")``."""
    _default.event(name, **fields)


def observe(script: str) -> dict[str, Any]:
    """The env record abtui takes itself, for a script that prints none: run by path in the
    arm's interpreter, working directory and environment before the arm starts
    (``python reporter.py --observe SCRIPT``). Versions, packages, git state and host of
    what the arm will run with; nothing of its runtime state (no numerics)."""
    sys.argv = [script] if script else [""]
    code_dir = os.path.dirname(os.path.abspath(script)) if script else os.getcwd()
    return {"event": "env", **_sanitize(collect_env(code_dir=code_dir, observed_by="abtui"))}


if __name__ == "__main__" and sys.argv[1:2] == ["--observe"]:
    print(_ENCODER.encode(observe(sys.argv[2] if len(sys.argv) > 2 else "")))
