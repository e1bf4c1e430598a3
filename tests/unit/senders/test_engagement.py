from __future__ import annotations

from common.sender_settings import EngagementRates, SimulatorSettings
from senders.engagement import engagement


def _sim(**rates: float) -> SimulatorSettings:
    return SimulatorSettings(
        enabled=True, delay_ms=1_000, segments={"c-*": {"push": EngagementRates(**rates)}}
    )


def test_off_means_no_engagement() -> None:
    assert engagement(SimulatorSettings(), "a-1", "c-1", "push", 0) == []


def test_always_open_and_click_comes_in_time_order() -> None:
    assert engagement(_sim(open=1, click=1), "a-1", "c-1", "push", 5_000) == [
        ("opened", 6_000),
        ("clicked", 7_000),
    ]


def test_an_unsubscribe_comes_instead_of_an_open() -> None:
    assert engagement(_sim(open=1, unsubscribe=1), "a-1", "c-1", "push", 0) == [("unsubscribed", 1_000)]


def test_rates_hold_over_many_actions_and_the_same_action_gets_the_same_answer() -> None:
    sim = _sim(open=0.3, click=0.5)
    opened = [engagement(sim, f"a-{n}", "c-1", "push", 0) for n in range(4_000)]
    share = sum(1 for e in opened if e) / len(opened)
    assert 0.27 < share < 0.33
    clicks = sum(1 for e in opened if len(e) == 2) / sum(1 for e in opened if e)
    assert 0.45 < clicks < 0.55
    assert opened[7] == engagement(sim, "a-7", "c-1", "push", 0)


def test_a_customer_no_segment_matches_never_engages() -> None:
    assert engagement(_sim(open=1), "a-1", "other-1", "push", 0) == []
