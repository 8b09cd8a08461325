"""The diff engine on planted differences: each confound planted in what a run records
(runner env records, manifest entries, image facts, telemetry summaries)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abtui.diff import (
    fairness,
    find_differences,
    findings_to_json,
    image_findings,
    render_findings,
    summarize,
)
from abtui.reporter import packages_hash
from abtui.spec import ExperimentSpec, resolve_runs
from abtui.spec.resolve import ArmRun
from abtui.telemetry.summary import confounds as telemetry_confounds

H100 = {"name": "NVIDIA H100 80GB HBM3", "memory_mb": 81559}
A100 = {"name": "NVIDIA A100-SXM4-40GB", "memory_mb": 40960}
PACKAGES = {"numpy": "1.26.4", "torch": "2.3.1", "Pillow": "10.3.0"}


def make_spec(arms: dict[str, Any] | None = None, **over: Any) -> ExperimentSpec:
    body: dict[str, Any] = {
        "name": "t", "steps": 100, "treatment": ["optimizer.lr"],
        "config": {"model": "resnet18", "augment": "none", "optimizer": {"name": "sgd"}},
        "arms": arms or {"A": {"config": {"optimizer": {"lr": 0.1}}, "gpus": [0]},
                         "B": {"config": {"optimizer": {"lr": 0.01}}, "gpus": [1]}},
    }
    body.update(over)
    return ExperimentSpec.model_validate(body)


def make_manifest(spec: ExperimentSpec, backend_facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest layout the orchestrator writes (runs by id, backend facts)."""
    return {
        "spec": spec.model_dump(mode="json"),
        "backend_facts": backend_facts or {},
        "runs": {r.run_id: {"arm": r.arm, "replicate": r.replicate, "seed": r.seed,
                            "gpus": list(r.gpus), "command": list(r.command), "config": r.config,
                            "config_hash": r.config_hash, "image": r.image, "env": dict(r.env)}
                 for r in resolve_runs(spec)},
    }


def env_record(run: ArmRun, **over: Any) -> dict[str, Any]:
    """What the reference runner reports for a run (abtui.reporter's env record)."""
    gpu = run.gpus[0] if run.gpus else 0
    packages = dict(over.pop("packages", PACKAGES))
    rec: dict[str, Any] = {
        "event": "env", "protocol": 1, "python": "3.11.9", "torch": "2.3.1+cu121",
        "cuda": "12.1", "cudnn": 8902, "nccl": "2.20.5",
        "gpus": [{"index": 0, **H100, "uuid": f"GPU-{gpu:04d}"}], "driver": "550.54.15",
        "hostname": f"host-{run.run_id}", "platform": "Linux-5.15.0-x86_64-with-glibc2.35",
        "git": {"commit": "a" * 40, "dirty": False, "root": "/nonexistent/repo"},
        "seed": run.seed, "config": copy.deepcopy(run.config),
        "packages": packages, "packages_hash": packages_hash(packages),
        "data": {"name": "synthetic", "path": None, "fingerprint": f"fp{run.seed}",
                 "seed": run.seed, "samples": 1024},
        "env_vars": {"CUDA_VISIBLE_DEVICES": str(gpu), "NCCL_DEBUG": "WARN"},
        "timestamp": "2025-04-05T10:30:22Z",
    }
    rec.update(over)
    return rec


def records(spec: ExperimentSpec, **per_run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Env records of every run; ``per_run[run_id]`` overrides fields of one run's record."""
    return {r.run_id: env_record(r, **per_run.get(r.run_id.replace(".", "_"), {}))
            for r in resolve_runs(spec)}


def by_key(findings: list[Any], key: str) -> list[Any]:
    return [f for f in findings if f.key == key]


def test_treatment_only_difference_is_fair_without_false_alarm() -> None:
    spec = make_spec(replicates=3)
    findings = find_differences(make_manifest(spec), records(spec), spec)
    assert [f.key for f in findings] == ["config.optimizer.lr"]
    lr = findings[0]
    assert lr.intended and lr.severity == "info" and lr.arms == ("A", "B")
    assert (lr.a, lr.b) == (0.1, 0.01)
    verdict = fairness(findings)
    assert verdict.fair and verdict.confounds == []
    assert "optimizer.lr" in verdict.reasons[0]
    # replicate seeds (and the seed-made synthetic data) differ inside each arm: not counted
    assert not [f for f in findings if "seed" in f.key or f.category == "data"]


def test_changed_augmentation_in_one_arm_is_a_confound_with_a_clear_sentence() -> None:
    spec = make_spec(arms={"A": {"config": {"optimizer": {"lr": 0.1}}},
                           "B": {"config": {"optimizer": {"lr": 0.01}, "augment": "flip"}}})
    findings = find_differences(make_manifest(spec), records(spec), spec)
    [aug] = by_key(findings, "config.augment")
    assert not aug.intended and aug.severity == "warning" and aug.is_confound
    assert aug.message == ("augment differs (A: 'none', B: 'flip') but is not part of the "
                           "treatment: a confound")
    verdict = fairness(findings)
    assert not verdict.fair and verdict.confounds == [aug] and verdict.reasons == [aug.message]
    assert by_key(findings, "config.optimizer.lr")[0].intended


def test_a_treatment_key_covers_its_subkeys_and_dashes_match_underscores() -> None:
    spec = make_spec(treatment=["optimizer", "batch-size"],
                     arms={"A": {"config": {"optimizer": {"name": "sgd", "lr": 0.1}, "batch_size": 64}},
                           "B": {"config": {"optimizer": {"name": "adam", "lr": 0.001},
                                            "batch_size": 128}}})
    findings = find_differences(make_manifest(spec), records(spec), spec)
    assert {f.key for f in findings} == {"config.optimizer.name", "config.optimizer.lr",
                                         "config.batch_size"}
    assert all(f.intended for f in findings) and fairness(findings).fair


def test_runner_config_is_compared_not_only_the_spec() -> None:
    """A default the runner changed (not in the spec) still shows: the env record wins."""
    spec = make_spec()
    envs = records(spec)
    envs["B"]["config"]["label_smoothing"] = 0.1
    [f] = by_key(find_differences(make_manifest(spec), envs, spec), "config.label_smoothing")
    assert f.is_confound and (f.a, f.b) == (None, 0.1) and "A: not set, B: 0.1" in f.message


def test_manifest_config_is_used_while_env_records_are_missing() -> None:
    spec = make_spec(arms={"A": {"config": {"optimizer": {"lr": 0.1}}},
                           "B": {"config": {"optimizer": {"lr": 0.01}, "augment": "flip"}}})
    findings = find_differences(make_manifest(spec), {"A": None, "B": None}, spec)
    assert by_key(findings, "config.optimizer.lr")[0].intended
    assert by_key(findings, "config.augment")[0].is_confound


def test_seed_differing_across_arms_at_one_replicate_is_a_confound() -> None:
    spec = make_spec(replicates=2)
    envs = records(spec, B_r1={"seed": 7})
    [seed] = by_key(find_differences(make_manifest(spec), envs, spec), "config.seed")
    assert seed.is_confound and (seed.a, seed.b) == (1, 7) and "replicate 1" in seed.message


def test_a_replicate_that_differs_in_more_than_its_seed_is_a_confound() -> None:
    spec = make_spec(replicates=2)
    envs = records(spec, B_r1={"torch": "2.4.0+cu121"})
    findings = find_differences(make_manifest(spec), envs, spec)
    inside = [f for f in findings if f.arms == ("B.r0", "B.r1")]
    assert [f.key for f in inside] == ["env.torch"]
    assert inside[0].is_confound and "inside arm B" in inside[0].message
    # the same difference shows between the arms at replicate 1
    assert by_key(findings, "env.torch")[0].arms in {("A", "B"), ("B.r0", "B.r1")}


def test_package_differences_are_listed() -> None:
    spec = make_spec()
    newer = {**PACKAGES, "numpy": "2.0.1", "rich": "13.7.1"}
    newer.pop("Pillow")
    envs = records(spec, B={"packages": newer})
    [pk] = by_key(find_differences(make_manifest(spec), envs, spec), "env.packages")
    assert pk.is_confound
    assert "numpy 1.26.4 → 2.0.1" in pk.message
    assert "+ rich 13.7.1" in pk.detail and "- Pillow 10.3.0" in pk.detail


def test_software_versions_and_driver() -> None:
    spec = make_spec()
    envs = records(spec, B={"cudnn": 90100, "driver": "535.104.05"})
    findings = find_differences(make_manifest(spec), envs, spec)
    assert by_key(findings, "env.cudnn")[0].message == "cuDNN differs (A: 8902, B: 90100)"
    assert by_key(findings, "hardware.driver")[0].is_confound


def test_env_var_differences_by_name_and_per_run_variables_ignored() -> None:
    spec = make_spec()
    envs = records(spec)
    envs["A"]["env_vars"]["NCCL_ALGO"] = "Ring"
    envs["B"]["env_vars"]["NCCL_ALGO"] = "Tree"
    envs["B"]["env_vars"]["OMP_NUM_THREADS"] = "8"
    findings = [f for f in find_differences(make_manifest(spec), envs, spec)
                if f.category == "envvars"]
    assert [f.key for f in findings] == ["envvar.NCCL_ALGO", "envvar.OMP_NUM_THREADS"]
    assert findings[0].message == "NCCL_ALGO differs (A: 'Ring', B: 'Tree')"
    assert findings[1].message == "OMP_NUM_THREADS is set only in B ('8')"
    # CUDA_VISIBLE_DEVICES is "0" vs "1": each arm's own GPU, by design


def test_env_var_named_in_the_treatment_is_intended() -> None:
    spec = make_spec(treatment=["envvar.NCCL_ALGO"], config={},
                     arms={"A": {"env": {"NCCL_ALGO": "Ring"}}, "B": {"env": {"NCCL_ALGO": "Tree"}}})
    findings = find_differences(make_manifest(spec), records(spec), spec)
    assert [(f.key, f.intended) for f in findings] == [("envvar.NCCL_ALGO", True)]
    assert fairness(findings).fair


def test_secrets_never_appear_in_any_output() -> None:
    secret_a, secret_b, key_b = "sekrit-aaaa-1111", "sekrit-bbbb-2222", "wb-key-9f8e7d6c"
    spec = make_spec(arms={"A": {"config": {"optimizer": {"lr": 0.1}}},
                           "B": {"config": {"optimizer": {"lr": 0.01}, "wandb_api_key": key_b}}})
    envs = records(spec)
    # the runner masks *KEY*/*TOKEN*, but not every name abtui counts as secret
    envs["A"]["env_vars"]["SESSION_COOKIE"] = secret_a
    envs["B"]["env_vars"]["SESSION_COOKIE"] = secret_b
    envs["A"]["env_vars"]["PYTORCH_HUB_URL"] = f"https://me:{secret_a}@hub.example"
    envs["B"]["env_vars"]["PYTORCH_HUB_URL"] = "https://hub.example"
    image = {"id": "sha256:" + "c" * 64, "env": {"HF_TOKEN": "hf_imagetoken123"}, "labels": {}}
    manifest = make_manifest(spec, {"image": image, "images": {"A": image["id"], "B": image["id"]}})
    findings = find_differences(manifest, envs, spec)
    [cookie] = by_key(findings, "envvar.SESSION_COOKIE")
    assert cookie.message == "SESSION_COOKIE differs (values hidden)" and cookie.is_confound
    assert by_key(findings, "config.wandb_api_key")[0].b == "***"
    outputs = [render_findings(findings), json.dumps(findings_to_json(findings)),
               json.dumps(fairness(findings).to_dict()), repr(findings)]
    for out in outputs:
        for secret in (secret_a, secret_b, key_b, "hf_imagetoken123"):
            assert secret not in out
    assert "https://me:***@hub.example" in outputs[0]


def test_hardware_model_difference_from_env_records() -> None:
    spec = make_spec()
    envs = records(spec, B={"gpus": [{"index": 0, **A100, "uuid": "GPU-b"}]})
    [gpu] = by_key(find_differences(make_manifest(spec), envs, spec), "hardware.gpu_model")
    assert gpu.is_confound
    assert gpu.message == ("A ran on NVIDIA H100 80GB HBM3 and B on NVIDIA A100-SXM4-40GB: "
                           "different GPU models")


def test_throttling_from_telemetry_summaries_and_sentences() -> None:
    spec = make_spec()
    summaries = {
        "A": {"gpu_models": [H100["name"]], "sm_clock_max_mhz": [1980], "power_limit_w": [700.0],
              "power_capped_share": 0.01, "thermal_share": 0.0, "reason_share": {},
              "sm_clock_rel_mean": 0.98, "foreign": []},
        "B": {"gpu_models": [H100["name"]], "sm_clock_max_mhz": [1980], "power_limit_w": [500.0],
              "power_capped_share": 0.42, "thermal_share": 0.0, "reason_share": {},
              "sm_clock_rel_mean": 0.71,
              "foreign": [{"gpu": 1, "pid": 4242, "name": "python", "arm": "B"}]},
    }
    sentences = telemetry_confounds(summaries)  # the telemetry layer's own sentences
    findings = find_differences(make_manifest(spec), records(spec), spec,
                                telemetry=summaries, confounds=sentences)
    [capped] = by_key(findings, "hardware.power_capped")
    assert capped.is_confound and capped.arms == ("A", "B")
    assert "42 %" in capped.message and "power-capped" in (capped.detail or "")
    assert by_key(findings, "hardware.power_limit")[0].is_confound
    [shared] = by_key(findings, "hardware.shared_gpu")
    assert shared.is_confound and "PID 4242" in shared.message
    assert len(by_key(findings, "hardware.power_capped")) == 1  # the sentence did not double it


def test_same_tag_different_digest_is_an_error_in_words() -> None:
    def attrs(hexchar: str, created: str) -> dict[str, Any]:
        return {"Id": f"sha256:{hexchar * 64}", "RepoTags": ["abtui/runner:latest"],
                "RepoDigests": [], "Created": created, "Architecture": "amd64", "Os": "linux",
                "Config": {"Env": ["PATH=/usr/bin", "HF_TOKEN=hf_bakedin999"],
                           "Labels": {"org.opencontainers.image.revision": hexchar * 7},
                           "Entrypoint": None, "Cmd": ["python"]}}
    tag = "abtui/runner:latest"
    findings = image_findings({"A": attrs("a", "2025-04-01T10:00:00Z"),
                               "B": attrs("b", "2025-04-05T09:00:00Z")}, {"A": tag, "B": tag})
    [digest] = by_key(findings, "image.digest")
    assert digest.severity == "error" and digest.is_confound
    assert digest.message == ("both arms say 'abtui/runner:latest' but run different images: "
                              "sha256:aaaaaaaaaaaa… vs sha256:bbbbbbbbbbbb… — the tag moved "
                              "between launches")
    assert by_key(findings, "image.created")[0].severity == "info"
    assert by_key(findings, "image.label.org.opencontainers.image.revision")
    assert "hf_bakedin999" not in json.dumps(findings_to_json(findings))
    same = image_findings({"A": attrs("a", "x"), "B": attrs("a", "x")}, {"A": tag, "B": tag})
    assert same == []


def test_images_recorded_by_the_docker_backend_are_compared_per_run() -> None:
    spec = make_spec(backend="docker", image="abtui/runner:latest",
                     arms={"A": {"config": {"optimizer": {"lr": 0.1}}},
                           "B": {"config": {"optimizer": {"lr": 0.01}}, "image": "abtui/runner:v2"}})
    a = {"id": "sha256:" + "1" * 64, "repo_digests": [], "repo_tags": ["abtui/runner:latest"],
         "created": "2025-04-01", "labels": {}, "env": {}, "ref": "abtui/runner:latest"}
    b = {**a, "id": "sha256:" + "2" * 64, "repo_tags": ["abtui/runner:v2"], "ref": "abtui/runner:v2"}
    facts = {"image": a, "images": {"A": a["id"], "B": b["id"]},
             "image_refs": {"abtui/runner:latest": a, "abtui/runner:v2": b}}
    findings = find_differences(make_manifest(spec, facts), records(spec), spec)
    [digest] = by_key(findings, "image.digest")
    assert digest.severity == "warning" and digest.is_confound
    assert "'abtui/runner:latest'" in digest.message and "'abtui/runner:v2'" in digest.message


def test_arms_that_do_not_differ_in_the_treatment_are_flagged() -> None:
    spec = make_spec(arms={"A": {"config": {"optimizer": {"lr": 0.1}}},
                           "B": {"config": {"optimizer": {"lr": 0.1}}}})
    findings = find_differences(make_manifest(spec), records(spec), spec)
    [t] = by_key(findings, "config.treatment")
    assert t.is_confound and "tests nothing" in t.message
    assert not fairness(findings).fair


def test_more_than_two_arms_compares_every_pair() -> None:
    spec = make_spec(arms={"A": {"config": {"optimizer": {"lr": 0.1}}},
                           "B": {"config": {"optimizer": {"lr": 0.01}}},
                           "C": {"config": {"optimizer": {"lr": 0.001}}}}, baseline="B")
    findings = find_differences(make_manifest(spec), records(spec), spec)
    assert {f.arms for f in findings} == {("B", "A"), ("B", "C"), ("A", "C")}


def test_data_fingerprint_and_summary_counts() -> None:
    spec = make_spec()
    envs = records(spec)
    envs["B"]["data"] = {**envs["B"]["data"], "fingerprint": "other", "samples": 2048}
    findings = find_differences(make_manifest(spec), envs, spec)
    [data] = by_key(findings, "data.fingerprint")
    assert data.is_confound and "samples: 1024 vs 2048" in data.message
    counts = summarize(findings)
    assert counts["config"]["intended"] == 1 and counts["data"]["confounds"] == 1
    assert list(counts)[:3] == ["config", "image", "environment"]
    json.dumps(findings_to_json(findings))  # serialisable as is


@pytest.mark.parametrize("module", ["abtui.diff", "abtui.diff.runs"])
def test_the_diff_imports_no_ui(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if 'textual' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_container_settings_compared_but_each_arms_own_output_mount_is_not() -> None:
    spec = make_spec()
    manifest = make_manifest(spec)
    for run_id, shm in (("A", 8 << 30), ("B", 64 << 20)):
        manifest["runs"][run_id]["inspect"] = {
            "image_id": "sha256:" + "d" * 64, "gpus": [run_id == "B" and "1" or "0"],
            "shm_size": shm, "memory": None, "network_mode": "none",
            "mounts": [{"source": "/data/imagenet", "target": "/data", "rw": False},
                       {"source": f"/home/u/runs/t-1/arms/{run_id}/out", "target": "/out",
                        "rw": True}]}
    findings = [f for f in find_differences(manifest, records(spec), spec)
                if f.category == "hardware"]
    assert [(f.key, f.a, f.b) for f in findings] == [("container.shm_size", 8 << 30, 64 << 20)]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
ENV_FIELDS = ("python", "torch", "gpus", "driver", "git", "seed", "config", "packages",
              "packages_hash", "data", "env_vars", "script")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(ENV_FIELDS), JSON, max_size=5),
       st.dictionaries(st.sampled_from(ENV_FIELDS), JSON, max_size=5))
def test_malformed_env_records_never_break_the_diff(junk_a: dict, junk_b: dict) -> None:
    """Runners are anyone's scripts: whatever they report, the diff still answers."""
    spec = make_spec()
    envs = records(spec)
    envs["A"].update(junk_a)
    envs["B"].update(junk_b)
    findings = find_differences(make_manifest(spec), envs, spec)
    render_findings(findings)
    json.dumps(findings_to_json(findings))
    assert fairness(findings).fair == (not any(f.is_confound for f in findings))


def test_treatment_entries_that_look_like_categories_are_still_config_keys() -> None:
    """``image_size`` is a config key, not the image category; ``data.path`` likewise."""
    spec = make_spec(treatment=["image_size", "data.path"], config={},
                     arms={"A": {"config": {"image_size": 224, "data": {"path": "/d/a"}}},
                           "B": {"config": {"image_size": 224, "data": {"path": "/d/a"}}}})
    findings = find_differences(make_manifest(spec), records(spec), spec)
    [t] = by_key(findings, "config.treatment")
    assert t.a == ["image_size", "data.path"] and "tests nothing" in t.message


def _tokenizer_findings(pair) -> list:  # type: ignore[no-untyped-def]
    """A made-up category's comparison: the tokenizer each run reports."""
    a, b = ((f.env or {}).get("tokenizer") for f in (pair.a, pair.b))
    if a == b or None in (a, b):
        return []
    return [pair.finding("tokenizer.vocab", "tokenizer", a, b, f"tokenizer {a} vs {b}")]


@pytest.fixture
def tokenizer_category():
    from abtui.diff import Category, register
    from abtui.diff.categories import unregister

    register(Category("tokenizer", (_tokenizer_findings,),
                      lambda f: (f.env or {}).get("tokenizer"), ("tokenizer.",)))
    yield
    unregister("tokenizer")


def test_a_category_registered_once_is_compared_listed_checked_and_can_be_the_treatment(
        tokenizer_category) -> None:
    """The walk "add a finding": one ``register`` call and the engine compares it, the
    summary and the rendering list it in order, "what was checked" says its value, and a
    spec can name its key as the treatment (no other list to edit)."""
    from abtui.diff.engine import examine

    spec = make_spec(arms={"A": {"config": {"optimizer": {"lr": 0.1}}},
                           "B": {"config": {"optimizer": {"lr": 0.1}}}},
                     treatment=["tokenizer.vocab"])
    envs = records(spec, B={"tokenizer": "bpe-50k"}, A={"tokenizer": "bpe-32k"})
    findings, checked = examine(make_manifest(spec), envs, spec)
    [tok] = [f for f in findings if f.category == "tokenizer"]
    assert tok.intended and tok.severity == "info" and (tok.a, tok.b) == ("bpe-32k", "bpe-50k")
    assert fairness(findings).fair
    assert summarize(findings)["tokenizer"] == {"intended": 1, "confounds": 0, "notes": 0}
    assert "tokenizer" in render_findings(findings)
    assert [c["category"] for c in checked][-1] == "tokenizer"
    # not the treatment: the same difference is a confound
    spec2 = make_spec(arms={"A": {"config": {"optimizer": {"lr": 0.1}}},
                            "B": {"config": {"optimizer": {"lr": 0.01}}}})
    envs2 = records(spec2, B={"tokenizer": "bpe-50k"}, A={"tokenizer": "bpe-32k"})
    findings2, checked2 = examine(make_manifest(spec2), envs2, spec2)
    [tok2] = [f for f in findings2 if f.category == "tokenizer"]
    assert tok2.is_confound and not fairness(findings2).fair
    # identical everywhere: "what was checked" shows the value every run had
    envs3 = records(spec2, B={"tokenizer": "bpe-32k"}, A={"tokenizer": "bpe-32k"})
    [row] = [c for c in examine(make_manifest(spec2), envs3, spec2)[1]
             if c["category"] == "tokenizer"]
    assert row["state"] == "identical" and "bpe-32k" in row["text"], row


def test_confounds_are_attributed_to_the_odd_arms_of_a_grid() -> None:
    """Which arm a confound belongs to: the arms off the most common value of its key; every
    arm involved when there is no common value; a replicate difference to its own arm; a
    sentence to the arm it names. Two arms never mark the whole grid."""
    from abtui.diff.fairness import confounded_arms
    from abtui.diff.findings import Finding

    arms = ["a", "b", "c", "d", "e"]

    def diff(key: str, x: str, y: str, vx: object, vy: object) -> Finding:
        return Finding(key, "envvars", vx, vy, False, "warning", f"{key}: {x} {vx} / {y} {vy}",
                       (x, y))

    # c and d set the same variable, the other three do not
    values = {"a": None, "b": None, "c": "Ring", "d": "Ring", "e": None}
    pairs = [(x, y) for i, x in enumerate(arms) for y in arms[i + 1:] if values[x] != values[y]]
    odd = confounded_arms([diff("envvar.NCCL_ALGO", x, y, values[x], values[y])
                           for x, y in pairs], arms)
    assert list(odd) == ["c", "d"]
    # three different values over three arms: no common value, every arm involved
    odd = confounded_arms([diff("env.torch", "a", "b", "2.3", "2.4"),
                           diff("env.torch", "a", "c", "2.3", "2.5"),
                           diff("env.torch", "b", "c", "2.4", "2.5")], ["a", "b", "c"])
    assert list(odd) == ["a", "b", "c"]
    # replicates of b differ; a host-load sentence names e's run
    odd = confounded_arms([diff("config.seed", "b.r0", "b.r1", 1, 2),
                           Finding("host.foreign_cpu", "hardware", None, None, False, "warning",
                                   "e.r1's own core 0 was busy 40 % of the time", ("a", "e"))],
                          arms)
    assert list(odd) == ["b", "e"]
    verdict = fairness([diff("envvar.X", "a", "c", None, "1"),
                        diff("envvar.X", "b", "c", None, "1")], arms=["a", "b", "c"])
    assert verdict.state == "confounded" and verdict.arms == {"c": [
        "envvar.X: a None / c 1", "envvar.X: b None / c 1"]}


def test_speed_only_confounds_leave_what_was_computed_fair() -> None:
    """Host load, a run alone on the machine, a power cap: they bias throughput, not the
    loss a seeded run computes. The state stays confounded, says so for speed only, and
    gates on loss or memory are checked on their numbers while a throughput gate fails."""
    from abtui.compare.gates import GateCheck, GateResult, parse_gate, require_fair
    from abtui.diff.fairness import SPEED_EFFECTS, state_words
    from abtui.diff.findings import Finding

    def load(key: str, msg: str) -> Finding:
        return Finding(key, "hardware", None, None, False, "warning", msg, ("a", "b"))

    busy = fairness([load("host.overlap", "b.r0 ran alone for 60 % of its steady state")])
    assert busy.state == "confounded" and busy.affects == "speed"
    words = state_words(busy)
    assert words.startswith("NOT a fair comparison of speed") and "loss, accuracy" in words
    mixed = fairness([load("host.overlap", "b.r0 ran alone"),
                      Finding("env.torch", "environment", "2.3", "2.4", False, "warning",
                              "torch differs", ("a", "b"))])
    assert mixed.affects == "all" and state_words(mixed).startswith(
        "NOT a fair comparison: ")
    gates = [GateResult(parse_gate(g), True, [GateCheck("b", 1.0, 1.0, "ci_lower", True)])
             for g in ("loss_delta <= 0.01", "memory_ratio <= 1.1", "throughput_ratio >= 0.97")]
    out = require_fair(gates, "confounded", "ran alone", speed_only=SPEED_EFFECTS)
    assert [r.passed for r in out] == [True, True, False]
    assert "comparison confounded" in out[2].line
