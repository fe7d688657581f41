"""The simulator's errors, under gridstream's root error.

Hierarchy::

    GridstreamError
    └── SimulatorError            something went wrong in the fleet simulator
        ├── StationError          a station's connection or conversation failed (names it)
        ├── BootRefusedError      the CSMS did not accept a BootNotification
        └── LedgerError           the ground truth is inconsistent (a simulator bug)
"""

from __future__ import annotations

from gridstream.errors import GridstreamError


class SimulatorError(GridstreamError):
    """Root of the simulator's errors."""


class StationError(SimulatorError):
    """A station failed.

    It could not connect, the CSMS answered a CALLERROR, timed out or closed the
    connection. The message names the station, its OCPP version and the URL;
    the cause is chained. Check that the CSMS runs at that URL and speaks that version.
    """


class BootRefusedError(SimulatorError):
    """The CSMS answered BootNotification with Pending or Rejected.

    Register the station
    (``Fleet.site_assignments()``) with the CSMS, or make it accept unknown stations.
    """


class LedgerError(SimulatorError, ValueError):
    """The simulator broke its own invariant.

    Two different register values for one meter and instant, time going backwards, or a
    missing quarter-hour boundary reading.
    """
