"""``abtui ab 'CMD A' 'CMD B'``: an experiment from commands alone, like hyperfine for runs.

The words that differ between the commands are the treatment. When the commands have the
same shape, each differing word becomes a config key of a template (``--learning_rate
1e-4`` → key ``learning_rate``, ``lr=0.1`` → key ``lr``, else ``arg3``) and the arms differ
in that config only; otherwise every arm keeps its own command and the command itself is
the treatment (``launch.command``).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# a value that means the same to a shell quoted or not: it may stand inside a shell string
_SHELL_PLAIN = re.compile(r"[A-Za-z0-9_.,:/@%+=-]+")


def _escape(word: str) -> str:
    """A word as a template keeps it: braces literal, except abtui's own ``{seed}`` and
    ``{out}`` (filled per run)."""
    out = word.replace("{", "{{").replace("}", "}}")
    return out.replace("{{seed}}", "{seed}").replace("{{out}}", "{out}")


def _key(prev: str | None, word_values: list[str], pos: int) -> tuple[str, str | None]:
    """(config key, the part of the word kept before the value, e.g. ``lr=``)."""
    if prev is not None and prev.startswith("--") and len(prev) > 2 and "=" not in prev:
        return prev[2:].replace("-", "_"), None
    heads = {w.partition("=")[0] for w in word_values if "=" in w}
    if len(heads) == 1 and all("=" in w for w in word_values):
        head = heads.pop()
        key = head.lstrip("-").replace("-", "_").replace("+", "")
        if _KEY.fullmatch(key):
            return key, head + "="
    return f"arg{pos}", None


def _inner(column: list[str], pos: int, taken: set[str]
           ) -> tuple[str, list[tuple[str, list[str]]]] | None:
    """A differing word that is itself a shell command (``sh -c 'python x.py --lr=0.1'``):
    its template word and the (key, values) of each inner word that differs, or None when
    the words cannot be templated inside (other shapes, values a shell would read otherwise)."""
    try:
        inner = [shlex.split(w) for w in column]
    except ValueError:
        return None
    if len({len(w) for w in inner}) != 1 or len(inner[0]) < 2:
        return None
    parts: list[str] = []
    found: list[tuple[str, list[str]]] = []
    for i in range(len(inner[0])):
        col = [w[i] for w in inner]
        if len(set(col)) == 1:
            parts.append(shlex.quote(col[0]).replace("{", "{{").replace("}", "}}"))
            continue
        prev = inner[0][i - 1] if i and len({w[i - 1] for w in inner}) == 1 else None
        key, head = _key(prev, col, pos * 100 + i)
        values = [w[len(head):] if head else w for w in col]
        if not all(_SHELL_PLAIN.fullmatch(v) for v in values) or \
                (head and not _SHELL_PLAIN.fullmatch(head)):
            return None
        if key in taken or key in {k for k, _ in found}:
            key = f"arg{pos}_{i}"
        parts.append(f"{head or ''}{{{key}}}")
        found.append((key, values))
    return " ".join(parts), found


def _arm_names(commands: list[list[str]], configs: list[dict[str, str]],
               names: list[str] | None) -> list[str]:
    if names:
        if len(names) != len(commands):
            raise ValueError(f"--name gives {len(names)} names for {len(commands)} commands")
        return names
    out: list[str] = []
    for cfg in configs:
        name = _SAFE.sub("-", "_".join(f"{v}" for v in cfg.values())).strip("-.")[:40]
        out.append(name if name and name[0].isalnum() else "")
    if len(set(out)) != len(out) or not all(out):
        out = [chr(ord("a") + i) if i < 26 else f"arm{i}" for i in range(len(commands))]
    return out


def git_ab_spec(command: list[str], refs: list[str], *, names: list[str] | None = None,
                replicates: int = 1, steps: int | None = None, log_format: object = "auto",
                gates: list[str] | None = None) -> dict[str, Any]:
    """``abtui ab --git A --git B -- CMD``: one command, one arm per git ref."""
    if len(refs) < 2:
        raise ValueError("abtui ab --git needs at least two refs, e.g. "
                         "abtui ab --git main --git my-branch -- python train.py")
    if len(set(refs)) != len(refs):
        raise ValueError("a ref is given twice: nothing to compare")
    words = command if len(command) != 1 else shlex.split(command[0])
    if not words:
        raise ValueError("no command after the refs (abtui ab --git A --git B -- CMD)")
    if names is None:
        names = [_SAFE.sub("-", r).strip("-.")[:40] or f"arm{i}" for i, r in enumerate(refs)]
        if len(set(names)) != len(names):
            names = [chr(ord("a") + i) for i in range(len(refs))]
    elif len(names) != len(refs):
        raise ValueError(f"--name gives {len(names)} names for {len(refs)} refs")
    spec: dict[str, Any] = {"name": "ab", "backend": "local", "workdir": ".",
                            "replicates": replicates, "log_format": log_format,
                            "gates": list(gates or []), "args": "template", "treatment": ["code"],
                            "command": [_placeholders_kept(w) for w in words],
                            "arms": {n: {"code": {"git": r}} for n, r in zip(names, refs, strict=True)}}
    if steps is not None:
        spec["steps"] = steps
    return spec


def command_words(command: str, seed_arg: str | None = None) -> list[str]:
    """A command line split as a shell would, with ``--seed-arg`` (``--seed {seed}``)
    appended: how the script takes the replicate's seed."""
    if seed_arg is not None:
        if "{seed}" not in seed_arg:
            raise ValueError("--seed-arg must hold {seed}, e.g. --seed-arg '--seed {seed}'")
        command = f"{command} {seed_arg}"
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot split {command!r}: {exc}") from None
    if not words:
        raise ValueError("an empty command")
    return words


def _placeholders_kept(word: str, keys: tuple[str, ...] = ("seed", "steps", "out")) -> str:
    """A word for a templated command: literal braces doubled, abtui's own placeholders
    (``{seed}``, ``{steps}``, ``{out}``) kept, so a script can be handed the seed."""
    out = word.replace("{", "{{").replace("}", "}}")
    for k in keys:
        out = out.replace("{{" + k + "}}", "{" + k + "}")
    return out


def takes_seed(command: list[str]) -> bool:
    """Whether a templated command hands the run its seed (``{seed}`` in a word)."""
    return any("{seed}" in w.replace("{{", "").replace("}}", "") for w in command)


def ab_spec(commands: list[str], *, names: list[str] | None = None, replicates: int = 1,
            steps: int | None = None, backend: str = "local", image: str | None = None,
            log_format: object = "auto", gates: list[str] | None = None,
            seed_arg: str | None = None) -> dict[str, Any]:
    """The experiment spec (as a dict for ``ExperimentSpec``) the commands describe.
    ``seed_arg`` (``--seed {seed}``) is appended to every command: how the script takes
    the replicate's seed."""
    if len(commands) < 2:
        raise ValueError("abtui ab needs at least two commands, e.g. "
                         "abtui ab 'python train.py --lr 1e-4' 'python train.py --lr 3e-4'")
    words = [command_words(c, seed_arg) for c in commands]
    spec: dict[str, Any] = {"name": "ab", "backend": backend, "workdir": ".",
                            "replicates": replicates, "log_format": log_format,
                            "gates": list(gates or [])}
    if steps is not None:
        spec["steps"] = steps
    if image:
        spec["image"] = image
    same_shape = len({len(w) for w in words}) == 1
    if same_shape:
        template, treatment = list(words[0]), list[str]()
        configs: list[dict[str, str]] = [{} for _ in words]
        for pos in range(len(words[0])):
            column = [w[pos] for w in words]
            if len(set(column)) == 1:
                continue
            inner = _inner(column, pos, set(treatment)) if any(
                any(c.isspace() for c in w) for w in column) else None
            if inner is not None:  # a shell string: template the words inside it
                template[pos], found = inner
                for key, values in found:
                    treatment.append(key)
                    for cfg, value in zip(configs, values, strict=True):
                        cfg[key] = value
                continue
            prev = words[0][pos - 1] if pos and len({w[pos - 1] for w in words}) == 1 else None
            key, head = _key(prev, column, pos)
            if key in treatment:
                key = f"arg{pos}"
            treatment.append(key)
            template[pos] = f"{head or ''}{{{key}}}"
            for cfg, word in zip(configs, column, strict=True):
                cfg[key] = word[len(head):] if head else word
        if not treatment:
            raise ValueError("the commands are identical: nothing to compare (an A/A test? "
                             "write a spec with replicates)")
        names = _arm_names(words, configs, names)
        spec.update(command=[_escape(w) if i not in
                             {p for p, t in enumerate(template) if t != words[0][p]} else t
                             for i, (w, t) in enumerate(zip(words[0], template, strict=True))],
                    args="template", treatment=treatment,
                    arms={n: {"config": cfg} for n, cfg in zip(names, configs, strict=True)})
    else:
        names = _arm_names(words, [{} for _ in words], names)
        spec.update(command=words[0], args="template", treatment=["launch.command"],
                    arms={n: {"command": [_escape(w) for w in cmd]}
                          for n, cmd in zip(names, words, strict=True)})
    return spec


def grid_ab_spec(command: str, grids: list[str], *, replicates: int = 1,
                 steps: int | None = None, backend: str = "local", image: str | None = None,
                 log_format: object = "auto", seed_arg: str | None = None) -> dict[str, Any]:
    """``abtui ab 'python train.py --lr {lr} --opt {opt}' --grid lr=1e-4,3e-4 --grid
    opt=sgd,adam``: one command with placeholders, an arm per point of the grid."""
    words = command_words(command, seed_arg)
    grid: dict[str, list[str]] = {}
    for g in grids:
        key, eq, values = g.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"--grid {g!r}: KEY=V1,V2,... with KEY a name (letters, digits, _)")
        if key in grid:
            raise ValueError(f"--grid {key} is given twice")
        grid[key] = [v for v in values.split(",") if v != ""]
        if len(grid[key]) < 1:
            raise ValueError(f"--grid {g!r}: no values")
    known = {*grid, "seed", "steps", "out"}
    missing = [k for k in grid if not any("{" + k + "}" in w for w in words)]
    if missing:
        raise ValueError(f"the command never uses {', '.join('{' + k + '}' for k in missing)}: "
                         "put each grid key where its value goes")

    def template(word: str) -> str:  # literal braces doubled, placeholders kept
        return _placeholders_kept(word, tuple(known))

    # the treatment is what the script calls each key: the grid's name, and the flag that
    # takes it (``--optimizer {opt}``: the script's env record says "optimizer")
    treatment = list(grid)
    for prev, word in zip(["", *words], words, strict=False):
        for k in grid:
            if "{" + k + "}" not in word:
                continue
            m = (re.fullmatch(r"--?([A-Za-z][\w-]*)=.*", word) if word.startswith("-")
                 else re.fullmatch(r"--?([A-Za-z][\w-]*)", prev))
            name = m.group(1).replace("-", "_") if m else None
            if name and name not in treatment:
                treatment.append(name)
    spec: dict[str, Any] = {"name": "ab", "backend": backend, "workdir": ".",
                            "replicates": replicates, "log_format": log_format,
                            "args": "template", "command": [template(w) for w in words],
                            "grid": grid, "treatment": treatment}
    if steps is not None:
        spec["steps"] = steps
    if image:
        spec["image"] = image
    return spec
