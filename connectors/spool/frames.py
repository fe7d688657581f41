"""The spool's on-disk format: segment files of length + CRC framed entries (pure, no I/O).

A segment file starts with ``SEGMENT_MAGIC`` and holds entries back to back::

    frame  = length:u32 crc32:u32 body            (big-endian; crc32 of body, zlib)
    body   = seq:u64 topic_len:u16 key_len:i32 topic key value

``key_len`` is -1 for a record without a key; the value is the rest of the body. The
sequence numbers of a spool count up by one from entry to entry, across segments, so a
reader can tell a stale or foreign frame from the next one. A crash in the middle of a
write leaves a frame that is short or fails its CRC: ``scan`` stops there and reports how
far the good frames go (the torn tail is then cut off).

The checkpoint file holds the lowest sequence number not yet released, with its own CRC.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

SEGMENT_MAGIC: Final = b"GSSPOOL1"
CHECKPOINT_MAGIC: Final = b"GSSCKPT1"

_HEADER = struct.Struct(">II")
_BODY = struct.Struct(">QHi")
_CHECKPOINT = struct.Struct(">8sQI")

#: Bytes a frame adds around its topic, key and value.
FRAME_OVERHEAD: Final = _HEADER.size + _BODY.size
#: A longer length than this is not a frame but garbage (a torn or overwritten header).
MAX_BODY_BYTES: Final = 64 << 20


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One record as the spool keeps it: already serialised for its topic."""

    seq: int
    topic: str
    key: bytes | None
    value: bytes

    @property
    def size(self) -> int:
        """Bytes this entry takes on disk, frame included."""
        return frame_size(self.topic, self.key, self.value)


def frame_size(topic: str, key: bytes | None, value: bytes) -> int:
    """Bytes the frame of ``(topic, key, value)`` takes on disk (ASCII topic names)."""
    return FRAME_OVERHEAD + len(topic) + (len(key) if key is not None else 0) + len(value)


def encode(entry: SpoolEntry) -> bytes:
    """The frame of ``entry``.

    >>> frame = encode(SpoolEntry(7, "dlq", b"k", b"{}"))
    >>> len(frame) == frame_size("dlq", b"k", b"{}") == 28  # 22 + 3 + 1 + 2
    True
    """
    topic = entry.topic.encode()
    key = entry.key if entry.key is not None else b""
    body = b"".join(
        (
            _BODY.pack(entry.seq, len(topic), len(entry.key) if entry.key is not None else -1),
            topic,
            key,
            entry.value,
        )
    )
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


@dataclass(frozen=True)
class Scan:
    """What ``scan`` found: the good entries and where the good frames end.

    ``problem`` says why scanning stopped before the end of the data (None: it did not).
    """

    entries: list[SpoolEntry]
    good_end: int
    problem: str | None = None


def scan(data: bytes, start: int = 0, expected_seq: int | None = None) -> Scan:
    r"""Decode the frames of ``data`` from byte ``start`` up to the first bad one.

    A frame is bad when its header or body is cut short, its CRC does not match, its
    length is implausible, or (with ``expected_seq``) its sequence number is not the next
    one. ``good_end`` is the byte offset just past the last good frame.

    >>> data = encode(SpoolEntry(1, "t", None, b"a")) + encode(SpoolEntry(2, "t", None, b"b"))
    >>> [e.value for e in scan(data + b"\\x00\\x01").entries], scan(data + b"xy").good_end
    ([b'a', b'b'], 48)
    """
    entries: list[SpoolEntry] = []
    for entry, end, problem in iter_frames(data, start, expected_seq):
        if problem is not None:
            return Scan(entries, start, problem)
        assert entry is not None
        entries.append(entry)
        start = end
    return Scan(entries, start)


def iter_frames(
    data: bytes | memoryview, start: int = 0, expected_seq: int | None = None
) -> Iterator[tuple[SpoolEntry | None, int, str | None]]:
    """Yield ``(entry, end_offset, None)`` per good frame, then ``(None, offset, why)``.

    The last is yielded once, at the first bad frame; nothing at a clean end of ``data``.
    """
    view = memoryview(data)
    total = len(view)
    pos = start
    while pos < total:
        if total - pos < _HEADER.size:
            yield None, pos, f"frame header cut short at byte {pos}"
            return
        length, crc = _HEADER.unpack_from(view, pos)
        body_start = pos + _HEADER.size
        if length < _BODY.size or length > MAX_BODY_BYTES:
            yield None, pos, f"implausible frame length {length} at byte {pos}"
            return
        if total - body_start < length:
            yield None, pos, f"frame body cut short at byte {pos}"
            return
        body = view[body_start : body_start + length]
        if zlib.crc32(body) != crc:
            yield None, pos, f"CRC mismatch at byte {pos}"
            return
        seq, topic_len, key_len = _BODY.unpack_from(body)
        if expected_seq is not None and seq != expected_seq:
            yield None, pos, f"sequence {seq} at byte {pos}, expected {expected_seq}"
            return
        at = _BODY.size
        topic = bytes(body[at : at + topic_len]).decode()
        at += topic_len
        key = None
        if key_len >= 0:
            key = bytes(body[at : at + key_len])
            at += key_len
        entry = SpoolEntry(seq, topic, key, bytes(body[at:]))
        pos = body_start + length
        yield entry, pos, None
        expected_seq = seq + 1


def peek(data: bytes | memoryview, start: int = 0) -> tuple[int, int] | None:
    """``(seq, frame_length)`` from the frame header at ``start``, the body unchecked.

    None when fewer than ``FRAME_OVERHEAD`` bytes are there or the length is implausible.

    >>> peek(encode(SpoolEntry(9, "t", None, b"abc")))
    (9, 26)
    """
    if len(data) - start < FRAME_OVERHEAD:
        return None
    length, _ = _HEADER.unpack_from(data, start)
    if length < _BODY.size or length > MAX_BODY_BYTES:
        return None
    (seq,) = struct.unpack_from(">Q", data, start + _HEADER.size)
    return int(seq), _HEADER.size + length


def encode_checkpoint(low_seq: int) -> bytes:
    """The checkpoint file's content: the lowest sequence number not yet released."""
    head = CHECKPOINT_MAGIC + low_seq.to_bytes(8, "big")
    return _CHECKPOINT.pack(CHECKPOINT_MAGIC, low_seq, zlib.crc32(head))


def decode_checkpoint(data: bytes) -> int | None:
    """The sequence number in a checkpoint file, or None when the file is not a valid one.

    >>> decode_checkpoint(encode_checkpoint(42)), decode_checkpoint(b"garbage")
    (42, None)
    """
    if len(data) != _CHECKPOINT.size:
        return None
    magic, low_seq, crc = _CHECKPOINT.unpack(data)
    if magic != CHECKPOINT_MAGIC or zlib.crc32(data[:16]) != crc:
        return None
    return int(low_seq)
