"""Time helpers of the contract's formats."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def iso_ms(ts: int) -> str:
    """A Segment timestamp: ISO 8601 in UTC with milliseconds and a Z."""
    return datetime.fromtimestamp(ts / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def daytime_zone(now: datetime | None = None) -> str:
    """A time zone where it is early afternoon now, so that nothing live waits for the morning."""
    zones = ["Pacific/Auckland", "Asia/Tokyo", "Asia/Kolkata", "Europe/Berlin", "America/New_York"]
    zones += ["America/Los_Angeles", "Pacific/Honolulu"]
    now = now or datetime.now(UTC)
    return min(zones, key=lambda z: abs(now.astimezone(ZoneInfo(z)).hour - 13))
