"""Column converters for Debezium's default encodings, and field checks shared by the decoders.

Each converter takes the raw JSON/Avro value and the column name and returns the typed value,
or raises a `DecodeError` naming the column. Debezium's defaults (CONTRACTS.md): `date` = days
since epoch, `timestamp` = epoch microseconds, `timestamptz` = ISO-8601 string, `numeric` = string
(`decimal.handling.mode=string`) or double.
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
    """`date`: days since 1970-01-01 (int); an ISO date string is accepted too."""
    if type(v) is int:
        if not -719_162 <= v <= _MAX_DAYS:
            raise InvalidValue(f"column {col!r}: {v} days since epoch is out of range")
        return (EPOCH + timedelta(days=v)).isoformat()
    if type(v) is str:
        try:
            return date.fromisoformat(v).isoformat()
        except ValueError:
            raise WrongType(f"column {col!r}: {v[:40]!r} is not a date") from None
    raise WrongType(f"column {col!r}: expected days since epoch, got {_type_name(v)}")


def micros_timestamp(v: Any, col: str) -> int:
    """`timestamp`: epoch microseconds (int) -> epoch milliseconds."""
    if type(v) is int:
        return v // 1000
    if type(v) is str:
        return iso_timestamp(v, col)
    raise WrongType(f"column {col!r}: expected epoch microseconds, got {_type_name(v)}")


def millis_timestamp(v: Any, col: str) -> int:
    """Debezium's `io.debezium.time.Timestamp` (precision <= 3): already milliseconds."""
    if type(v) is int:
        return v
    raise WrongType(f"column {col!r}: expected epoch milliseconds, got {_type_name(v)}")


def iso_timestamp(v: Any, col: str) -> int:
    """`timestamptz`: ISO-8601 string (Debezium writes `2026-11-23T11:14:03.120Z`) -> epoch ms."""
    if type(v) is not str:
        raise WrongType(f"column {col!r}: expected an ISO-8601 timestamp, got {_type_name(v)}")
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise WrongType(f"column {col!r}: {v[:40]!r} is not an ISO-8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


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
