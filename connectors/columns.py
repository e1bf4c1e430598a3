"""Column converters for Debezium's default encodings, and field checks shared by the decoders.

Each converter takes the raw JSON/Avro value and the column name and returns the typed value,
or raises a `DecodeError` naming the column. Debezium's defaults (CONTRACTS.md): `date` = days
since epoch, `timestamp` = epoch microseconds, `timestamptz` = ISO-8601 string, `numeric` = string
(`decimal.handling.mode=string`) or double. Time columns accept every one of those encodings
(`timestamp`): a column that is `timestamp` at one source is `timestamptz` at another.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.errors import InvalidValue, MissingField, WrongType

Converter = Callable[[Any, str], Any]
EPOCH = date(1970, 1, 1)
_MAX_DAYS = 2_932_896  # 9999-12-31


def _type_name(v: object) -> str:
    return "null" if v is None else type(v).__name__


def required(conv: Converter) -> Converter:
    def check(v: Any, col: str) -> Any:
        if v is None:
            raise MissingField(f"column {col!r} is required but null or absent")
        return conv(v, col)

    return check


def optional(conv: Converter) -> Converter:
    def check(v: Any, col: str) -> Any:
        return None if v is None else conv(v, col)

    return check


def text(v: Any, col: str) -> str:
    if type(v) is str:
        return v
    raise WrongType(f"column {col!r}: expected a string, got {_type_name(v)}")


def integer(v: Any, col: str) -> int:
    if type(v) is int:
        return v
    raise WrongType(f"column {col!r}: expected an integer, got {_type_name(v)}")


def number(v: Any, col: str) -> float:
    """numeric/decimal: a string (decimal.handling.mode=string) or a double."""
    t = type(v)
    if t is float or t is int:
        return float(v)
    if t is str:
        try:
            f = float(v)
        except ValueError:
            raise WrongType(f"column {col!r}: {v[:40]!r} is not a number") from None
        if f != f or f in (float("inf"), float("-inf")):
            raise InvalidValue(f"column {col!r}: {v!r} is not a finite number")
        return f
    raise WrongType(f"column {col!r}: expected a number or numeric string, got {_type_name(v)}")


def boolean(v: Any, col: str) -> bool:
    if type(v) is bool:
        return v
    raise WrongType(f"column {col!r}: expected a boolean, got {_type_name(v)}")


def days_date(v: Any, col: str) -> str:
    """`date`: days since 1970-01-01 (int, Debezium's and Connect's Date); ISO text and date
    objects are accepted too (a date written as a timestamp at midnight counts as its day)."""
    if type(v) is int:
        if not -719_162 <= v <= _MAX_DAYS:
            raise InvalidValue(f"column {col!r}: {v} days since epoch is out of range")
        return (EPOCH + timedelta(days=v)).isoformat()
    if type(v) is str:
        try:
            return date.fromisoformat(v).isoformat()
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(v).date().isoformat()
        except ValueError:
            raise WrongType(f"column {col!r}: {v[:40]!r} is not a date") from None
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    raise WrongType(f"column {col!r}: expected days since epoch, got {_type_name(v)}")


def timestamp(v: Any, col: str) -> int:
    """A time column in any encoding the contract allows -> epoch milliseconds.

    `timestamp` columns arrive as epoch microseconds (Debezium's default) or milliseconds
    (`timestamp(3)`, Connect's own Timestamp), `timestamptz` as ISO-8601 text, and the same column
    is one at one source and the other at the next; Avro logical types come as ints (logical types
    are not decoded) or, from other readers, as datetimes. Without a schema that says which unit an
    int is, its size does: below 1e14 milliseconds (up to the year 5138), below 1e17 microseconds,
    else nanoseconds; only microseconds of 1970-1973 would be misread.
    """
    t = type(v)
    if t is int:
        return _epoch_ms(v)
    if t is str:
        s = v.strip()
        if s[1:].isdigit() and (s[0].isdigit() or s[0] == "-"):
            return _epoch_ms(int(s))
        return iso_timestamp(s, col)
    if t is float:
        if v != v or v in (float("inf"), float("-inf")):
            raise InvalidValue(f"column {col!r}: {v!r} is not a time")
        return _epoch_ms(int(v))
    if isinstance(v, datetime):
        return _ms(v if v.tzinfo is not None else v.replace(tzinfo=UTC))
    if isinstance(v, date):
        return (v - EPOCH).days * 86_400_000
    raise WrongType(
        f"column {col!r}: expected a timestamp (ISO-8601 text or epoch time), got {_type_name(v)}"
    )


def _epoch_ms(v: int) -> int:
    a = -v if v < 0 else v
    if a < 100_000_000_000_000:
        return v
    if a < 100_000_000_000_000_000:
        return v // 1000
    return v // 1_000_000


def micros_timestamp(v: Any, col: str) -> int:
    """A schema says epoch microseconds (`io.debezium.time.MicroTimestamp`, Avro timestamp-micros)."""
    return v // 1000 if type(v) is int else timestamp(v, col)


def millis_timestamp(v: Any, col: str) -> int:
    """A schema says epoch milliseconds (`io.debezium.time.Timestamp`, Connect's Timestamp,
    Avro timestamp-millis)."""
    return v if type(v) is int else timestamp(v, col)


def nanos_timestamp(v: Any, col: str) -> int:
    """A schema says epoch nanoseconds (`io.debezium.time.NanoTimestamp`)."""
    return v // 1_000_000 if type(v) is int else timestamp(v, col)


def iso_timestamp(v: Any, col: str) -> int:
    """ISO-8601 text (Debezium writes `timestamptz` as `2026-11-23T11:14:03.120Z`) -> epoch ms;
    without an offset it is UTC (a `timestamp` column has none)."""
    if type(v) is not str:
        raise WrongType(f"column {col!r}: expected an ISO-8601 timestamp, got {_type_name(v)}")
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise WrongType(f"column {col!r}: {v[:40]!r} is not an ISO-8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return _ms(dt)


_EPOCH_DT = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def _ms(dt: datetime) -> int:
    # whole-number arithmetic: timestamp() * 1000 is a float, and .123 s can come out as 122 ms
    return (dt - _EPOCH_DT) // _ONE_MS


def json_string_list(v: Any, col: str) -> tuple[str, ...]:
    """A JSON array kept as text (`missing_documents`); a real array is accepted too."""
    if type(v) is str:
        try:
            v = json.loads(v) if v.strip() else []
        except ValueError:
            raise WrongType(f"column {col!r}: {v[:40]!r} is not a JSON array") from None
    if type(v) is list and all(type(x) is str for x in v):
        return tuple(v)
    raise WrongType(f"column {col!r}: expected a JSON array of strings")


def one_of(values: tuple[str, ...]) -> Converter:
    allowed = frozenset(values)

    def check(v: Any, col: str) -> str:
        if type(v) is not str:
            raise WrongType(f"column {col!r}: expected a string, got {_type_name(v)}")
        if v not in allowed:
            raise InvalidValue(f"column {col!r}: {v[:40]!r} is not one of {', '.join(values)}")
        return v

    return check


def get_field(obj: Mapping[str, Any], name: str, where: str) -> Any:
    try:
        return obj[name]
    except KeyError:
        raise MissingField(f"{where}: field {name!r} is missing") from None
