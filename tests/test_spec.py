"""Spec validation: errors name the file, YAML path and line, and suggest fixes."""

from __future__ import annotations

import pytest

from abtui.infra.errors import SpecError
from abtui.spec import config_flags, load_spec, parse_spec, resolve_runs

GOOD = """
name: t
steps: 10
treatment: [lr]
config: {model: mlp, lr: 0.1}
arms:
  A: {config: {lr: 0.1}}
  B: {config: {lr: 0.2}}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "x.yaml")
    return info.value.problems


def test_good_spec_resolves_runs_with_flags_and_seeds() -> None:
    spec = parse_spec(GOOD.replace("steps: 10", "steps: 10\nreplicates: 2"))
    runs = resolve_runs(spec)
    # replicate by replicate, the start order rotated (a Latin square): no arm always first
    assert [r.run_id for r in runs] == ["A.r0", "B.r0", "B.r1", "A.r1"]
    assert [r.seed for r in runs] == [0, 0, 1, 1]
    assert "--lr" in runs[1].command and runs[1].command[runs[1].command.index("--lr") + 1] == "0.2"
    assert runs[0].command[-4:] == ("--seed", "0", "--steps", "10")


def test_unknown_key_suggests_the_close_one_with_line() -> None:
    problems = errors_of(GOOD.replace("steps: 10", "steps: 10\nreplicats: 3"))
    assert len(problems) == 1
    assert "replicats" in problems[0] and "did you mean 'replicates'" in problems[0]
    assert "(line 4)" in problems[0]


def test_nested_unknown_key_in_an_arm() -> None:
    problems = errors_of(GOOD.replace("A: {config: {lr: 0.1}}", "A: {confg: {lr: 0.1}}"))
    assert any("arms.A.confg" in p and "did you mean 'config'" in p for p in problems)


def test_wrong_type_names_path_and_expectation() -> None:
    problems = errors_of(GOOD.replace("steps: 10", "steps: many"))
    assert problems[0].startswith("steps (line 3)")
    assert "integer" in problems[0]


def test_missing_required_fields_and_single_arm() -> None:
    problems = errors_of("name: t\narms:\n  A: {}\n")
    text = "\n".join(problems)
    assert "at least two arms" in text
    # steps: required only where abtui passes it (args: flags), optional with a template
    problems = errors_of("name: t\ncommand: [x]\narms:\n  A: {}\n  B: {}\n")
    assert any("steps: required with args: flags" in p for p in problems), problems
    ok = parse_spec("name: t\ncommand: [x, '{lr}', '{{raw}}']\nargs: template\nconfig: {lr: 1}\n"
                    "arms:\n  A: {}\n  B: {config: {lr: 2}}\n")
    assert [r.command for r in resolve_runs(ok)] == [("x", "1", "{raw}"), ("x", "2", "{raw}")]
    problems = errors_of("name: t\ncommand: [x, '{lrr}']\nargs: template\nconfig: {lr: 1}\n"
                         "arms:\n  A: {}\n  B: {}\n")
    assert any("{lrr} (arm A) is not a config key" in p for p in problems), problems
    # a placeholder is a leaf key of the merged config, as the template is filled
    problems = errors_of("name: t\ncommand: [x, '{optim}']\nargs: template\n"
                         "config: {optim: {lr: 1}}\narms:\n  A: {}\n  B: {}\n")
    assert any("{optim} (arm A) is not a config key" in p for p in problems), problems
    nested = parse_spec("name: t\ncommand: [x, '{optim.lr}']\nargs: template\n"
                        "config: {optim: {lr: 1}}\narms:\n  A: {}\n  B: {config: {optim: {lr: 2}}}\n")
    assert [r.command for r in resolve_runs(nested)] == [("x", "1"), ("x", "2")]


def test_bad_yaml_gives_line_and_column() -> None:
    problems = errors_of("name: t\nsteps: [1,\n")
    assert "line" in problems[0] and "not valid YAML" in problems[0]


def test_non_mapping_and_empty_file() -> None:
    assert "empty file" in errors_of("")[0]
    assert "got list" in errors_of("- a\n- b\n")[0]


def test_yaml_tags_are_not_executed(tmp_path) -> None:
    problems = errors_of("!!python/object/apply:os.system ['echo pwned']\n")
    assert "not valid YAML" in problems[0]


def test_missing_file_is_a_spec_error(tmp_path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_docker_backend_needs_an_image() -> None:
    problems = errors_of(GOOD + "backend: docker\n")
    assert any("needs an 'image'" in p for p in problems)


def test_unequal_gpu_counts_are_refused() -> None:
    text = GOOD.replace("A: {config: {lr: 0.1}}", "A: {config: {lr: 0.1}, gpus: [0, 1]}")
    assert any("same number of GPUs" in p for p in errors_of(text))


def test_config_flags_cover_bools_lists_and_nesting() -> None:
    flags = config_flags({"batch_size": 64, "amp": True, "compile": False, "sched": {"kind": "cos"},
                          "milestones": [1, 2], "skip": None})
    assert flags == ["--batch-size", "64", "--amp", "--no-compile", "--sched.kind", "cos",
                     "--milestones", "[1, 2]"]


def test_replicates_rotate_gpus_between_arms() -> None:
    text = GOOD.replace("A: {config: {lr: 0.1}}", "A: {config: {lr: 0.1}, gpus: [0]}").replace(
        "B: {config: {lr: 0.2}}", "B: {config: {lr: 0.2}, gpus: [1]}") + "replicates: 2\n"
    runs = resolve_runs(parse_spec(text))
    assert {r.run_id: r.gpus for r in runs} == {"A.r0": (0,), "B.r0": (1,), "A.r1": (1,), "B.r1": (0,)}


def test_shipped_configs_are_valid(repo) -> None:
    for path in sorted((repo / "configs").glob("*.yaml")):
        spec = load_spec(path)
        assert spec.treatment, f"{path.name} declares no treatment"
