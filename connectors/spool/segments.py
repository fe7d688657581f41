"""The spool directory on disk: segment files, the checkpoint, the lock (blocking file I/O).

::

    <dir>/LOCK                      locked (flock) while a spool has the directory open
    <dir>/checkpoint                lowest sequence number not yet released
    <dir>/<first_seq:020d>.seg      segments of framed entries (``frames``); the last is
                                    the one appended to

Every method blocks on the disk: the async ``Spool`` calls them from a worker thread,
one at a time. Appends are written and ``fdatasync``'d before ``append`` returns; a new
segment's name is made durable by syncing the directory. A failed write is cut back off
the file, so the next append never lands behind garbage.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from connectors.spool import frames
from connectors.spool.errors import SpoolCorrupt, SpoolError
from connectors.spool.frames import SEGMENT_MAGIC, SpoolEntry

log = logging.getLogger(__name__)

CHECKPOINT_FILE: Final = "checkpoint"
LOCK_FILE: Final = "LOCK"
SEGMENT_SUFFIX: Final = ".seg"
_READ_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class SegmentInfo:
    """One segment file: entries ``[first_seq, end_seq)`` in its first ``size`` bytes."""

    first_seq: int
    path: Path
    size: int
    end_seq: int


@dataclass(frozen=True)
class Recovery:
    """What opening the directory found."""

    low: int
    next_seq: int
    segments: int
    #: Bytes of a torn tail (a write cut short by a crash) cut off the last segment.
    torn_bytes: int = 0


def segment_name(first_seq: int) -> str:
    """The file name of the segment whose first entry is ``first_seq``.

    >>> segment_name(42)
    '00000000000000000042.seg'
    """
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _datasync(fd: int) -> None:
    # fdatasync also makes the file's new length durable, which is all an append needs.
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


class SegmentLog:
    """The segment files of one spool directory: open (recover), append, delete, checkpoint."""

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        """Prepare (not open) the log in ``directory``; roll segments at ``segment_bytes``."""
        if segment_bytes <= len(SEGMENT_MAGIC):
            raise ValueError(f"segment_bytes must exceed {len(SEGMENT_MAGIC)}, got {segment_bytes}")
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._segments: list[SegmentInfo] = []
        self._fd: int | None = None  # the last segment, open for appending
        self._lock_fd: int | None = None
        self._broken: str | None = None

    # -- opening --------------------------------------------------------------------------

    def open(self) -> Recovery:
        """Lock the directory, read the checkpoint, check every segment, cut a torn tail.

        Segments whose entries are all below the checkpoint are deleted. Raises
        ``SpoolError`` when another process holds the directory and ``SpoolCorrupt`` when
        a segment is damaged anywhere but at the end of the last one.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            return self._recover()
        except BaseException:
            self.close()  # unlock: a refused directory is not held by anyone
            raise

    def _recover(self) -> Recovery:
        checkpoint = self._read_checkpoint()
        found = sorted(
            (int(p.name[: -len(SEGMENT_SUFFIX)]), p)
            for p in self.directory.iterdir()
            if p.name.endswith(SEGMENT_SUFFIX) and p.name[: -len(SEGMENT_SUFFIX)].isdigit()
        )
        segments: list[SegmentInfo] = []
        torn = 0
        for index, (first_seq, path) in enumerate(found):
            last = index == len(found) - 1
            data = path.read_bytes()
            if segments and first_seq != segments[-1].end_seq:
                raise SpoolCorrupt(
                    f"{path}: starts at entry {first_seq}, but {segments[-1].path.name} ends "
                    f"before entry {segments[-1].end_seq}"
                )
            if not data.startswith(SEGMENT_MAGIC):
                if last and SEGMENT_MAGIC.startswith(data):  # created, crash before its header
                    path.unlink()
                    torn += len(data)
                    continue
                raise SpoolCorrupt(f"{path}: not a spool segment (no {SEGMENT_MAGIC!r} header)")
            scan = frames.scan(data, len(SEGMENT_MAGIC), expected_seq=first_seq)
            if scan.problem is not None:
                if not last:
                    raise SpoolCorrupt(f"{path}: {scan.problem}")
                torn += len(data) - scan.good_end
                log.warning(
                    "spool: cutting a torn tail of %d bytes off %s (%s): a write that was "
                    "never acknowledged to anyone",
                    len(data) - scan.good_end,
                    path,
                    scan.problem,
                )
                with open(path, "r+b") as f:
                    f.truncate(scan.good_end)
                    f.flush()
                    os.fsync(f.fileno())
            segments.append(
                SegmentInfo(first_seq, path, scan.good_end, first_seq + len(scan.entries))
            )
        low = checkpoint or 0
        if segments:
            low = max(low, segments[0].first_seq)
        next_seq = max(segments[-1].end_seq, low) if segments else low
        self._segments = segments
        self._delete_released(low, keep_last=False)
        return Recovery(low, next_seq, len(self._segments), torn)

    def _take_lock(self) -> None:
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolError(
                f"spool directory {self.directory} is in use by another gridstream process; "
                "give each connector process its own GRIDSTREAM_SPOOL_DIR"
            ) from None
        self._lock_fd = fd

    def _read_checkpoint(self) -> int | None:
        path = self.directory / CHECKPOINT_FILE
        (self.directory / f"{CHECKPOINT_FILE}.tmp").unlink(missing_ok=True)
        if not path.exists():
            return None
        low = frames.decode_checkpoint(path.read_bytes())
        if low is None:
            # Written by rename, so this is not a crash: replay everything rather than guess.
            log.error("spool: %s is not a valid checkpoint; replaying every entry kept", path)
        return low

    # -- appending ------------------------------------------------------------------------

    def append(self, first_seq: int, framed: Sequence[bytes]) -> None:
        """Append the frames of entries ``first_seq, first_seq + 1, ...`` and sync them.

        Starts a new segment first when the last one would grow past ``segment_bytes``.
        On an error nothing of these frames stays in the file, and the error is raised.
        """
        with self._lock:
            if self._broken is not None:
                raise SpoolError(self._broken)
            data = b"".join(framed)
            current = self._segments[-1] if self._segments else None
            if current is not None and current.end_seq != first_seq:
                raise ValueError(f"append of entry {first_seq}, expected {current.end_seq}")
            has_entries = current is not None and current.size > len(SEGMENT_MAGIC)
            if current is None or (has_entries and current.size + len(data) > self.segment_bytes):
                current = self._new_segment(first_seq)
            elif self._fd is None:
                self._fd = os.open(current.path, os.O_WRONLY | os.O_APPEND)
            assert self._fd is not None
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                _datasync(self._fd)
            except BaseException as exc:
                self._cut_back(current, exc)
                raise
            self._segments[-1] = replace(
                current, size=current.size + len(data), end_seq=first_seq + len(framed)
            )

    def _new_segment(self, first_seq: int) -> SegmentInfo:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        path = self.directory / segment_name(first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            os.write(fd, SEGMENT_MAGIC)
            _datasync(fd)
            _fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._fd = fd
        segment = SegmentInfo(first_seq, path, len(SEGMENT_MAGIC), first_seq)
        self._segments.append(segment)
        return segment

    def _cut_back(self, segment: SegmentInfo, cause: BaseException) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, segment.size)
            _datasync(self._fd)
        except OSError as exc:
            self._broken = (
                f"spool segment {segment.path} could not be cut back after a failed write "
                f"({cause!r}, then {exc!r}); restart the connector to recover it"
            )
            log.critical("%s", self._broken)

    # -- releasing ------------------------------------------------------------------------

    def write_checkpoint(self, low: int) -> None:
        """Record ``low`` (lowest unreleased entry) durably, by write, sync and rename."""
        temporary = self.directory / f"{CHECKPOINT_FILE}.tmp"
        # Under the lock: a cancelled caller's thread may still be writing the same file.
        with self._lock:
            with open(temporary, "wb") as f:
                f.write(frames.encode_checkpoint(low))
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.directory / CHECKPOINT_FILE)
            _fsync_dir(self.directory)

    def delete_released(self, low: int, *, keep_last: bool = True) -> int:
        """Delete the segments whose entries are all below ``low``; return bytes freed.

        The last segment, still appended to, stays unless ``keep_last`` is False.
        """
        with self._lock:
            return self._delete_released(low, keep_last=keep_last)

    def _delete_released(self, low: int, *, keep_last: bool) -> int:
        freed = 0
        kept: list[SegmentInfo] = []
        for index, segment in enumerate(self._segments):
            is_last = index == len(self._segments) - 1
            if segment.end_seq <= low and not (keep_last and is_last):
                if is_last and self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                segment.path.unlink(missing_ok=True)
                freed += segment.size
            else:
                kept.append(segment)
        self._segments = kept
        return freed

    # -- reporting and closing ---------------------------------------------------------------

    def snapshot(self) -> tuple[SegmentInfo, ...]:
        """The segments as they are now (sizes count synced bytes only)."""
        with self._lock:
            return tuple(self._segments)

    def close(self) -> None:
        """Close the files and unlock the directory."""
        with self._lock:
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._fd = self._lock_fd = None


class SegmentReader:
    """Reads entries back in sequence order from a snapshot of the segments (blocking).

    Remembers where the previous read ended, so that reading on from there costs no
    search; any other start is found by skipping frames from the segment's start.
    """

    def __init__(self) -> None:
        """Start with no file open."""
        self._path: Path | None = None
        self._fd: int | None = None
        self._seq = -1
        self._pos = 0

    def read(
        self,
        segments: Sequence[SegmentInfo],
        from_seq: int,
        *,
        max_entries: int,
        max_bytes: int,
    ) -> tuple[list[SpoolEntry], int]:
        """Entries from ``from_seq`` on, and the sequence number to read next.

        At most ``max_entries`` and about ``max_bytes``. Entries below the first segment
        are gone (released) and skipped. Raises ``SpoolCorrupt`` on a damaged frame.
        """
        out: list[SpoolEntry] = []
        seq = from_seq
        budget = max_bytes
        firsts = [s.first_seq for s in segments]
        while len(out) < max_entries and budget > 0:
            index = bisect.bisect_right(firsts, seq) - 1
            if index < 0:
                if not segments:
                    break
                index, seq = 0, segments[0].first_seq
            segment = segments[index]
            if seq >= segment.end_seq:
                if index + 1 < len(segments):
                    seq = segments[index + 1].first_seq
                    continue
                break
            pos = self._position(segment, seq)
            assert self._fd is not None
            size = min(segment.size - pos, max(budget, _READ_CHUNK))
            data = os.pread(self._fd, size, pos)
            first = frames.peek(data)
            if first is not None and first[1] > len(data):  # one frame bigger than a chunk
                data = os.pread(self._fd, first[1], pos)
            got = 0
            for entry, end, problem in frames.iter_frames(data, 0, expected_seq=seq):
                if problem is not None:
                    frame = frames.peek(data, end)
                    cut_by_chunk = frame is None or end + frame[1] > len(data)
                    if got and cut_by_chunk and pos + end < segment.size:
                        break  # the rest is read on the next round
                    raise SpoolCorrupt(f"{segment.path}: {problem} (offset {pos} + {end})")
                assert entry is not None
                out.append(entry)
                got += 1
                seq = entry.seq + 1
                self._seq, self._pos = seq, pos + end
                budget -= entry.size
                if len(out) >= max_entries or budget <= 0:
                    break
        return out, seq

    def _position(self, segment: SegmentInfo, seq: int) -> int:
        """The byte offset of entry ``seq`` in ``segment`` (opening the file if needed)."""
        if self._path != segment.path:
            self.close()
            try:
                self._fd = os.open(segment.path, os.O_RDONLY)
            except FileNotFoundError:
                raise SpoolCorrupt(
                    f"{segment.path}: gone while entry {seq} was unreleased"
                ) from None
            self._path, self._seq, self._pos = segment.path, segment.first_seq, len(SEGMENT_MAGIC)
        if self._seq == seq:
            return self._pos
        if self._seq > seq:
            self._seq, self._pos = segment.first_seq, len(SEGMENT_MAGIC)
        assert self._fd is not None
        while self._seq < seq:
            head = os.pread(self._fd, frames.FRAME_OVERHEAD, self._pos)
            peeked = frames.peek(head)
            if peeked is None or peeked[0] != self._seq:
                raise SpoolCorrupt(f"{segment.path}: damaged frame at byte {self._pos}")
            self._seq, self._pos = self._seq + 1, self._pos + peeked[1]
        return self._pos

    def close(self) -> None:
        """Close the open segment file, if any."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._path = None, None
