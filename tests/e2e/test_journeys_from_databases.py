"""The journeys live, their operational data from the source databases through Debezium.

The shop (`journeyctl.live_shop`) writes its catalogue, customers, consents, orders, shipments,
stock changes, tier upgrades and applications with SQL into PostgreSQL; Debezium captures them
into the CDC topics of CONTRACTS.md; the clicks go to Kafka stamped now. The journey job runs on
the standalone cluster (`flink run -py`, parallelism 2, unbounded, exactly-once), with the
cart and browse waits shortened to seconds. A channel sender reading `read_committed` must
receive each scenario's action, once, and nothing for the paths that end without one; a CRM
delete then erases a customer with a wait still open.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.readback import OutputReader
from jobs.journey import topics
from journeyctl.live_shop import DAY_ACTIONS, LIVE_WAITS, Shop, day, outside_holdouts, play, quick_definitions
from journeys.loader import load_dir
from tests.flink_cluster import rest, submit_journey, wait_until_running
from tests.journey_checks import flush_metrics, own_topics
from tests.stack import StackAddresses

pytestmark = pytest.mark.e2e


@pytest.fixture
def journey_job(
    flink_cluster: str, cdc: StackAddresses, settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> Iterator[Settings]:
    """The journey job running on the cluster over the real CDC topics and a clickstream of the
    test's own, with quick waits; cancelled at the end."""
    s = own_topics(settings, unique)
    # the CDC topics are the connectors' own, shared with every run (rows of other runs carry
    # other tags; their customers' actions are not this test's)
    s = s.model_copy(update={"topics": s.topics.model_copy(update={"cdc": settings.topics.cdc})})
    folder = quick_definitions(tmp_path / "definitions", LIVE_WAITS)
    s = s.model_copy(update={"journeys": s.journeys.model_copy(update={"definitions": str(folder)})})
    ensure_topics(s, topics(s), partitions=2)
    job = submit_journey(s)
    try:
        wait_until_running(flink_cluster, job)
        yield s
        state = rest(f"{flink_cluster}/jobs/{job}")["state"]
        assert state == "RUNNING", f"the job is {state}: {rest(f'{flink_cluster}/jobs/{job}/exceptions')}"
    finally:
        rest(f"{flink_cluster}/jobs/{job}?mode=cancel", method="PATCH")


def test_the_shops_databases_drive_every_journey_and_each_action_arrives_once(journey_job: Settings) -> None:
    s = journey_job
    journeys = load_dir(Path(s.journeys.definitions))
    shop = Shop(s, tag=outside_holdouts([f"c-{n}" for n in range(1, 11)], journeys))
    c = {n: shop.id(f"c-{n}") for n in range(1, 11)}
    sender = OutputReader(s)
    try:
        play(shop, day(shop), say=print)

        every = [(shop.id(name), t) for name, t in DAY_ACTIONS]
        sender.until(lambda x: all(x.of(cid, t) for cid, t in every), 180, "every action of the day")
        sender.until(lambda x: x.exited(shop.id("cart-5")) is not None, 30, "cart-5's exit")
        sender.drain(3)  # a little more, so that an action sent twice would be seen too

        # 1. carts: nearest store / low stock / sold out, alternatives / bought / sold out, none to offer
        (collect,) = sender.of(c[1], "reserve_and_collect")
        assert collect["store"]["store_id"] == shop.id("s-mitte") and collect["channel"] == "email"
        (low,) = sender.of(c[2], "cart_reminder")
        assert low["urgency"] is True
        (alt,) = sender.of(c[3], "cart_alternatives")
        assert [a["sku"] for a in alt["alternatives"]] == [shop.id("SKU-5")]
        assert sender.exited(shop.id("cart-4")) == "purchased" and not [
            a for a in sender.actions if a["customer_id"] == c[4]
        ]
        assert sender.exited(shop.id("cart-5")) == "no_alternative_in_stock"
        assert not [a for a in sender.actions if a["customer_id"] == c[5]]
        # 4. the tier upgrade: recognition on the preferred channel, benefits in the app
        (tier,) = sender.of(c[6], "tier_recognition")
        assert tier["channel"] == "push" and tier["attributes"].get("new_tier") == "gold", tier
        assert [a["channel"] for a in sender.of(c[6], "benefits_unlocked")] == ["in_app"]
        # 2. onboarding: the missing passport asked for, then the fast track once verified
        (docs,) = sender.of(c[7], "document_request")
        assert "passport" in json.dumps(docs["attributes"]), docs
        assert len(sender.of(c[7], "activation_fast_track")) == 1
        # 3. the delayed shipment: a status update with the new date, at once
        (update,) = sender.of(c[8], "delivery_status_update")
        assert update["purpose"] == "transactional"
        # 5. welcome and browse
        assert len(sender.of(c[9], "welcome")) == 1
        (browse,) = sender.of(c[10], "browse_reminder")
        assert {i["sku"] for i in browse["items"]} == {shop.id("SKU-2"), shop.id("SKU-3")}
        # each decision once: no action id twice
        ids = [a["action_id"] for a in sender.actions]
        assert len(ids) == len(set(ids)), "an action arrived twice"

        # erasure: c-1's cart waits for its second touch; the CRM delete ends it
        shop.forget(c[1])
        sender.until(lambda x: x.exited(shop.id("cart-1")) is not None, 60, "c-1's erasure")
        assert sender.exited(shop.id("cart-1")) == "erasure"

        # the cluster's TaskManagers count them for Prometheus (each on its own port)
        flush_metrics(s)
        counted = _cluster_actions_sent(len(every))
        assert counted >= len(every), f"the TaskManagers' Prometheus endpoints count {counted} actions"
    finally:
        sender.close()
        shop.close()


def _cluster_actions_sent(at_least: int, timeout_s: float = 30) -> int:
    """Actions the running job counted, summed over every endpoint of the cluster's reporter
    (deploy/local/cluster.py: the JobManager and each TaskManager on 9260-9269). The stages hand
    their counts over at most a second apart while records come; the drain above brought more."""
    import time

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + timeout_s
    total = 0
    while time.monotonic() < deadline:
        total = 0
        for port in range(9260, 9270):
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError:
                continue
            total += int(
                sum(
                    s.value
                    for f in text_string_to_metric_families(text)
                    for s in f.samples
                    if s.name.endswith("_actions_sent")
                )
            )
        if total >= at_least:
            break
        time.sleep(1)
    return total
