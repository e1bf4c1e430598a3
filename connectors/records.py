"""Kafka records as they cross between the JVM and Python.

The source's deserializer (connectors/java, `RecordFrameDeserializer`) hands Python one byte
array per record holding topic, partition, offset, timestamp, key and value; the sink's
serializer (`RecordFrameSerializer`) takes one byte array holding topic, key and value. One
primitive array per record is the cheapest thing to move across the PyFlink boundary, and it
keeps what a dead letter needs (where the record came from) and what an output needs (its key).

Input frame, big-endian:  u8 version=1 | u16 topic length | topic | i32 partition | i64 offset |
                          i64 timestamp | i32 key length (-1 = null) | key | i32 value length | value
Output frame:             u8 version=1 | u16 topic length | topic | i32 key length | key | value
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_IN_HEAD = struct.Struct(">BH")
_IN_POS = struct.Struct(">iqq")
_LEN = struct.Struct(">i")
_OUT_HEAD = struct.Struct(">BH")
VERSION = 1


class FrameError(ValueError):
    pass


@dataclass(slots=True)  # not frozen: that costs 5x per record (see common/events.py)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None

    @property
    def record_id(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def _chunk(frame: bytes, pos: int) -> tuple[bytes | None, int]:
    (n,) = _LEN.unpack_from(frame, pos)
    pos += 4
    if n < 0:
        return None, pos
    end = pos + n
    if end > len(frame):
        raise FrameError("frame truncated")
    return frame[pos:end], end


def read_frame(frame: bytes) -> KafkaRecord:
    try:
        version, tlen = _IN_HEAD.unpack_from(frame, 0)
        if version != VERSION:
            raise FrameError(f"frame version {version}, expected {VERSION}")
        topic = frame[3 : 3 + tlen].decode()
        pos = 3 + tlen
        partition, offset, timestamp = _IN_POS.unpack_from(frame, pos)
        key, pos = _chunk(frame, pos + 20)
        value, _ = _chunk(frame, pos)
    except struct.error as e:
        raise FrameError(f"frame truncated: {e}") from None
    return KafkaRecord(topic, partition, offset, timestamp, key, value)


def write_frame(record: KafkaRecord) -> bytes:
    """An input frame (what the source's deserializer produces): for tests and replays."""
    t = record.topic.encode()
    parts = [
        _IN_HEAD.pack(VERSION, len(t)),
        t,
        _IN_POS.pack(record.partition, record.offset, record.timestamp),
    ]
    for chunk in (record.key, record.value):
        if chunk is None:
            parts.append(_LEN.pack(-1))
        else:
            parts += [_LEN.pack(len(chunk)), chunk]
    return b"".join(parts)


def output_frame(topic: str, key: bytes | None, value: bytes) -> bytes:
    t = topic.encode()
    k = b"" if key is None else key
    return b"".join((_OUT_HEAD.pack(VERSION, len(t)), t, _LEN.pack(-1 if key is None else len(k)), k, value))


def read_output_frame(frame: bytes) -> tuple[str, bytes | None, bytes]:
    version, tlen = _OUT_HEAD.unpack_from(frame, 0)
    if version != VERSION:
        raise FrameError(f"frame version {version}, expected {VERSION}")
    topic = frame[3 : 3 + tlen].decode()
    key, pos = _chunk(frame, 3 + tlen)
    return topic, key, frame[pos:]
