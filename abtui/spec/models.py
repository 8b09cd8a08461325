"""The experiment spec as validated models. Every field's docstring is user documentation."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from abtui.adapters import ADAPTERS
from abtui.spec.backends import BACKENDS, kind_of
from abtui.spec.design import Sequential
from abtui.spec.grid import expand
from abtui.spec.slurm import Slurm

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # \Z: no trailing newline
_SIZE = re.compile(r"^\d+(\.\d+)?[kmgKMG]?[bB]?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """Limits applied to every arm (docker backend; the local backend records them)."""

    cpus: float | None = Field(None, gt=0, description="CPU cores per arm, e.g. 4 or 1.5.")
    memory: str | None = Field(None, description="Memory limit per arm, e.g. '16g'.")
    shm: str | None = Field(None, description="Shared memory size per arm, e.g. '8g' (data loaders).")
    pids: int | None = Field(None, ge=16, description="Processes per arm (docker; default 4096).")
    capabilities: list[str] = Field(
        default_factory=list, description="Linux capabilities added back to a docker arm "
        "(every capability is dropped by default), e.g. ['SYS_PTRACE'].")

    @field_validator("memory", "shm")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v is not None and not _SIZE.match(str(v)):
            raise ValueError(f"expected a size like '512m' or '16g', got {v!r}")
        return v


class Volume(_Strict):
    """A host path mounted into every arm; read-only unless said otherwise."""

    source: str = Field(description="Host path.")
    target: str = Field(description="Path inside the arm.")
    read_only: bool = Field(True, description="Mount read-only (the default: shared data is never written).")


class Telemetry(_Strict):
    """How GPU and host telemetry is sampled."""

    interval_s: float = Field(1.0, gt=0.05, le=60, description="Seconds between samples.")
    agent_image: str | None = Field(
        None, description="An image with abtui installed, run beside each arm on a remote "
        "Docker host (hosts:) to sample its GPUs and host load there; without one, those "
        "arms' host load is not measured and fairness says so.")


class Target(_Strict):
    """Quality targets for time-to-target (steps and seconds until first reached)."""

    loss: float | None = Field(None, description="Reached when the smoothed loss falls to this value.")
    accuracy: float | None = Field(None, description="Reached when accuracy rises to this value.")


def log_formats() -> tuple[str, ...]:
    """What ``log_format`` may name: ``auto``, ``protocol`` and every registered adapter
    (``abtui.adapters.ADAPTERS``, read when a spec is checked, so an adapter registered
    there is accepted here with no second list to edit)."""
    return ("auto", "protocol", *ADAPTERS)


#: Config keys abtui appends to every command itself (``--seed``, ``--steps``).
RESERVED_CONFIG = ("seed", "steps")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> {dotted.key: value}."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def no_reserved_keys(config: dict[str, Any]) -> dict[str, Any]:
    """A config may not set what abtui passes itself: it would be silently overridden."""
    for key in RESERVED_CONFIG:
        if key in config:
            origin = ("the experiment's 'seed' field; replicate i runs with seed + i"
                      if key == "seed" else "the experiment's 'steps' field")
            raise ValueError(f"'{key}' is passed to every run by abtui itself as --{key} "
                             f"({origin}), so a {key} here would be silently overridden; "
                             f"set the experiment's '{key}' instead")
    return config


class CodeSpec(_Strict):
    """Where an arm's code comes from: a git ref of the workdir's repository."""

    git: str = Field(description="A branch, tag or commit; the arm runs it in a worktree of its own.")

    @field_validator("git")
    @classmethod
    def _ref(cls, v: str) -> str:
        if not v or v.startswith("-") or any(c.isspace() or ord(c) < 32 for c in v) or ".." in v:
            raise ValueError(f"{v!r} is not a git ref name")
        return v


class ArmSpec(_Strict):
    """One arm: the shared config plus its own overrides."""

    config: dict[str, Any] = Field(default_factory=dict, description="Overrides of the shared config.")
    gpus: list[int] = Field(default_factory=list, description="GPU indices pinned to this arm.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment for this arm.")
    image: str | None = Field(None, description="Image override (discouraged: a different image is a confound).")
    command: list[str] | None = Field(None, description="Command override (discouraged).")
    code: CodeSpec | None = Field(None, description="Run this arm's code from a git ref: {git: REF}.")

    _config = field_validator("config")(classmethod(lambda cls, v: no_reserved_keys(v)))

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, v: list[int]) -> list[int]:
        if any(g < 0 for g in v):
            raise ValueError("GPU indices are 0 or more")
        if len(set(v)) != len(v):
            raise ValueError("a GPU is listed twice")
        return v




class ExperimentSpec(_Strict):
    """An A/B experiment: arms that differ only in their treatment."""

    name: str = Field(description="Experiment name; the run directory is <name>-<timestamp>.")
    description: str = Field("", description="Free text shown in the report.")
    backend: str = Field("local", description="Where arms run: a name of "
                         "abtui.spec.backends.BACKENDS (local, docker, slurm).")
    slurm: Slurm = Field(default_factory=Slurm, description="Slurm job options (backend: slurm).")
    hosts: list[str] = Field(
        default_factory=list, description="Docker engines the arms are placed on (backend: "
        "docker): 'local', a Docker context name, or ssh://user@host; replicate i of arm k goes "
        "to host (k + i) mod len. Every host must hold the same image (by ID).")
    image: str | None = Field(None, description="Image every arm runs (docker backend); pin it by digest.")
    command: list[str] = Field(
        default_factory=lambda: ["python", "-u", "runners/train.py"],
        description="Runner command; the config is appended as --key value flags.",
    )
    workdir: str = Field(".", description="Working directory of local arms, relative to the spec file.")
    seed: int = Field(0, ge=0, description="Seed of replicate 0; replicate i uses seed + i.")
    steps: int | None = Field(None, gt=0, description="Training steps per arm (passed as "
                              "--steps with args: flags, or {steps} in a template).")
    replicates: int = Field(1, ge=1, le=100, description="Runs per arm, with seeds seed, seed+1, ...")
    sequential: Sequential | None = Field(
        None, description="Add replicate pairs until the verdict decides (replicates: auto); "
        "replicates is then the budget, max_replicates.")
    baseline: str | None = Field(None, description="The arm others are compared to (default: the first).")
    treatment: list[str] = Field(default_factory=list, description="Config keys meant to differ between arms.")
    aa: bool = Field(False, description="An A/A test: the arms are meant to be identical (else "
                     "arms that resolve to the same command and environment are refused).")
    config: dict[str, Any] = Field(default_factory=dict, description="Config shared by every arm.")
    arms: dict[str, ArmSpec] = Field(description="The arms, by name (at least two); or grid: / zip:.")
    grid_keys: list[str] = Field(
        default_factory=list, description="Set by grid: / zip: (the config keys the grid "
        "varies); write grid: {lr: [1e-4, 3e-4], optimizer: [sgd, adam]} (every combination, "
        "an arm each, named lr-0.0001_optimizer-sgd ...) or zip: {...} (values taken together).")
    rank_by: Literal["loss", "accuracy", "throughput"] | None = Field(
        None, description="The metric that ranks three or more arms (default: loss if logged, "
        "else accuracy, else throughput).")
    resources: Resources = Field(default_factory=Resources)
    volumes: list[Volume] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="Environment for every arm.")
    network: bool = Field(False, description="Give docker arms a network (off by default).")
    telemetry: Telemetry = Field(default_factory=Telemetry)
    target: Target = Field(default_factory=Target)
    warmup_steps: int | None = Field(None, ge=0, description="Steps excluded from throughput (default: first 10%).")
    concurrency: int | None = Field(
        None, ge=1, description="Runs at once (default: one per arm). Runs sharing a GPU never overlap.")
    gpus_per_run: int | None = Field(
        None, ge=1, description="Pack runs onto the GPUs of gpu_pool: each run gets this many, "
        "free ones, as it starts (arms then pin none; on Slurm, the count it asks for).")
    gpu_pool: list[int] = Field(default_factory=list, description="The GPUs runs are packed "
                                "onto with gpus_per_run, e.g. [0, 1, 2, 3].")
    log_format: str | dict[str, str] = Field(
        "auto", description="How the arms print metrics: auto (the protocol, else the first "
        "log adapter that reads a line), protocol, hf_trainer, nanogpt, nanochat, "
        "modded_nanogpt, torchtitan, timm, deepspeed, pytorch_examples, named, or "
        "{regex: '...(?P<step>\\d+)...'} (also written 'regex:...').")
    args: Literal["flags", "template", "hydra", "env"] = Field(
        "flags", description="How the config reaches the command: flags (--key value, then "
        "--seed and --steps), template ({key}, {seed}, {steps} in the command), hydra "
        "(key=value), env (ABTUI_CONFIG as JSON).")
    env_from_file: str | None = Field(
        None, description="A KEY=VALUE file (relative to the spec) whose variables every arm "
        "gets: the place for secrets; read at launch, masked everywhere, never stored.")
    pin_cpus: bool = Field(
        True, description="Give concurrent CPU arms disjoint cores when the host has enough.")
    rotate_gpus: bool = Field(
        True, description="Replicate i shifts GPU sets between arms, so no arm always gets the hot GPU.")
    stall_timeout_s: float | None = Field(None, gt=0, description="Mark an arm stalled after this long silent.")
    metrics_addr: str | None = Field(None, description="Serve a Prometheus endpoint at HOST:PORT (127.0.0.1 unless you mean otherwise).")
    metrics_arms_only: bool = Field(False, description="Export only which arm owns which GPU (dcgm-exporter already runs).")
    gates: list[str] = Field(default_factory=list, description="Pass/fail gates, e.g. 'throughput_ratio >= 0.97'.")
    allow_confounds: bool = Field(
        False, description="Gate the numbers even when the comparison is confounded or "
        "unverifiable; by default every gate then fails.")
    gate_point: bool = Field(
        False, description="Gate the point estimate where no calibrated interval exists (n = 1); "
        "by default such a gate fails closed.")

    _config = field_validator("config")(classmethod(lambda cls, v: no_reserved_keys(v)))

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, data: Any) -> Any:
        """``replicates: auto`` is ``sequential: {}`` (its defaults); with a sequential design
        ``replicates`` is its budget."""
        if not isinstance(data, dict):
            return data
        data = expand(dict(data))
        if data.get("replicates") == "auto":
            data["replicates"] = 1
            data.setdefault("sequential", {})
        seq = data.get("sequential")
        if isinstance(seq, dict):
            if data.get("replicates", 1) not in (1, seq.get("max_replicates", 8)):
                raise ValueError("replicates: with a sequential design the budget is "
                                 "sequential.max_replicates (or write replicates: auto)")
            data["replicates"] = seq.get("max_replicates", 8)
        return data

    @field_validator("log_format", mode="before")
    @classmethod
    def _regex_prefix(cls, v: Any) -> Any:
        """``regex:PATTERN`` (as ``--log-format`` takes it) is ``{regex: PATTERN}``."""
        if isinstance(v, str) and v.startswith("regex:"):
            return {"regex": v[len("regex:"):]}
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use letters, digits, '-', '_' and '.', starting with a letter or digit")
        return v

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: dict[str, ArmSpec]) -> dict[str, ArmSpec]:
        if len(v) < 2:
            raise ValueError("an A/B experiment needs at least two arms")
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"arm name {name!r}: use letters, digits, '-', '_' and '.'")
        return v

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        for h in v:
            if not re.match(r"^(ssh://[A-Za-z0-9_.-]+@?[A-Za-z0-9_.\-\[\]:]*|tcp://[A-Za-z0-9_.\-\[\]:]+"
                            r"|unix:///[^\s]+|[A-Za-z0-9][A-Za-z0-9_.+-]*)$", h):
                raise ValueError(f"host {h!r}: 'local', a Docker context name, ssh://user@host "
                                 "or tcp://host:port")
        if len(set(v)) != len(v):
            raise ValueError("a host is listed twice")
        return v

    @field_validator("command")
    @classmethod
    def _command(cls, v: list[str]) -> list[str]:
        if not v or not all(isinstance(x, str) and x for x in v):
            raise ValueError("the command is a non-empty list of strings")
        return v

    @model_validator(mode="after")
    def _cross(self) -> ExperimentSpec:
        if self.baseline is not None and self.baseline not in self.arms:
            raise ValueError(f"baseline {self.baseline!r} is not an arm ({', '.join(self.arms)})")
        kind = kind_of(self.backend)
        self._check_packing(kind.allocates_gpus)
        if self.hosts and not kind.hosts:
            raise ValueError(f"hosts: places arms on several engines (backend: "
                             f"{', '.join(k.name for k in BACKENDS.values() if k.hosts)})")
        if kind.images and not self.image and any(a.image is None for a in self.arms.values()):
            raise ValueError(f"the {self.backend} backend needs an 'image'")
        if self.args == "flags" and self.steps is None:
            raise ValueError("steps: required with args: flags (abtui passes --steps); with "
                             "args: template, hydra or env it is optional")
        if self.args == "template":
            for name, arm in self.arms.items():
                keys = {"seed", "steps", "out", *flatten(deep_merge(self.config, arm.config))}
                for word in arm.command or self.command:
                    bare = word.replace("{{", "").replace("}}", "")
                    for odd in re.findall(r"\{([^{}]*)\}", bare):
                        if not re.fullmatch(r"[A-Za-z_][\w.-]*", odd):
                            raise ValueError(f"command: {{{odd}}} (arm {name}) is not a placeholder"
                                             " (a config key, seed or steps); write {{ and }} for"
                                             " literal braces")
                    for key in re.findall(r"(?<!\{)\{([A-Za-z_][\w.-]*)\}(?!\})", word):
                        if key not in keys:
                            raise ValueError(f"command: {{{key}}} (arm {name}) is not a config "
                                             f"key, seed, steps or out")
        fmt = self.log_format
        if isinstance(fmt, dict) and set(fmt) == {"regex"}:
            try:
                re.compile(fmt["regex"])
            except (re.error, TypeError) as exc:
                raise ValueError(f"log_format: the regex does not compile: {exc}") from None
        if isinstance(fmt, dict) and set(fmt) != {"regex"}:
            raise ValueError("log_format: a name, or {regex: PATTERN}")
        if isinstance(fmt, str) and fmt not in log_formats():
            raise ValueError(f"log_format {fmt!r}: one of {', '.join(log_formats())}, "
                             "or {regex: ...}")
        counts = {len(a.gpus) for a in self.arms.values()}
        if len(counts) > 1:
            raise ValueError("every arm needs the same number of GPUs (a fair comparison)")
        coded = [a.code is not None for a in self.arms.values()]
        if any(coded):
            if not all(coded):
                raise ValueError("code: {git: REF} on every arm or on none (an arm without one "
                                 "would run the live working tree)")
            if not kind.git_arms:
                raise ValueError(f"code: {{git: REF}} arms run on the "
                                 f"{' or '.join(k.name for k in BACKENDS.values() if k.git_arms)}"
                                 f" backend (a worktree per arm); the {self.backend} backend "
                                 "does not take them yet")
            if "code" not in self.treatment:
                self.treatment.append("code")  # the code difference is what is compared
        return self

    def _check_packing(self, allocated: bool) -> None:
        if any(g < 0 for g in self.gpu_pool) or len(set(self.gpu_pool)) != len(self.gpu_pool):
            raise ValueError("gpu_pool: GPU indices, 0 or more, each once")
        if not self.gpus_per_run:
            if self.gpu_pool:
                raise ValueError("gpu_pool: with gpus_per_run (how many GPUs each run gets)")
            return
        if any(a.gpus for a in self.arms.values()):
            raise ValueError("gpus_per_run packs runs onto gpu_pool: the arms pin no gpus")
        if not allocated and len(self.gpu_pool) < self.gpus_per_run:
            raise ValueError(f"gpus_per_run {self.gpus_per_run}: gpu_pool lists "
                             f"{len(self.gpu_pool)} GPU(s); list the GPUs to pack the runs onto")

    @property
    def baseline_arm(self) -> str:
        return self.baseline or next(iter(self.arms))
