from __future__ import annotations

import json
from collections import Counter

from jobs.simulate import Simulation, parse_records
from journeyctl.sample_data import shop_day
from journeyctl.sample_experiment import ORDER_CHANCE, _arm, experiment, with_experiment
from journeys.loader import load_dir


def test_the_experiment_is_the_same_every_run_and_orders_follow_the_arms() -> None:
    lines = experiment(600)
    assert lines == experiment(600)
    orders = [json.loads(x)["value"] for x in lines if '"orders.public.orders"' in x]
    placed = Counter(_arm(o["after"]["customer_id"]) for o in orders if o["op"] == "c")
    carts = Counter(_arm(f"x-{n}") for n in range(1, 601))
    for arm, chance in ORDER_CHANCE.items():
        assert abs(placed[arm] / carts[arm] - chance) < 0.06, (arm, placed[arm], carts[arm])
    assert any(o["op"] == "u" and o["after"]["status"] == "returned" for o in orders)


def test_the_day_with_the_experiment_is_in_time_order_and_the_split_follows_the_engine() -> None:
    lines = with_experiment(shop_day(), 200)
    sim = Simulation(load_dir())
    sim.run(parse_records(lines), drain_ms=30 * 86_400_000)
    # the journey's own split put each experiment customer where the generator thought
    variants = {
        e["customer_id"]: e["variant"]
        for e in sim.journey_events
        if e["journey_id"] == "cart_abandonment" and e["customer_id"].startswith("x-") and e["variant"]
    }
    assert variants and all(v == _arm(c) for c, v in variants.items())
    # the holdout gets nothing; the others their reminders
    acted = {a["customer_id"] for a in sim.actions if a["customer_id"].startswith("x-")}
    assert not [c for c in acted if _arm(c) == "holdout"]
    assert len(acted) > 100
