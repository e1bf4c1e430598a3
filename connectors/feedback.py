"""`channel-feedback` records: Avro (schemas/channel_feedback.avsc) or the same fields as JSON."""

from __future__ import annotations

from common import events as ev
from connectors import columns as c
from connectors.avro import SchemaSource, avro_or_json
from connectors.errors import BadEnvelope


def decode_feedback(value: bytes, schemas: SchemaSource) -> ev.ChannelFeedback:
    """`channel-feedback`: Avro (our schema) or the same fields as JSON."""
    obj = avro_or_json(value, schemas)
    if type(obj) is not dict:
        raise BadEnvelope(f"expected an object, got {type(obj).__name__}")
    occurred = obj.get("occurred_at")
    return ev.ChannelFeedback(
        action_id=c.required(c.text)(obj.get("action_id"), "action_id"),
        customer_id=c.required(c.text)(obj.get("customer_id"), "customer_id"),
        channel=c.required(c.one_of(ev.CHANNELS))(obj.get("channel"), "channel"),
        event=c.required(c.one_of(ev.FEEDBACK_EVENTS))(obj.get("event"), "event"),
        occurred_at=occurred if type(occurred) is int else c.required(c.timestamp)(occurred, "occurred_at"),
    )
