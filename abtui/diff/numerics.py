"""Precision and determinism: the torch settings that change the numbers a run computes.

TF32 matmuls, cuDNN autotuning, deterministic algorithms, the default dtype and the CPU
thread count are set in code, not in a config, so two arms with the same config can still
compute differently. The reporter records them at start and again at the first logged step
(what training really ran with); any difference outside the treatment is a confound. A
treatment that names the setting (``tf32``, ``deterministic``, ``cudnn_benchmark``,
``num_threads``/``threads``, ``dtype``, or ``numerics.<field>``) makes it intended.
"""

from __future__ import annotations

from abtui.diff.context import RunPair
from abtui.diff.findings import WARNING, Finding, show

CATEGORY = "environment"
WORDS = {
    "cudnn_benchmark": "cuDNN autotuning (cudnn.benchmark)",
    "cudnn_deterministic": "cudnn.deterministic",
    "cudnn_allow_tf32": "TF32 in cuDNN (cudnn.allow_tf32)",
    "cuda_matmul_allow_tf32": "TF32 matmuls (cuda.matmul.allow_tf32)",
    "float32_matmul_precision": "float32 matmul precision",
    "deterministic_algorithms": "deterministic algorithms",
    "default_dtype": "the default dtype",
    "num_threads": "torch's CPU thread count",
}
#: Config names that mean a numerics field (a treatment naming one intends the field).
ALIASES = {
    "tf32": ("cudnn_allow_tf32", "cuda_matmul_allow_tf32", "float32_matmul_precision"),
    "matmul_precision": ("float32_matmul_precision",),
    "deterministic": ("cudnn_deterministic", "deterministic_algorithms"),
    "cudnn_benchmark": ("cudnn_benchmark",), "benchmark": ("cudnn_benchmark",),
    "threads": ("num_threads",), "num_threads": ("num_threads",),
    "dtype": ("default_dtype",), "precision": ("float32_matmul_precision", "default_dtype"),
}


def _intended(pair: RunPair, field: str) -> bool:
    if pair.within_arm:
        return False
    for key in pair.treatment.keys:
        name = key.replace("-", "_").rsplit(".", 1)[-1]
        if key == f"numerics.{field}" or field in ALIASES.get(name, ()):
            return True
    return False


def numerics_findings(pair: RunPair) -> list[Finding]:
    """One finding per precision / determinism setting that differs between the runs."""
    na, nb = pair.a.numerics, pair.b.numerics
    if na is None or nb is None:
        return []
    out = []
    for field in sorted(set(na) | set(nb)):
        va, vb = na.get(field), nb.get(field)
        if va == vb:
            continue
        words = WORDS.get(field, field)
        out.append(pair.finding(
            f"numerics.{field}", CATEGORY, va, vb,
            f"{pair.where}{words} differs ({pair.la}: {show(va)}, {pair.lb}: {show(vb)})",
            WARNING, intended=_intended(pair, field)))
    return out
