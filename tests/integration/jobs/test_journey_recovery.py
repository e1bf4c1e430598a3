"""A job cancelled (or failed) in the middle of waits is resumed from its retained checkpoint.

The shop day is cut after the carts were abandoned and before their waits are due. The first
run reads the first part and is cancelled, not stopped with a savepoint: what it leaves is its
retained checkpoints. The consumer group has committed offsets by then, so a start with empty
state is refused; the second run resumes from the latest checkpoint, as `journeyctl run` does,
reads the rest and is stopped draining. Counted with `read_committed` over both runs, the outputs
must be exactly what `simulate` decides: nothing lost, nothing doubled.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from common.settings import Settings
from connectors.admin import committed_partitions, ensure_topics
from jobs.environment import stop_with_savepoint
from jobs.journey import topics
from jobs.recovery import EmptyStateRefused, checkpoint_folder, choose_start
from jobs.simulate import Simulation
from journeyctl.replay import replay
from journeyctl.sample_data import shop_day
from journeys.loader import load_dir
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


def test_a_cancelled_job_resumes_from_its_retained_checkpoint_losing_and_doubling_nothing(
    settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    first, rest = split_at(shop_day(), CUT)
    sim = Simulation(load_dir())
    sim.run(first, drain_ms=0)
    at_cut = (list(sim.actions), list(sim.journey_events))
    assert any(e["event_type"] == "waiting" for e in sim.journey_events), "the cut must leave waits open"
    sim.run(rest, drain_ms=0)
    sim.advance(sim.clock + 365 * 86_400_000)

    s = own_topics(settings, unique)
    folder = checkpoint_folder(tmp_path / "checkpoints", "journey")
    s = s.model_copy(update={"flink": s.flink.model_copy(update={"checkpoint_dir": str(folder)})})
    inputs = s.topics.inputs()
    ensure_topics(s, topics(s), partitions=2)

    assert choose_start(folder, None, False, s.consumer_group, 0).restore_from is None
    replay(s, first)
    client = start_journey(s, "journey-to-be-cancelled")
    wait_until_consumed(s, inputs)
    actions, events = read_outputs(s, *at_cut)
    assert_same_decisions(actions, events, *at_cut)
    client.cancel().result()

    # what an operator's resubmission finds: committed offsets, and the checkpoints kept
    committed = committed_partitions(s, s.consumer_group, inputs)
    assert committed > 0
    with pytest.raises(EmptyStateRefused):
        choose_start(tmp_path / "elsewhere", None, False, s.consumer_group, committed)
    start = choose_start(folder, None, False, s.consumer_group, committed)
    assert start.restore_from is not None and (start.restore_from / "_metadata").exists()

    replay(s, rest)
    client = start_journey(s, "journey-resumed", restore_from=start.restore_from)
    wait_until_consumed(s, inputs)
    stop_with_savepoint(client, tmp_path / "savepoints", drain=True)

    actions, events = read_outputs(s, sim.actions, sim.journey_events)
    assert_same_decisions(actions, events, sim.actions, sim.journey_events)
    assert_cart_paths(actions, events)
