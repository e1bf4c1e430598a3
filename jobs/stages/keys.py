"""Keying in the JVM: a stage that knows the key emits `Row(key, value)`, and the next keyed stage
partitions on its first field without a Python key selector.

PyFlink's `key_by(function)` puts a Python operator in front of every keyed stage to compute the
key. Where the keyed stage's input is a union (customer-bound events and stock notices into the
journey stage), that operator cannot chain to anything: every record crossed into Python once
more, only to be keyed. Here the upstream stages, which know the key anyway, emit the same
`Row(key, value)` that operator would, and the stream is keyed on its first field by the Java
selector PyFlink itself uses after that operator.
"""

from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, KeyedStream
from pyflink.java_gateway import get_gateway

KEY = Types.STRING()
#: (key, any Python object): what an upstream stage emits for a keyed stage
KEYED = Types.ROW([KEY, Types.PICKLED_BYTE_ARRAY()])


def keyed_row(key: str, value: object) -> Row:
    return Row(key, value)


def keyed_on_first_field(stream: DataStream) -> KeyedStream:
    """A stream of `KEYED` rows as a KeyedStream of their values, partitioned by their keys."""
    selector = get_gateway().jvm.KeyByKeySelector()
    j_keyed = stream._j_data_stream.keyBy(selector, Types.ROW([KEY]).get_java_type_info())
    return KeyedStream(j_keyed, Types.PICKLED_BYTE_ARRAY(), stream)
