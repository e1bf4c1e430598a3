"""The customer's own clock: time zones, quiet hours, local deadlines. Journey time is epoch ms."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=1024)
def zone(name: str | None, default: str) -> ZoneInfo:
    """The zone of that name; the default for none or one that does not exist."""
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


#: every zone's offset from UTC, and every change of it, is a multiple of 15 minutes: within one
#: such slice of UTC time the local hour is the same, and so is the answer of `quiet_until`
_SLICE_MS = 15 * 60_000


def quiet_until(now: int, tz: ZoneInfo, start_hour: int, end_hour: int) -> int | None:
    """When the quiet hours that `now` falls in end (end_hour:00 local), None outside them."""
    return _quiet_until(now // _SLICE_MS, tz, start_hour, end_hour)


@lru_cache(maxsize=4096)
def _quiet_until(slice_: int, tz: ZoneInfo, start_hour: int, end_hour: int) -> int | None:
    now = slice_ * _SLICE_MS
    local = datetime.fromtimestamp(now / 1000, tz=UTC).astimezone(tz)
    if end_hour <= local.hour < start_hour:
        return None
    day = local.date() if local.hour < end_hour else local.date() + timedelta(days=1)
    return int(datetime.combine(day, time(end_hour, 0), tzinfo=tz).timestamp() * 1000)


def local_moment(day: str, hhmm: str, tz: ZoneInfo) -> int:
    """An ISO date at a local HH:MM in `tz`, as journey time."""
    hh, mm = (int(x) for x in hhmm.split(":"))
    return int(datetime.combine(date.fromisoformat(day), time(hh, mm), tzinfo=tz).timestamp() * 1000)
