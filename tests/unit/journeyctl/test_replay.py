from __future__ import annotations

from common.settings import Settings
from jobs.simulate import parse_records
from journeyctl.replay import stamped
from journeyctl.sample_data import shop_day


def test_records_go_to_the_topics_settings_name_stamped_with_their_own_time() -> None:
    base = Settings()
    topics = base.topics.model_copy(
        update={"clickstream": "clicks-x", "cdc": {t: f"{name}-x" for t, name in base.topics.cdc.items()}}
    )
    records = list(parse_records(shop_day()))
    out = stamped(base.model_copy(update={"topics": topics}), records)

    assert len(out) == len(records)
    assert {topic for topic, *_ in out} <= {"clicks-x", *topics.cdc.values()}
    stamps = [ts for *_, ts in out]
    # the recorded day's own times (2026-11-23 08:00 to 11-25 10:00 UTC), in file order
    assert stamps == sorted(stamps)
    assert (stamps[0], stamps[-1]) == (1795420800000, 1795600800000)
