"""The spool's on-disk frames: round trip, torn tails, sequence, checkpoint."""

from __future__ import annotations

from connectors.spool.frames import (
    FRAME_OVERHEAD,
    SpoolEntry,
    decode_checkpoint,
    encode,
    encode_checkpoint,
    scan,
)


def test_a_frame_round_trips_topic_key_and_value_with_or_without_a_key() -> None:
    entries = [
        SpoolEntry(5, "meter.samples", b"site1", b'{"a":1}'),
        SpoolEntry(6, "dlq", None, b""),
    ]
    data = b"".join(encode(e) for e in entries)

    assert scan(data).entries == entries
    # 22 bytes of frame around "meter.samples" (13) + "site1" (5) + 7 bytes of value
    assert len(encode(entries[0])) == FRAME_OVERHEAD + 13 + 5 + 7 == 47


def test_scan_stops_before_a_frame_cut_short_and_says_where_the_good_ones_end() -> None:
    first, second = (
        encode(SpoolEntry(1, "t", b"k", b"one")),
        encode(SpoolEntry(2, "t", b"k", b"two")),
    )

    for torn in (second[:5], second[:-1]):  # header cut, body cut
        result = scan(first + torn)
        assert [e.value for e in result.entries] == [b"one"]
        assert result.good_end == len(first)
        assert result.problem is not None and "cut short" in result.problem


def test_scan_stops_at_a_frame_whose_crc_does_not_match() -> None:
    first, second = (
        encode(SpoolEntry(1, "t", b"k", b"one")),
        encode(SpoolEntry(2, "t", b"k", b"two")),
    )
    damaged = second[:-1] + b"X"  # the last value byte changed, the CRC not

    result = scan(first + damaged)

    assert [e.seq for e in result.entries] == [1]
    assert result.problem is not None and "CRC" in result.problem


def test_scan_refuses_a_frame_out_of_sequence() -> None:
    data = encode(SpoolEntry(1, "t", None, b"a")) + encode(SpoolEntry(3, "t", None, b"c"))

    result = scan(data, expected_seq=1)

    assert [e.seq for e in result.entries] == [1]
    assert result.problem == f"sequence 3 at byte {result.good_end}, expected 2"


def test_checkpoint_round_trips_and_a_damaged_one_reads_as_none() -> None:
    data = encode_checkpoint(123_456)

    assert decode_checkpoint(data) == 123_456
    assert decode_checkpoint(data[:-1] + bytes([data[-1] ^ 1])) is None
    assert decode_checkpoint(data[:10]) is None
