"""Stop-with-savepoint in the middle of waits, restore with a new journey version.

The shop day is cut after the carts were abandoned and before their 30-minute waits are due.
The first run reads the first part and is stopped with a savepoint while five waits are open.
The second run restores from it with new definitions (cart_abandonment v2 beside v1) and
reads the rest, which opens one more cart; at its end it is stopped draining, so that every
remaining wait fires. Counted with `read_committed` over both runs, the outputs must be
exactly what `simulate` decides with the same cut: nothing lost, nothing doubled, the waits
opened before the savepoint acting on v1 after it, the new cart on v2.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from connectors.admin import ensure_topics
from jobs.environment import stop_with_savepoint
from jobs.journey import topics
from jobs.simulate import Simulation
from journeyctl.replay import replay
from journeyctl.sample_data import shop_day
from journeys.loader import DEFINITIONS, load_dir
from tests.journey_checks import (
    CUT,
    assert_cart_paths,
    assert_same_decisions,
    own_topics,
    read_outputs,
    split_at,
    start_journey,
)
from tests.kafka_helpers import wait_until_consumed

pytestmark = pytest.mark.integration

SECOND_CART = {
    "topic": "clickstream",
    "key": "c-1",
    "value": {
        "type": "track",
        "messageId": "msg-savepoint-1",
        "userId": "c-1",
        "event": "Product Added",
        "timestamp": "2026-11-23T09:22:00.000Z",
        "properties": {"cart_id": "cart-1b", "product_id": "p-3", "sku": "SKU-3", "category": "Jackets"},
        "context": {"channel": "web", "timezone": "Europe/Berlin"},
    },
}


def _definitions(tmp: Path, with_v2: bool) -> Path:
    folder = tmp / ("v1+v2" if with_v2 else "v1")
    shutil.copytree(DEFINITIONS, folder)
    if with_v2:
        v1 = (DEFINITIONS / "cart_abandonment.yaml").read_text()
        v2 = v1.replace("version: 1\n", "version: 2\n", 1).replace(
            "wait: {quiet: 30m}", "wait: {quiet: 20m}", 1
        )
        assert v2.count("version: 2") == 1 and "quiet: 20m" in v2, "cart_abandonment.yaml changed shape"
        (folder / "cart_abandonment.v2.yaml").write_text(v2)
    return folder


def test_a_restore_in_the_middle_of_waits_loses_and_doubles_nothing_and_keeps_versions(
    settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    v1, v1_v2 = _definitions(tmp_path, with_v2=False), _definitions(tmp_path, with_v2=True)
    first, rest = split_at([*shop_day(), json.dumps(SECOND_CART)], CUT)

    # what simulate decides with the same cut and the same change of definitions
    sim = Simulation(load_dir(v1))
    sim.run(first, drain_ms=0)
    at_cut = (list(sim.actions), list(sim.journey_events))
    waiting = {
        (e["customer_id"], e["journey_id"], e["instance_key"])
        for e in sim.journey_events
        if e["event_type"] == "waiting"
    }
    sim.redeploy(load_dir(v1_v2))
    sim.run(rest, drain_ms=0)
    read_all = (len(sim.actions), len(sim.journey_events))
    sim.advance(sim.clock + 365 * 86_400_000)
    assert len(sim.actions) > read_all[0], "waits must still be open at the end of the input"

    s1 = own_topics(settings, unique)
    s1 = s1.model_copy(update={"journeys": s1.journeys.model_copy(update={"definitions": str(v1)})})
    s2 = s1.model_copy(update={"journeys": s1.journeys.model_copy(update={"definitions": str(v1_v2)})})
    inputs = s1.topics.inputs()
    ensure_topics(s1, topics(s1), partitions=2)

    replay(s1, first)
    client = start_journey(s1, "journey-before-savepoint")
    wait_until_consumed(s1, inputs)
    actions, events = read_outputs(s1, *at_cut)
    assert_same_decisions(actions, events, *at_cut)
    savepoint = stop_with_savepoint(client, tmp_path / "savepoints")

    replay(s2, rest)
    client = start_journey(s2, "journey-after-savepoint", restore_from=savepoint)
    wait_until_consumed(s2, inputs)
    stop_with_savepoint(client, tmp_path / "savepoints", drain=True)

    actions, events = read_outputs(s2, sim.actions, sim.journey_events)
    assert_same_decisions(actions, events, sim.actions, sim.journey_events)
    assert_cart_paths(actions, events)

    def cart_actions(version: int) -> list[dict[str, Any]]:
        return [
            a for a in actions if a["journey_id"] == "cart_abandonment" and a["journey_version"] == version
        ]

    # the waits open at the savepoint acted after the restore, on the version they entered with
    def instance(e: dict[str, Any]) -> tuple[str, str, str]:
        return e["customer_id"], e["journey_id"], e["instance_key"]

    before = {e["event_id"] for e in at_cut[1]}
    acted_after = {
        instance(e)
        for e in events
        if e["event_type"] == "action" and e["event_id"] not in before and instance(e) in waiting
    }
    assert acted_after, "no wait open at the savepoint acted after the restore"
    assert {e["journey_version"] for e in events if instance(e) in acted_after} == {1}
    assert {a["customer_id"] for a in cart_actions(1)} >= {"c-1", "c-2", "c-3"}
    # the cart opened after the restore entered the new version
    assert {a["customer_id"] for a in cart_actions(2)} == {"c-1"}
    assert {e["journey_version"] for e in events if e["instance_key"] == "cart-1b"} == {2}
