"""The run directory's exit records: typed in memory, the same JSON on disk as before."""

from __future__ import annotations

import json

from abtui.rundir import ArmExit, RunDir


def test_an_exit_record_reads_back_as_the_same_json(tmp_path) -> None:
    rd = RunDir.create(tmp_path, "x")
    (rd.root / "arms" / "a").mkdir()
    # exit.json exactly as the versions before the typed record wrote it
    old = {"exit_code": 137, "oom_killed": True, "error": "killed: out of memory",
           "finished_at": 1796174622.5, "status": "oom-killed"}
    rd.exit_path("a").write_text(json.dumps(old, indent=2))
    ended = rd.read_exit("a")
    assert ended is not None and ended.exit_code == 137 and ended.oom_killed
    assert ended.status == "oom-killed" and not ended.ok
    rd.write_exit("a", ended)
    assert json.loads(rd.exit_path("a").read_text()) == old  # nothing added, nothing lost


def test_lost_is_written_only_when_an_arm_was_taken_away() -> None:
    assert "lost" not in ArmExit(1, error="failed").to_dict()
    gone = ArmExit(None, error="NODE_FAIL", lost=True).recorded("lost")
    assert gone.to_dict() == {"exit_code": None, "oom_killed": False, "error": "NODE_FAIL",
                              "finished_at": None, "lost": True, "status": "lost"}


def test_a_launch_failure_record_of_an_older_version_and_a_damaged_one_are_read(tmp_path) -> None:
    # a launch failure was written without finished_at
    launch = ArmExit.from_dict({"exit_code": None, "oom_killed": False,
                                "error": "image not found", "status": "failed"})
    assert launch is not None and launch.error == "image not found" and launch.finished_at is None
    # a hand-edited file: what is sound is kept, the rest is unknown, nothing raises
    damaged = ArmExit.from_dict({"exit_code": "7", "oom_killed": "yes", "error": 3,
                                 "finished_at": 12, "status": "failed", "other": 1})
    assert damaged == ArmExit(None, False, None, 12.0, False, "failed")
    assert ArmExit.from_dict(["not", "an", "object"]) is None
    rd = RunDir.create(tmp_path, "y")
    assert rd.read_exit("never-ran") is None
