"""Why a record could not be used. The class name is the dead letter's `error_class`."""

from __future__ import annotations


class DecodeError(Exception):
    """A record that cannot be decoded or validated; it goes to the dead-letter topic."""

    @property
    def error_class(self) -> str:
        return type(self).__name__


class MalformedJson(DecodeError):
    pass


class MalformedAvro(DecodeError):
    """Truncated or corrupt Avro body, or a body that does not match its writer schema."""


class UnknownSchemaId(DecodeError):
    pass


class BadEnvelope(DecodeError):
    """The outer shape is wrong: not an object, no payload, a Debezium envelope without `op`."""


class MissingField(DecodeError):
    pass


class WrongType(DecodeError):
    pass


class InvalidValue(DecodeError):
    """Right type, value outside the contract (an unknown status, tier, channel)."""


class UnknownOp(DecodeError):
    pass


class OversizedValue(DecodeError):
    pass


class UnknownTopic(DecodeError):
    pass
