"""`simulate` over the recorded sample day: every shipped journey does what SCENARIOS.md says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from common.settings import REPO
from jobs.simulate import Simulation, read_records
from journeyctl.sample_data import shop_day
from journeys.loader import load_dir

SAMPLE = REPO / "samples" / "shop.jsonl"
DAY = 86_400_000


def _run() -> Simulation:
    sim = Simulation(load_dir())
    sim.run(read_records(SAMPLE), drain_ms=30 * DAY)
    return sim


def test_the_committed_sample_is_what_the_generator_writes() -> None:
    assert SAMPLE.read_text().splitlines() == shop_day(), "run `journeyctl sample-data` and commit the file"


def test_the_sample_day_gives_the_expected_actions() -> None:
    sim = _run()
    first = {}
    for a in sim.actions:
        first.setdefault((a["customer_id"], a["journey_id"]), a["action_type"])
    assert first == {
        ("c-1", "cart_abandonment"): "reserve_and_collect",  # in stock at the nearest store
        ("c-2", "cart_abandonment"): "cart_reminder",  # low stock, no store nearby
        ("c-3", "cart_abandonment"): "cart_alternatives",  # sold out, boots in stock
        ("c-6", "loyalty_milestone"): "tier_recognition",
        ("c-7", "compliance_onboarding"): "document_request",
        ("c-8", "delivery_followup"): "delivery_followup",
        ("c-9", "welcome_series"): "welcome",
        ("c-10", "browse_abandonment"): "browse_reminder",
    }
    by = {(a["customer_id"], a["action_type"]): a for a in sim.actions}
    assert by[("c-2", "cart_reminder")]["urgency"] is True
    assert [x["sku"] for x in by[("c-3", "cart_alternatives")]["alternatives"]] == ["SKU-5"]
    assert by[("c-7", "document_request")]["attributes"]["documents"] == "passport"
    assert by[("c-6", "tier_recognition")]["attributes"]["new_tier"] == "gold"
    exits = {
        (e["customer_id"], e["journey_id"]): e["reason"]
        for e in sim.journey_events
        if e["event_type"] == "exited"
    }
    assert exits[("c-4", "cart_abandonment")] == "purchased"  # bought during the wait: nothing sent
    assert exits[("c-5", "cart_abandonment")] == "no_alternative_in_stock"  # sold out during the wait
    assert exits[("c-9", "welcome_series")] == "ordered"
    assert not [a for a in sim.actions if a["customer_id"] in ("c-4", "c-5")]
    assert sim.counts["events"] > 0 and not [k for k in sim.counts if k.startswith("dead_letter")]


def test_simulate_and_validate_commands(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "journeyctl.cli"]
    out = subprocess.run(
        [*cli, "simulate", str(SAMPLE), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout.splitlines()
    actions = [json.loads(x)["action"] for x in out if x.startswith('{"action"')]
    assert len(actions) == len(_run().actions)
    ok = subprocess.run([*cli, "validate"], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0 and ok.stdout.count("ok ") == len(load_dir())
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nversion: 1\nname: Bad\nentry: {click: A}\nsteps:\n  - id: a\n    wiat: {for: 1m}\n"
    )
    failed = subprocess.run([*cli, "validate", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert failed.returncode == 1 and f"{bad}:7: steps.0.wiat: unknown field 'wiat'" in failed.stdout
