"""Grid-code checks: excursions out of the frequency and voltage bands, worked by hand.

Site SITE-A: station V2X (a bidirectional EVSE 1 and a charge-only EVSE 2) reads the grid
frequency; bands 49.8-50.2 Hz and 207-253 V.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from gridstream.records import GridCodeEvent, MeterSample, Reading
from streams.compute.computation import BatchContext
from streams.compute.grid_code import GridCodeChecks, GridCodeConfig
from tests.unit.streams.compute.conftest import DAY, at


def sample(
    when: str, *, hz: float | None = None, volts: dict[str, float] | None = None,
    evse: int = 1, import_w: float | None = None, export_w: float | None = None,
    station: str = "V2X", transaction: str | None = "T1",
) -> MeterSample:  # fmt: skip
    readings = []
    if hz is not None:
        readings.append(Reading(measurand="Frequency", value=hz, unit="Hz"))
    for phase, v in (volts or {}).items():
        readings.append(Reading(measurand="Voltage", value=v, unit="V", phase=phase))
    if import_w is not None:
        readings.append(Reading(measurand="Power.Active.Import", value=import_w, unit="W"))
    if export_w is not None:
        readings.append(Reading(measurand="Power.Active.Export", value=export_w, unit="W"))
    return MeterSample(
        ts=at(when), station_id=station, site_id="SITE-A", evse_id=evse,
        transaction_id=transaction, source="ocpp2.1", received_at=at(when),
        readings=tuple(readings),
    )  # fmt: skip


class Checks:
    def __init__(self) -> None:
        self.states: dict[str, Any] = {}
        self.computation = GridCodeChecks(GridCodeConfig())

    def run(self, *samples: MeterSample) -> list[GridCodeEvent]:
        context = BatchContext(DAY, lambda s: ZoneInfo("UTC"))
        out = self.computation.process(self.states, list(samples), context).records
        assert all(isinstance(r, GridCodeEvent) for r in out)
        return out  # type: ignore[return-value]


def test_an_under_frequency_runs_from_the_first_reading_out_to_the_first_back_in() -> None:
    checks = Checks()
    assert checks.run(sample("10:00:00", hz=50.0)) == []
    [opened] = checks.run(sample("10:00:10", hz=49.7))
    assert (opened.state, opened.direction, opened.duration_s, opened.revision) == (
        "open", "under", 0, 0,
    )  # fmt: skip
    checks.run(sample("10:01:10", hz=49.75))
    [closed] = checks.run(sample("10:02:10", hz=50.0))
    # 10:00:10 to 10:02:10: 120 s, the lowest 49.7 Hz, two readings out of the band
    assert (closed.state, closed.start, closed.end) == ("closed", at("10:00:10"), at("10:02:10"))
    assert (closed.duration_s, closed.extreme, closed.readings) == (120, 49.7, 2)
    assert (closed.event_id, closed.revision) == (opened.event_id, 2)


def test_v2x_sessions_are_judged_on_their_power_before_and_during() -> None:
    checks = Checks()
    # EVSE 1 charges 10 kW and EVSE 2 7 kW before; both report export power: both V2X.
    checks.run(
        sample("10:00:00", hz=50.0, evse=1, import_w=10_000, export_w=0),
        sample("10:00:00", evse=2, import_w=7_000, export_w=0, transaction="T2"),
    )
    checks.run(sample("10:00:10", hz=49.7))
    # During: EVSE 1 turns to discharging 5 kW (-5,000 <= 10,000 - 500: responded);
    # EVSE 2 goes to 6,900 W (only 100 W less: under max(5 % of 7,000, 100) = 350: no).
    checks.run(
        sample("10:00:40", evse=1, import_w=0, export_w=5_000),
        sample("10:00:40", evse=2, import_w=6_900, export_w=0, transaction="T2"),
    )
    [closed] = checks.run(sample("10:01:00", hz=49.9))
    assert (closed.sessions_affected, closed.sessions_responded) == (2, 1)
    assert closed.responses == ("V2X|1|10000|-5000..-5000|yes", "V2X|2|7000|6900..6900|no")


def test_a_charge_only_evse_is_not_a_v2x_session() -> None:
    checks = Checks()
    checks.run(sample("10:00:00", hz=50.0, import_w=11_000))  # never exported
    [opened] = checks.run(sample("10:00:10", hz=50.3))
    assert (opened.direction, opened.sessions_affected) == ("over", 0)


def test_voltage_is_checked_per_station_and_phase_to_neutral_only() -> None:
    checks = Checks()
    checks.run(sample("10:00", volts={"L1-N": 231.0, "L2-N": 230.0, "L1-L2": 400.0}))
    [low] = checks.run(sample("10:01", volts={"L1-N": 204.5, "L2-N": 230.0, "L1-L2": 398.0}))
    assert (low.kind, low.station_id, low.phase, low.direction) == (
        "voltage",
        "V2X",
        "L1-N",
        "under",
    )
    checks.run(sample("10:02", volts={"L1-N": 206.0}))
    [back] = checks.run(sample("10:03", volts={"L1-N": 208.0}))
    assert (back.state, back.duration_s, back.extreme, back.readings) == ("closed", 120, 204.5, 2)


def test_a_late_reading_changes_no_excursion() -> None:
    checks = Checks()
    checks.run(sample("10:05", hz=50.0))
    step = checks.computation.process(
        checks.states, [sample("10:01", hz=49.5)], BatchContext(DAY, lambda s: ZoneInfo("UTC"))
    )
    assert (step.records, step.counts["grid_code_late"]) == ([], 1)


def test_an_open_excursion_survives_a_checkpoint() -> None:
    checks = Checks()
    checks.run(sample("10:00:00", hz=50.0, import_w=10_000, export_w=0))
    checks.run(sample("10:00:10", hz=49.7))
    state = checks.computation.from_dict(checks.computation.to_dict(checks.states["SITE-A"]))
    checks.states["SITE-A"] = state
    [closed] = checks.run(sample("10:00:30", hz=50.0, import_w=10_000, export_w=0))
    assert (closed.duration_s, closed.sessions_affected, closed.sessions_responded) == (20, 1, 0)


def test_two_excursions_of_one_series_in_one_batch_are_both_emitted() -> None:
    checks = Checks()
    out = checks.run(
        sample("10:00", volts={"L1-N": 205.0}),
        sample("10:01", volts={"L1-N": 230.0}),
        sample("10:02", volts={"L1-N": 260.0}),
    )
    assert [(e.direction, e.state, e.duration_s) for e in out] == [
        ("under", "closed", 60), ("over", "open", 0),
    ]  # fmt: skip
