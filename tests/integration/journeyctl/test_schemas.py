"""`journeyctl schemas register` and `check` against the real registry."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from common.settings import Settings
from connectors.avro import SCHEMAS_DIR
from journeyctl.schemas import check_registry, register, subjects

pytestmark = pytest.mark.integration


def _settings(settings: Settings, unique: Callable[[str], str]) -> Settings:
    t = settings.topics
    return settings.model_copy(
        update={
            "topics": t.model_copy(
                update={
                    "actions": {ch: unique(topic) for ch, topic in t.actions.items()},
                    "journey_events": unique("journey-events"),
                    "dead_letter": unique("dead-letter"),
                    "channel_feedback": unique("channel-feedback"),
                    "clickstream": unique("clickstream"),
                }
            )
        }
    )


def test_register_sets_backward_and_check_refuses_a_breaking_change(
    settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    s = _settings(settings, unique)
    ids = register(s)
    client = SchemaRegistryClient(s.registry.client_config())
    for subject, _ in subjects(s):
        assert client.get_compatibility(subject) == "BACKWARD"
        assert client.get_latest_version(subject).schema_id == ids[subject]
    assert register(s) == ids, "registering again changes nothing"

    assert check_registry(s) == []

    changed = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, changed)
    action = json.loads((changed / "action.avsc").read_text())
    action["fields"].append({"name": "priority", "type": "int", "doc": "breaking: no default"})
    (changed / "action.avsc").write_text(json.dumps(action))
    problems = check_registry(s, changed)
    assert {p.against.split()[-1] for p in problems} == {f"{t}-value" for t in s.topics.actions.values()}
    assert all(".priority: new field without a default" in str(p) for p in problems)

    action["fields"][-1] = {"name": "priority", "type": "int", "default": 0, "doc": "compatible"}
    (changed / "action.avsc").write_text(json.dumps(action))
    assert check_registry(s, changed) == []
