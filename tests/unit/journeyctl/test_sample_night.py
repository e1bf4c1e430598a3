"""`simulate` over the recorded nights: quiet hours, deleted consents and a time column's other
encoding do what docs/journeys.md and CONTRACTS.md say (the paths in `journeyctl.sample_night`)."""

from __future__ import annotations

from common.settings import REPO
from jobs.simulate import read_records
from journeyctl.sample_night import shop_night
from tests.journey_checks import assert_night_paths, simulated

SAMPLE = REPO / "samples" / "night.jsonl"


def test_the_committed_sample_is_what_the_generator_writes() -> None:
    assert SAMPLE.read_text().splitlines() == shop_night(), "run `journeyctl sample-data` and commit the file"


def test_the_nights_give_each_path_its_outcome() -> None:
    sim = simulated(read_records(SAMPLE))
    assert_night_paths(sim.actions, sim.journey_events)
    # nothing dead-lettered (the consent rows with a `timestamp` updated_at are used), both
    # tombstones applied as deletes
    assert not [k for k in sim.counts if k.startswith(("dead_letter", "skipped"))], sim.counts
    # every deferral ended in exactly one sent or suppressed event
    deferred = {e["action_id"] for e in sim.journey_events if e["event_type"] == "deferred"}
    ends = [e["action_id"] for e in sim.journey_events if e["event_type"] in ("action", "suppressed")]
    assert deferred and all(ends.count(a) == 1 for a in deferred)
