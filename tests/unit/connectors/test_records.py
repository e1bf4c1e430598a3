from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.records import (
    FrameError,
    KafkaRecord,
    output_frame,
    read_frame,
    read_output_frame,
    write_frame,
)

records = st.builds(
    KafkaRecord,
    st.text(min_size=1, max_size=40),
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**63 - 1),
    st.integers(-1, 2**62),
    st.none() | st.binary(max_size=50),
    st.none() | st.binary(max_size=200),
)


@given(records)
def test_input_frames_round_trip(record: KafkaRecord) -> None:
    assert read_frame(write_frame(record)) == record


@given(st.text(min_size=1, max_size=40), st.none() | st.binary(max_size=50), st.binary(max_size=200))
def test_output_frames_round_trip(topic: str, key: bytes | None, value: bytes) -> None:
    assert read_output_frame(output_frame(topic, key, value)) == (topic, key, value)


def test_a_truncated_frame_is_refused() -> None:
    frame = write_frame(KafkaRecord("t", 0, 1, 2, b"key", b"value"))
    with pytest.raises(FrameError):
        read_frame(frame[:-2])
