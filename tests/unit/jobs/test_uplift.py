from __future__ import annotations

import pytest

from jobs.uplift import journey_rows, steps, uplift, uplifts


def test_uplift_is_the_difference_of_rates_with_a_wald_interval() -> None:
    u = uplift("copy", conversions=150, entries=1_000, h_conversions=100, h_entries=1_000)
    assert u is not None
    assert (u.rate, u.holdout_rate) == (0.15, 0.10)
    assert u.points == pytest.approx(5.0)
    # se = sqrt(.15*.85/1000 + .1*.9/1000) = 0.014748; 1.96 * se = 2.891 points
    assert (u.low, u.high) == (pytest.approx(2.109, abs=1e-3), pytest.approx(7.891, abs=1e-3))
    assert u.significant


def test_a_small_experiment_is_not_significant_and_an_empty_group_gives_none() -> None:
    u = uplift("copy", conversions=2, entries=10, h_conversions=1, h_entries=10)
    assert u is not None and u.low < 0 < u.high and not u.significant
    assert uplift("copy", 1, 10, 0, 0) is None


def _row(journey: str, variant: str, entries: int, conversions: int, **more: float) -> dict[str, object]:
    return {
        "kind": "journey",
        "journey_id": journey,
        "variant": variant,
        "step_id": "",
        "entries": entries,
        "conversions": conversions,
        **more,
    }


def test_rows_give_rates_revenue_to_cost_and_uplift_per_journey_with_a_holdout() -> None:
    records = [
        _row(
            "cart", "control", 100, 20, revenue=2_000.0, cost=10.0, actions_email=100, delivered=90, opened=45
        ),
        _row("cart", "holdout", 100, 10),
        _row("welcome", "none", 50, 5, cost=0.0),
        {"kind": "step", "journey_id": "cart", "variant": "", "step_id": "wait", "customers": 7},
        {"kind": "step", "journey_id": "cart", "variant": "", "step_id": "gone", "customers": 0},
    ]
    rows = journey_rows(records)
    assert [(r.journey_id, r.variant) for r in rows] == [
        ("cart", "holdout"),
        ("cart", "control"),
        ("welcome", "none"),
    ]
    control = rows[1]
    assert (control.recovery_rate, control.revenue_to_cost, control.open_rate) == (0.2, 200.0, 0.5)
    assert rows[2].revenue_to_cost is None  # no cost: no ratio, not a division by zero
    ups = uplifts(rows)
    assert list(ups) == ["cart"] and [u.variant for u in ups["cart"]] == ["control"]
    assert ups["cart"][0].points == pytest.approx(10.0)
    assert steps(records) == {"cart": {"wait": 7}}
