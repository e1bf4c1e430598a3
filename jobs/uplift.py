"""Journey results as people read them: rates, revenue to cost, and each variant's uplift over its
holdout with a 95 % confidence interval. Plain Python over the rows the results job writes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: two-sided 95 %
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Uplift:
    """A variant's conversion rate minus its holdout's, in percentage points."""

    variant: str
    rate: float
    holdout_rate: float
    points: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval leaves out zero."""
        return self.low > 0 or self.high < 0


def uplift(variant: str, conversions: int, entries: int, h_conversions: int, h_entries: int) -> Uplift | None:
    """Difference of two proportions with the unpooled (Wald) interval; None when either group
    is empty. With few entries the interval is wide, as it should be."""
    if entries <= 0 or h_entries <= 0:
        return None
    p1, p0 = conversions / entries, h_conversions / h_entries
    se = math.sqrt(p1 * (1 - p1) / entries + p0 * (1 - p0) / h_entries)
    d = p1 - p0
    return Uplift(variant, p1, p0, d * 100, (d - Z95 * se) * 100, (d + Z95 * se) * 100)


@dataclass(frozen=True)
class JourneyRow:
    journey_id: str
    variant: str
    entries: int
    conversions: int
    revenue: float
    actions: dict[str, int]
    cost: float
    delivered: int
    opened: int
    clicked: int
    bounced: int

    @property
    def recovery_rate(self) -> float:
        return self.conversions / self.entries if self.entries else 0.0

    @property
    def revenue_to_cost(self) -> float | None:
        return self.revenue / self.cost if self.cost > 0 else None

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.delivered if self.delivered else None


def journey_rows(records: list[dict[str, Any]]) -> list[JourneyRow]:
    rows = []
    for r in records:
        if r.get("kind") != "journey":
            continue
        rows.append(
            JourneyRow(
                journey_id=r["journey_id"],
                variant=r["variant"],
                entries=int(r.get("entries") or 0),
                conversions=int(r.get("conversions") or 0),
                revenue=float(r.get("revenue") or 0.0),
                actions={ch: int(r.get(f"actions_{ch}") or 0) for ch in ("email", "sms", "push", "in_app")},
                cost=float(r.get("cost") or 0.0),
                delivered=int(r.get("delivered") or 0),
                opened=int(r.get("opened") or 0),
                clicked=int(r.get("clicked") or 0),
                bounced=int(r.get("bounced") or 0),
            )
        )
    return sorted(rows, key=lambda r: (r.journey_id, r.variant != "holdout", r.variant))


def uplifts(rows: list[JourneyRow]) -> dict[str, list[Uplift]]:
    """journey -> each variant's uplift over that journey's holdout (journeys with one)."""
    out: dict[str, list[Uplift]] = {}
    for journey in sorted({r.journey_id for r in rows}):
        mine = [r for r in rows if r.journey_id == journey]
        holdout = next((r for r in mine if r.variant == "holdout"), None)
        if holdout is None:
            continue
        for r in mine:
            if r.variant in ("holdout", "none"):
                continue
            u = uplift(r.variant, r.conversions, r.entries, holdout.conversions, holdout.entries)
            if u is not None:
                out.setdefault(journey, []).append(u)
    return out


def steps(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """journey -> step -> customers there now."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        if r.get("kind") == "step" and (r.get("customers") or 0) > 0:
            out.setdefault(r["journey_id"], {})[r["step_id"]] = int(r["customers"])
    return out
