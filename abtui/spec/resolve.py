"""Resolve a spec into the concrete runs: one per arm and replicate."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from abtui.spec.backends import kind_of
from abtui.spec.models import ExperimentSpec, deep_merge, flatten


@dataclass(frozen=True)
class ArmRun:
    """One process or container to launch: an arm's replicate with everything resolved."""

    run_id: str  # "A", or "A.r1" when replicated
    arm: str
    replicate: int
    seed: int
    steps: int | None
    config: dict[str, Any]
    gpus: tuple[int, ...]
    env: dict[str, str]
    command: tuple[str, ...]  # the full argv, config flags included
    image: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


def config_hash(config: dict[str, Any]) -> str:
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def config_flags(config: dict[str, Any]) -> list[str]:
    """Config -> argv flags: ``--batch-size 64``, ``--amp`` / ``--no-amp``, JSON for lists."""
    argv: list[str] = []
    for key, value in flatten(config).items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False:
            argv.append("--no-" + flag[2:])
        elif value is None:
            continue
        elif isinstance(value, (list, dict)):
            argv += [flag, json.dumps(value)]
        else:
            argv += [flag, str(value)]
    return argv


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.-]*)\}")


def _scalar(value: Any, hydra: bool = False) -> str:
    if isinstance(value, bool):
        return ("true" if value else "false") if hydra else str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def fill_template(argv: list[str], values: dict[str, Any], strict: bool) -> list[str]:
    """``{lr}`` / ``{optim.lr}`` / ``{seed}`` / ``{steps}`` in each word replaced by its value;
    ``{{`` and ``}}`` are literal braces. ``strict``: an unknown name is a ``ValueError``
    (template mode); otherwise it is left as written."""
    out = []
    for word in argv:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name == "out" and "out" not in values:
                return m.group(0)  # the arm's output directory: filled at launch (fill_out)
            if name in values and values[name] is not None:
                return _scalar(values[name])
            if strict:
                known = ", ".join(sorted(values)) or "none"
                raise ValueError(f"command: {{{name}}} is not a config key, seed or steps "
                                 f"(known: {known})")
            return m.group(0)
        text = word.replace("{{", "\0").replace("}}", "\1")
        text = _PLACEHOLDER.sub(sub, text)
        out.append(text.replace("\0", "{").replace("\1", "}"))
    return out


def command_for(spec: ExperimentSpec, base_cmd: list[str], config: dict[str, Any],
                seed: int) -> tuple[list[str], dict[str, str]]:
    """The argv of one run and the environment it adds, by ``spec.args``."""
    values = {**flatten(config), "seed": seed, "steps": spec.steps}
    mode = spec.args
    argv = fill_template(base_cmd, values, strict=mode == "template")
    if mode == "flags":
        return argv + config_flags(config) + ["--seed", str(seed), "--steps", str(spec.steps)], {}
    if mode == "hydra":
        return argv + [f"{k}={_scalar(v, hydra=True)}" for k, v in flatten(config).items()
                       if v is not None], {}
    if mode == "env":
        return argv, {"ABTUI_CONFIG": json.dumps({**config, "seed": seed, "steps": spec.steps})}
    return argv, {}


def run_id_for(arm: str, replicate: int, replicates: int) -> str:
    return arm if replicates == 1 else f"{arm}.r{replicate}"


def start_order(names: list[str], replicate: int) -> list[str]:
    """The order the arms of one replicate start in: rotated by one each replicate (a Latin
    square over as many replicates as arms), so no arm always starts first, or always gets
    the first CPU slot (``place_on_cores`` hands slots out in start order)."""
    k = replicate % len(names) if names else 0
    return names[k:] + names[:k]


def resolve_runs(spec: ExperimentSpec) -> list[ArmRun]:
    """Every run of the experiment, interleaved replicate by replicate (A1 B1, B2 A2, A3 B3
    …: ``start_order``) so arms share conditions and none always gets the same ones."""
    runs: list[ArmRun] = []
    names = list(spec.arms)
    kind = kind_of(spec.backend)
    gpu_sets = [tuple(spec.arms[n].gpus) for n in names]
    for rep in range(spec.replicates):
        for name in start_order(names, rep):
            idx = names.index(name)
            arm = spec.arms[name]
            shift = rep if spec.rotate_gpus else 0
            gpus = gpu_sets[(idx + shift) % len(names)]
            packed = spec.gpus_per_run and not kind.allocates_gpus
            if spec.gpus_per_run:  # packed: the cluster picks them, or the scheduler at start
                gpus = tuple(range(spec.gpus_per_run)) if kind.allocates_gpus else ()
            config = deep_merge(spec.config, arm.config)
            seed = spec.seed + rep
            base_cmd = list(arm.command or spec.command)
            argv, extra_env = command_for(spec, base_cmd, config, seed)
            env = {**spec.env, **arm.env, **extra_env}
            nodes = spec.slurm.nodelist if kind.nodes else []
            # replicates rotate across the listed nodes as GPU sets rotate across arms
            extra: dict[str, Any] = {"node": nodes[(idx + rep) % len(nodes)]} if nodes else {}
            if kind.hosts and spec.hosts:  # rotated like nodes and GPU sets
                extra["host"] = spec.hosts[(idx + rep) % len(spec.hosts)]
            if packed:  # the GPU set it prefers, rotated like pinned ones
                extra["gpu_slot"] = (idx + shift) % (len(spec.gpu_pool) // (spec.gpus_per_run or 1))
            runs.append(
                ArmRun(
                    run_id=run_id_for(name, rep, spec.replicates),
                    arm=name,
                    replicate=rep,
                    seed=seed,
                    steps=spec.steps,
                    config=config,
                    gpus=gpus,
                    env=env,
                    command=tuple(argv),
                    image=arm.image or spec.image,
                    extra=extra,
                )
            )
    return runs


def spec_warnings(spec: ExperimentSpec) -> list[str]:
    """What in a valid spec a demanding user would still want to hear about."""
    from abtui.infra.secrets import secret_config_keys

    out = []
    for where, config in [("config", spec.config),
                          *((f"arms.{n}.config", a.config) for n, a in spec.arms.items())]:
        for key in secret_config_keys(config):
            out.append(f"{where}.{key} looks secret: config keys are passed on the command "
                       "line, where every user of this machine can read them (ps); pass it "
                       "through the environment instead (env: or env_from_file:, which abtui "
                       "masks everywhere)")
    return out
