"""An OCPP message log replayed as the proxy would have tapped it: records and dead letters.

A log a CSMS (or a proxy, or a station) kept of its OCPP traffic, one JSON object per
line: ``ts`` (when the frame passed, ISO 8601 with offset), ``station_id``, ``version``
(``ocpp1.6``, ``ocpp2.0.1``, ``ocpp2.1``), ``direction`` (``station``: towards the CSMS;
``csms``: towards the station) and ``frame`` (the OCPP-J frame, as a JSON array or as the
text that was sent). Both directions matter: a station's CALL counts once the CSMS
answered it with a CALLRESULT, and a 1.6 StartTransaction takes its transactionId from
that answer, exactly as in proxy mode (``connectors.ocpp.tap``, the same code). Each
station keeps its memory across the whole log, so a CALL logged twice counts once.

A line that is no log entry, a frame the core rejects, and a CALL never answered in the
log are dead letters with their reason; the rest of the log is read. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from connectors.ocpp.context import OCPP_VERSIONS, OcppVersion
from connectors.ocpp.id_tokens import redact_id_tokens
from connectors.ocpp.parse import Rejected
from connectors.ocpp.replays import Replay
from connectors.ocpp.tap import StationTap, Tapped, TappedStation
from gridstream.records import DeadLetter, Record

SOURCE = "ocpp-log"


@dataclass
class LogReplay:
    """The records of a log so far, its dead letters, and what it counted."""

    records: list[Record] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    calls_read: int = 0
    replays: int = 0


class OcppLogReader:
    """Reads log lines in order (``feed``), one tap per station and version, like the proxy."""

    def __init__(
        self, site_of: Callable[[str], str], id_token_key: bytes, received_at: datetime
    ) -> None:
        """Read for stations placed by ``site_of``; dead letters are stamped ``received_at``."""
        self._site_of = site_of
        self._key = id_token_key
        self._received_at = received_at
        self._stations: dict[str, TappedStation] = {}
        self._taps: dict[tuple[str, str], StationTap] = {}
        self.out = LogReplay()

    def feed(self, lines: Iterable[str | bytes], first_line: int = 1) -> None:
        """Read ``lines`` (``first_line`` is the number of the first, for dead letters)."""
        for number, line in enumerate(lines, first_line):
            text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
            if text.strip():
                self._line(number, text)

    def close(self) -> LogReplay:
        """The replay; CALLs the log never saw answered are counted in one dead letter each."""
        for tap in self._taps.values():
            unanswered = tap.close()
            if unanswered:
                self.out.letters.append(DeadLetter(
                    source=SOURCE, reason="malformed_document", received_at=self._received_at,
                    detail=f"{unanswered} CALL(s) of {tap.station_id} never answered in the log",
                    raw="", station_id=tap.station_id,
                ))  # fmt: skip
        return self.out

    def _line(self, number: int, text: str) -> None:
        try:
            entry = json.loads(text)
            ts = datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00"))
            if ts.tzinfo is None:
                raise ValueError(f"ts {entry['ts']!r} has no offset")
            station_id, version = str(entry["station_id"]), str(entry["version"])
            if version not in OCPP_VERSIONS:
                raise ValueError(f"version {version!r} is not one of {', '.join(OCPP_VERSIONS)}")
            direction = entry["direction"]
            if direction not in ("station", "csms"):
                raise ValueError(f"direction {direction!r} is neither 'station' nor 'csms'")
            frame = entry["frame"]
            raw = frame if isinstance(frame, str) else json.dumps(frame)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.out.letters.append(DeadLetter(
                source=SOURCE, reason="malformed_document", detail=f"log line {number}: {exc}",
                raw=text[:64_000], received_at=self._received_at,
            ))  # fmt: skip
            return
        tap = self._tap(station_id, version)
        site = self._site_of(station_id)
        if direction == "station":
            self._settle(tap, tap.from_station(raw, ts, site), ts)
            return
        answer = tap.from_csms(raw)
        if answer is not None and answer.result is not None:
            self._settle(tap, tap.tap(answer, site), answer.call.received_at)

    def _tap(self, station_id: str, version: OcppVersion) -> StationTap:
        tap = self._taps.get((station_id, version))
        if tap is None:
            station = self._stations.setdefault(station_id, TappedStation())
            tap = StationTap(station_id, version, station, self._key)
            self._taps[station_id, version] = tap
        return tap

    def _settle(self, tap: StationTap, outcome: object, at: datetime) -> None:
        if isinstance(outcome, Tapped):
            self.out.records.extend(outcome.records)
            self.out.calls_read += 1
            tap.stored(outcome)
        elif isinstance(outcome, Replay):
            self.out.replays += 1
        elif isinstance(outcome, Rejected):
            self.out.letters.append(DeadLetter(
                source=tap.version, reason=outcome.reason_code, detail=outcome.detail,
                raw=redact_id_tokens(outcome.raw, self._key), received_at=at,
                station_id=tap.station_id,
                message_id=outcome.message_id,
            ))  # fmt: skip
