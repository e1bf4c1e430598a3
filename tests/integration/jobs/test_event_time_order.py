"""Journey-time order in the JVM (`EventTimeOrder`, via `jobs.stages.keys.in_journey_time_order`):
each key's records reach the Python stage after it in time order, ties in arrival order, at
parallelism 2, whatever order they were read in."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream.functions import KeyedProcessFunction, MapFunction

from common.settings import Settings
from jobs.environment import create_environment
from jobs.stages.keys import TIMED, in_journey_time_order, timed_row

pytestmark = pytest.mark.integration


class ByTime(TimestampAssigner):  # type: ignore[misc]
    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return int(value.split("|")[1])


class Arrivals(MapFunction):  # type: ignore[misc]
    """Numbers records in the order they pass into the ordering (a collection source has none)."""

    def open(self, runtime_context: Any) -> None:
        self.n = 0

    def map(self, text: str) -> Any:
        k, t, _ = text.split("|")
        self.n += 1
        return timed_row(k, int(t), pickle.dumps((k, int(t), self.n)))


class Seen(KeyedProcessFunction):  # type: ignore[misc]
    """What the Python stage gets: the value, and the watermark it gets it under."""

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        k, t, n = pickle.loads(value)
        yield (k, t, n, ctx.timer_service().current_watermark())


def test_each_keys_records_reach_the_python_stage_in_journey_time_order(settings: Settings) -> None:
    read = [("a", 30, 0), ("b", 5, 1), ("a", 10, 2), ("a", 20, 3), ("b", 1, 4), ("a", 10, 5), ("c", 7, 6)]
    env = create_environment(
        settings.model_copy(update={"flink": settings.flink.model_copy(update={"parallelism": 2})})
    )
    rows = (
        env.from_collection([f"{k}|{t}|{n}" for k, t, n in read], type_info=Types.STRING())
        .set_parallelism(1)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100)).with_timestamp_assigner(
                ByTime()
            )
        )
        .set_parallelism(1)
        .map(Arrivals(), output_type=TIMED)
        .set_parallelism(1)  # one channel into the ordering: arrival order is defined, ties keep it
    )
    out = in_journey_time_order(rows, "test", 1).process(Seen(), output_type=Types.PICKLED_BYTE_ARRAY())
    got = list(out.execute_and_collect("event-time-order"))
    by_key: dict[str, list[tuple[int, int]]] = {}
    for k, t, n, watermark in got:
        by_key.setdefault(k, []).append((t, n))
        assert watermark < t, "released before the watermark that passed it reaches the stage"
    for k, want in (("a", [10, 10, 20, 30]), ("b", [1, 5]), ("c", [7])):
        assert [t for t, _ in by_key[k]] == want, by_key
    ties = [n for t, n in by_key["a"] if t == 10]
    assert ties == sorted(ties), f"records of the same time leave in arrival order: {by_key['a']}"
