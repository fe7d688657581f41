"""The spool's errors (below ``GridstreamError``, see ``gridstream.errors``).

::

    GridstreamError
    └── SpoolError          the spool cannot take or keep records
        ├── SpoolFull       no room for more records until the broker or sink catches up
        └── SpoolCorrupt    a segment file is damaged somewhere other than its torn tail
"""

from __future__ import annotations

from gridstream.errors import GridstreamError


class SpoolError(GridstreamError):
    """The spool cannot take or keep records (its directory, disk or state is unusable)."""


class SpoolFull(SpoolError):
    """The spool holds ``GRIDSTREAM_SPOOL_MAX_BYTES`` already; nothing was written.

    The connector answers InternalError, so the station keeps the message and retries.
    Look at why entries are not released: the broker away (the forwarder logs it), or, in
    sink release mode, the warehouse sink not writing.
    """


class SpoolCorrupt(SpoolError):
    """A segment file is damaged before its end (not a torn tail from a crash).

    The message names the file and the byte. The spool refuses to start rather than skip
    records: move the file out of the spool directory to start without it, and keep it
    to recover what it holds.
    """
