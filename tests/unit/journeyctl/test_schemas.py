from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from common.settings import REPO, Settings
from journeyctl.schemas import check_history, subjects

V1: dict[str, Any] = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
V2 = {**V1, "fields": [*V1["fields"], {"name": "b", "type": ["null", "string"], "default": None}]}
BREAKING = {**V1, "fields": [*V1["fields"], {"name": "c", "type": "string"}]}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True
    )


def _commit(repo: Path, schema: dict[str, Any], msg: str) -> None:
    (repo / "r.avsc").write_text(json.dumps(schema))
    _git(repo, "add", "r.avsc")
    _git(repo, "commit", "-m", msg)


def test_history_check_passes_compatible_and_names_a_breaking_commit(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _commit(tmp_path, V1, "v1")
    _commit(tmp_path, V2, "v2")
    assert check_history([tmp_path / "r.avsc"], repo=tmp_path) == []

    (tmp_path / "r.avsc").write_text(json.dumps({**V2, "fields": [*V2["fields"], BREAKING["fields"][1]]}))
    problems = check_history([tmp_path / "r.avsc"], repo=tmp_path)
    assert len(problems) == 1
    assert "working tree" in problems[0].file and ".c: new field without a default" in str(problems[0])

    _commit(tmp_path, BREAKING, "breaking")
    problems = check_history([tmp_path / "r.avsc"], repo=tmp_path)
    assert len(problems) == 1 and problems[0].file.startswith("r.avsc (commit ")


def test_the_committed_schemas_have_a_compatible_history() -> None:
    assert check_history(sorted((REPO / "schemas").glob("*.avsc"))) == []


def test_subjects_follow_the_topic_name_strategy() -> None:
    pairs = dict(subjects(Settings()))
    assert pairs["actions.email-value"] == "action" and pairs["actions.in_app-value"] == "action"
    assert pairs["journey-events-value"] == "journey_event"
    assert pairs["dead-letter-value"] == "dead_letter"
    assert pairs["channel-feedback-value"] == "channel_feedback"
    assert pairs["clickstream-value"] == "clickstream_event"
