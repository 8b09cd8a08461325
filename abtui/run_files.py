"""The run directory's files as types: ``exit.json`` (``ArmExit``, a msgspec Struct: it has
behaviour), ``manifest.json`` (``Manifest``, ``ManifestRun``) and the lines of
``telemetry.jsonl`` (``Sample``, ``GpuInfo``, ``NodeSample``), TypedDicts: the JSON on
disk is what it was, and mypy checks the code that builds and reads it. Where each file
is written: ``abtui.rundir``'s docstring and docs/architecture.md."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

import msgspec


class ManifestRun(TypedDict):
    """One run of ``manifest.json`` ``runs``: what ``new_manifest`` writes, then what the
    launch adds (``ref``, ``inspect``, placement). Secrets are masked before it is built."""

    arm: str
    replicate: int
    seed: int | None
    gpus: list[int]
    command: list[str]
    config: dict[str, Any]
    config_hash: str
    image: str | None
    env: dict[str, str]
    secret_digests: dict[str, str]
    code: NotRequired[dict[str, Any]]  # a git arm: its commit and checkout
    cpu_slot: NotRequired[int | None]  # placement.cpu_slots index of a pinned CPU arm
    cpus: NotRequired[list[int] | None]
    started_at: NotRequired[float]
    ref: NotRequired[dict[str, Any]]  # the backend's handle: pid / container / job id
    inspect: NotRequired[dict[str, Any]]  # the backend's facts about the running arm
    launch_error: NotRequired[str]


class Manifest(TypedDict):
    """``manifest.json``: the resolved spec, the runs, the backend's facts."""

    abtui_version: str
    experiment: str
    created_at: float
    status: str  # running, finished, detached, failed
    spec_path: str
    spec: dict[str, Any]
    backend: str
    workdir: str
    host: dict[str, Any]
    backend_facts: dict[str, Any]
    runs: dict[str, ManifestRun]
    placement: NotRequired[dict[str, Any]]  # CPU slots (experiment/manifest.py cpu_placement)
    design: NotRequired[dict[str, Any]]  # how runs are ordered and paired (new_manifest)
    code: NotRequired[dict[str, Any]]  # the working tree's state (diff/working_tree.py)
    finished_at: NotRequired[float]
    detached_at: NotRequired[float]
    caught_up_at: NotRequired[float]
    error: NotRequired[str]


class _RunShape(msgspec.Struct, kw_only=True):
    """The types of a manifest run's keys that abtui reads (every key optional: an older
    version wrote fewer; keys it does not know are let through)."""

    arm: str = ""
    replicate: int = 0
    seed: int | None = None
    gpus: list[int] = msgspec.field(default_factory=list)
    command: list[str] = msgspec.field(default_factory=list)
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    config_hash: str = ""
    image: str | None = None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    secret_digests: dict[str, str] = msgspec.field(default_factory=dict)
    code: dict[str, Any] | None = None
    cpu_slot: int | None = None
    cpus: list[int] | None = None
    started_at: float | None = None
    ref: dict[str, Any] | None = None
    inspect: dict[str, Any] | None = None
    launch_error: str | None = None


class _ManifestShape(msgspec.Struct, kw_only=True):
    """The types of ``manifest.json``'s keys that abtui reads (see ``_RunShape``)."""

    abtui_version: str = ""
    experiment: str = ""
    created_at: float | None = None
    status: str = ""
    spec_path: str = ""
    spec: dict[str, Any] = msgspec.field(default_factory=dict)
    backend: str = ""
    workdir: str | None = None
    host: dict[str, Any] = msgspec.field(default_factory=dict)
    backend_facts: dict[str, Any] = msgspec.field(default_factory=dict)
    runs: dict[str, _RunShape] = msgspec.field(default_factory=dict)
    placement: dict[str, Any] | None = None
    design: dict[str, Any] | None = None
    code: dict[str, Any] | None = None
    finished_at: float | None = None
    detached_at: float | None = None
    caught_up_at: float | None = None
    error: str | None = None


def manifest_problem(data: Any) -> str | None:
    """Why ``data`` (a parsed manifest.json) is not a manifest abtui can read: the first
    key of the wrong type, in msgspec's words with its path (``$.runs['a.r0'].replicate``);
    None when every key abtui reads has its type. Read where the file is read, so that a
    crafted manifest is a clear refusal, never an error deep inside."""
    try:
        msgspec.convert(data, _ManifestShape)
    except msgspec.ValidationError as exc:
        return str(exc)
    return None


class ArmExit(msgspec.Struct, frozen=True):
    """How an arm ended: what a backend's ``poll`` says, and ``arms/<run>/exit.json``
    (with ``status``, the arms-table state it was recorded as).

    On disk: ``exit_code``, ``oom_killed``, ``error`` and ``finished_at`` always (null
    when unknown), ``lost`` only when true, ``status`` once recorded.
    """

    exit_code: int | None = None
    oom_killed: bool = False
    error: str | None = None
    finished_at: float | None = None
    lost: bool = False  # taken away (its node failed, preempted), not failed on its own
    status: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.oom_killed

    def recorded(self, status: str) -> ArmExit:
        """This exit as recorded with the arm's ``status``."""
        return msgspec.structs.replace(self, status=status)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of exit.json (and of ``report.json`` and the store snapshot)."""
        return {"exit_code": self.exit_code, "oom_killed": self.oom_killed,
                "error": self.error, "finished_at": self.finished_at,
                **({"lost": True} if self.lost else {}),
                **({"status": self.status} if self.status is not None else {})}

    @classmethod
    def from_dict(cls, d: Any) -> ArmExit | None:
        """An exit.json as read (None when it is not one: absent, or not an object). A
        field of the wrong type is read as unknown, never fatal."""
        if not isinstance(d, dict):
            return None
        try:
            return msgspec.convert(d, cls)
        except msgspec.ValidationError:  # a hand-edited or foreign file: keep what is sound
            code, fin = d.get("exit_code"), d.get("finished_at")
            return cls(code if type(code) is int else None, d.get("oom_killed") is True,
                       d["error"] if isinstance(d.get("error"), str) else None,
                       float(fin) if isinstance(fin, (int, float)) and not isinstance(fin, bool)
                       else None, d.get("lost") is True,
                       d["status"] if isinstance(d.get("status"), str) else None)



class NodeSample(TypedDict):
    """A remote node's latest sample as merged into this host's sample (``nodes[run]``)."""

    t: float  # the node's time plus its skew: this host's clock
    skew_s: float
    offset: int  # bytes of the node's file merged so far
    hostname: str | None
    host: dict[str, Any]
    cost_ms: float | None


class Sample(TypedDict):
    """A ``sample`` line of telemetry.jsonl (see ``abtui.telemetry.sampler``)."""

    kind: Literal["sample"]
    v: int  # telemetry.samples.SAMPLE_VERSION; older lines are upgraded where read
    t: float
    host: dict[str, Any]
    gpus: list[dict[str, Any]]  # each names the run it belongs to under "run"
    runs: dict[str, Any]  # run id -> its processes' CPU and memory
    foreign: list[dict[str, Any]]
    cost_ms: NotRequired[float]
    cost_cpu_ms: NotRequired[float]
    nodes: NotRequired[dict[str, NodeSample]]  # remote arms' nodes (node agents)


class GpuInfo(TypedDict):
    """A ``gpu_info`` line: the static facts that samples leave out."""

    kind: Literal["gpu_info"]
    t: float
    available: bool
    reason_unavailable: str | None
    driver: str | None
    gpus: list[dict[str, Any]]
