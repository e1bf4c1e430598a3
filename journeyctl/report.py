"""`journeyctl report`: the journey results (the `journey-metrics` topic the results job keeps)
as a table in the terminal and as PNG charts: a funnel per journey, uplift with intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from common.settings import Settings
from connectors.readback import read_to_end
from jobs.uplift import JourneyRow, Uplift, journey_rows, steps, uplifts


def read_metrics(settings: Settings, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """The topic's rows as they stand: the last value of each key, a deleted key gone."""
    latest: dict[bytes, dict[str, Any] | None] = {}
    hint = ": run the results job first (`journeyctl run results`)"
    for msg in read_to_end(settings, settings.topics.journey_metrics, timeout_s, missing=hint):
        value = msg.value()
        latest[msg.key() or b""] = json.loads(value) if value is not None else None
    return [v for v in latest.values() if v is not None]


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def table(records: list[dict[str, Any]]) -> str:
    rows = journey_rows(records)
    lines = []
    head = (
        f"{'journey':22} {'variant':13} {'entries':>7} {'actions e/s/p/i':>16} {'opened':>7} "
        f"{'conv.':>6} {'rate':>6} {'revenue':>10} {'cost':>8} {'rev/cost':>8}"
    )
    lines += [head, "-" * len(head)]
    for r in rows:
        a = r.actions
        acts = f"{a['email']}/{a['sms']}/{a['push']}/{a['in_app']}"
        opened = "-" if r.open_rate is None else f"{r.open_rate:.0%}"
        rc = r.revenue_to_cost
        lines.append(
            f"{r.journey_id:22} {r.variant:13} {r.entries:>7} {acts:>16} {opened:>7} {r.conversions:>6} "
            f"{r.recovery_rate:>6.1%} {_money(r.revenue):>10} {_money(r.cost):>8} "
            f"{'-' if rc is None else f'{rc:,.0f}:1':>8}"
        )
    ups = uplifts(rows)
    if ups:
        lines += ["", "uplift over the holdout (conversion rate, percentage points, 95 % interval):"]
        for journey, us in ups.items():
            for u in us:
                verdict = "significant" if u.significant else "not significant"
                lines.append(
                    f"  {journey:22} {u.variant:13} {u.rate:6.1%} vs {u.holdout_rate:6.1%}: "
                    f"{u.points:+.1f} pp [{u.low:+.1f}, {u.high:+.1f}] {verdict}"
                )
    where = steps(records)
    if where:
        lines += ["", "customers in each step now:"]
        for journey, by_step in sorted(where.items()):
            parts = ", ".join(f"{s or '(none)'} {n}" for s, n in sorted(by_step.items()))
            lines.append(f"  {journey:22} {parts}")
    return "\n".join(lines)


def charts(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """funnel.png (per journey: entered, acted on, delivered, opened, converted) and, when a
    journey has a holdout, uplift.png (each variant's uplift with its interval)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    rows = journey_rows(records)
    written = []
    journeys = sorted({r.journey_id for r in rows})
    if journeys:
        fig, axes = plt.subplots(len(journeys), 1, figsize=(8, 2.2 * len(journeys)), squeeze=False)
        for ax, journey in zip(axes[:, 0], journeys, strict=True):
            _funnel(ax, journey, [r for r in rows if r.journey_id == journey])
        fig.tight_layout()
        path = folder / "funnel.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    ups = uplifts(rows)
    if ups:
        items = [(j, u) for j, us in ups.items() for u in us]
        fig, ax = plt.subplots(figsize=(8, 0.6 * len(items) + 1.5))
        _uplift(ax, items)
        fig.tight_layout()
        path = folder / "uplift.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _funnel(ax: Any, journey: str, rows: list[JourneyRow]) -> None:
    stages = ("entered", "actions", "delivered", "opened", "converted")
    values = [
        sum(r.entries for r in rows),
        sum(sum(r.actions.values()) for r in rows),
        sum(r.delivered for r in rows),
        sum(r.opened for r in rows),
        sum(r.conversions for r in rows),
    ]
    ax.barh(list(reversed(stages)), list(reversed(values)), color="#4C72B0")
    for y, v in enumerate(reversed(values)):
        ax.text(v, y, f" {v}", va="center")
    ax.set_title(journey, loc="left")


def _uplift(ax: Any, items: list[tuple[str, Uplift]]) -> None:
    labels = [f"{j} / {u.variant}" for j, u in items]
    ys = list(range(len(items)))
    for y, (_, u) in zip(ys, items, strict=True):
        color = "#55A868" if u.significant else "#8C8C8C"
        ax.plot([u.low, u.high], [y, y], color=color, linewidth=2)
        ax.plot([u.points], [y], "o", color=color)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(ys, labels)
    ax.set_xlabel("uplift over the holdout, percentage points (95 % interval)")


def run(settings: Settings, charts_dir: Path | None = None) -> int:
    try:
        records = read_metrics(settings)
    except KafkaException as e:
        print(f"report: {e}", flush=True)
        return 2
    if not records:
        print(
            f"report: {settings.topics.journey_metrics} is empty: "
            "has the results job (`journeyctl run results`) read any journey events?"
        )
        return 1
    print(table(records), flush=True)
    for path in charts(records, charts_dir or Path(settings.results.charts_dir)):
        print(f"chart: {path}", flush=True)
    return 0
