"""Journey-time watermarks (`WallClockWatermarks`, Java) driven directly through the JVM.

A bounded run is in event time alone, so that its decisions do not depend on how fast it runs;
an unbounded one follows wall-clock time when a partition goes quiet, so that live waits fire.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pyflink.java_gateway import get_gateway

from common.settings import Settings
from jobs.environment import create_environment

pytestmark = pytest.mark.integration

T0 = 1_795_424_400_000


class Output:
    """A WatermarkOutput implemented in Python (py4j calls back into it)."""

    def __init__(self) -> None:
        self.watermarks: list[int] = []
        self.idle = False

    def emitWatermark(self, watermark: Any) -> None:
        self.watermarks.append(watermark.getTimestamp())

    def markIdle(self) -> None:
        self.idle = True

    def markActive(self) -> None:
        self.idle = False

    class Java:
        implements = ["org.apache.flink.api.common.eventtime.WatermarkOutput"]


def generator(settings: Settings, follow: bool, idle_ms: int = 50, startup_ms: int = 100) -> Any:
    create_environment(settings)  # puts the project's jar on the gateway's class path
    strategy = get_gateway().jvm.io.journeys.flink.WallClockWatermarks.strategy(
        2000, idle_ms, startup_ms, follow
    )
    return strategy.createWatermarkGenerator(None)


def test_a_bounded_partition_that_delivered_nothing_holds_journey_time_however_long_it_takes(
    settings: Settings,
) -> None:
    slow, out = generator(settings, follow=False), Output()
    time.sleep(0.3)  # past the start-up patience
    slow.onPeriodicEmit(out)
    assert (out.watermarks, out.idle) == ([], False), "it must hold the others back, not go idle"


def test_a_bounded_partition_is_in_event_time_alone(settings: Settings) -> None:
    g, out = generator(settings, follow=False), Output()
    g.onEvent(None, T0, out)
    g.onPeriodicEmit(out)
    time.sleep(0.3)  # a stall: wall time passes, journey time must not
    g.onPeriodicEmit(out)
    g.onEvent(None, T0 + 10_000, out)
    g.onPeriodicEmit(out)
    assert out.watermarks == [T0 - 2000, T0 + 8000]
    assert not out.idle


def test_a_live_partition_follows_wall_time_and_goes_idle_when_it_has_had_nothing(settings: Settings) -> None:
    g, out = generator(settings, follow=True), Output()
    g.onEvent(None, T0, out)
    g.onPeriodicEmit(out)
    time.sleep(0.3)
    g.onPeriodicEmit(out)
    assert len(out.watermarks) == 2 and out.watermarks[1] - out.watermarks[0] >= 250
    empty, out2 = generator(settings, follow=True), Output()
    time.sleep(0.3)
    empty.onPeriodicEmit(out2)
    assert out2.idle


def test_a_live_partition_that_delivered_nothing_waits_the_start_up_patience_not_the_idle_timeout(
    settings: Settings,
) -> None:
    empty, out = generator(settings, follow=True, idle_ms=60_000, startup_ms=100), Output()
    empty.onPeriodicEmit(out)
    assert not out.idle, "within the patience it holds journey time"
    time.sleep(0.3)
    empty.onPeriodicEmit(out)
    assert out.idle, "past the start-up patience an empty partition stops holding the job back"
    busy, out2 = generator(settings, follow=True, idle_ms=60_000, startup_ms=100), Output()
    busy.onEvent(None, T0, out2)
    time.sleep(0.3)
    busy.onPeriodicEmit(out2)
    assert not out2.idle and out2.watermarks, "one that delivered keeps its clock"
