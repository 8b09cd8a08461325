"""Experiment YAML -> validated spec, with errors naming the file, YAML path and line."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from abtui.infra.errors import SpecError
from abtui.spec.models import ExperimentSpec
from abtui.spec.resolve import resolve_runs


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment spec. Raises SpecError with every problem found."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(p), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(p), [f"cannot read: {exc}"]) from None
    return parse_spec(text, str(p))


def parse_spec(text: str, source: str = "<spec>") -> ExperimentSpec:
    """Validate spec text; ``source`` names it in errors."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, [f"{where}not valid YAML ({problem})"]) from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise SpecError(source, [f"expected a mapping of experiment fields at the top, got {got}"])
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source, [_describe(err, root) for err in exc.errors()]) from None
    same = [] if spec.aa else identical_arms(spec)
    if same:
        raise SpecError(source, [f"arms {' and '.join(same)} run the same command with the same "
                                 "environment: nothing to compare (for an A/A test, keep one "
                                 "arm and set replicates, or say aa: true)"])
    return spec


def identical_arms(spec: ExperimentSpec) -> list[str]:
    """Two arms whose first runs resolve to the same argv, environment, image and code: the
    "treatment" would not reach the runs (a placeholder that is never filled, a value lost in
    quoting). Empty when every arm differs."""
    seen: dict[str, str] = {}
    for run in resolve_runs(spec):
        if run.replicate:
            continue
        key = repr((run.command, sorted(run.env.items()), run.image, spec.arms[run.arm].code))
        if key in seen:
            return [seen[key], run.arm]
        seen[key] = run.arm
    return []


def _describe(err: Any, root: yaml.Node | None) -> str:
    loc = tuple(err["loc"])
    path = _dotted(loc)
    line = _line_of(root, loc)
    where = f"{path or '<top>'}" + (f" (line {line})" if line else "")
    kind = err["type"]
    if kind == "extra_forbidden":
        hint = _suggest(loc)
        return f"{where}: unknown key{hint}"
    if kind == "missing":
        return f"{where}: required field is missing"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the last element of ``loc``."""
    model: Any = ExperimentSpec
    for part in loc[:-1]:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            # a dict value (e.g. arms.<name>): step into the value type
            ann = getattr(model, "_dict_value", None)
            model = ann
            continue
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            # mark dict[str, Model] so that the next (key) step lands on Model
            if getattr(ann, "__origin__", None) is dict:
                return type("_DictOf", (), {"model_fields": {}, "_dict_value": found})
            return found
    return None


def _suggest(loc: tuple[Any, ...]) -> str:
    model = _model_at(loc)
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    known = ", ".join(model.model_fields)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {known}"


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key, value in node.value:
                if key.value == str(part):
                    best = key.start_mark.line + 1
                    nxt = value
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            best = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return best
