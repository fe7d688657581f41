"""Early peak warnings: the open quarter-hour's projection, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gridstream.records import MeterSample, Peak, PeakAlert, Reading, Record, SiteAssignment
from streams.compute.computation import BatchContext
from streams.compute.peak_alerts import PeakAlertConfig, PeakAlerts, projected_average_w

SITE = "EAN-541448"
T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # a quarter-hour start


def sample(
    minute: float,
    wh: float | None,
    *,
    power_w: float | None = None,
    station: str = "CP-1",
    evse: int = 1,
) -> MeterSample:
    readings = []
    if wh is not None:
        readings.append(Reading(measurand="Energy.Active.Import.Register", value=wh, unit="Wh"))
    if power_w is not None:
        readings.append(Reading(measurand="Power.Active.Import", value=power_w, unit="W"))
    ts = T0 + timedelta(minutes=minute)
    return MeterSample(
        ts=ts, station_id=station, site_id=SITE, evse_id=evse, source="ocpp2.0.1",
        received_at=ts + timedelta(seconds=1), readings=tuple(readings),
    )  # fmt: skip


def month_peak(kw: float) -> Peak:
    return Peak(
        site_id=SITE, month="2026-01", peak_w=kw * 1000, interval_start=T0 - timedelta(days=3),
        revision=0, computed_by="test", as_of=T0,
    )  # fmt: skip


class Harness:
    def __init__(self, threshold_w: float | None = None, contracted_w: float | None = None) -> None:
        self.computation = PeakAlerts(PeakAlertConfig(threshold_w=threshold_w))
        self.states: dict[str, Any] = {}
        self.info = SiteAssignment(
            station_id="CP-1", site_id=SITE, contracted_capacity_w=contracted_w
        )

    def feed(self, *samples: MeterSample, upstream: tuple[Record, ...] = ()) -> list[PeakAlert]:
        context = BatchContext(
            T0, lambda s: ZoneInfo("Europe/Brussels"), site_info=lambda s: self.info,
            upstream=upstream,
        )  # fmt: skip
        records = self.computation.process(self.states, samples, context).records
        assert all(isinstance(r, PeakAlert) for r in records)
        return records  # type: ignore[return-value]


def test_the_projection_is_the_energy_so_far_plus_the_latest_power_to_the_end() -> None:
    # 2.5 kWh in the first 5 minutes, 30 kW now: (2.5 + 30 x 10/60) / 0.25 = 30 kW
    assert projected_average_w(2_500, 30_000, 5 * 60_000, 15 * 60_000) == 30_000


def test_crossing_the_threshold_alerts_once_per_quarter_hour() -> None:
    # At 10:00, 30 kW: nothing metered yet, 30 kW x 15 min projected: 30 kW on average.
    [first] = Harness(threshold_w=25_000).feed(sample(0, 10_000, power_w=30_000))
    assert (first.projected_w, first.energy_so_far_wh) == (30_000, 0)
    h = Harness(threshold_w=25_000)
    assert h.feed(sample(0, 10_000)) == []  # no power known yet: projection 0
    [alert] = h.feed(sample(5, 12_500, power_w=30_000))
    assert (alert.crossed, alert.crossed_w, alert.projected_w, alert.energy_so_far_wh) == (
        "threshold", 25_000, 30_000, 2_500,
    )  # fmt: skip
    assert alert.interval_start == T0
    assert alert.reading_ts == T0 + timedelta(minutes=5)
    assert alert.reading_received_at == T0 + timedelta(minutes=5, seconds=1)
    assert h.feed(sample(6, 13_000, power_w=30_000)) == []  # the same crossing: no second alert
    # The next quarter-hour starts afresh and may alert again.
    [again] = h.feed(sample(16, 20_500, power_w=40_000))
    assert again.interval_start == T0 + timedelta(minutes=15)


def test_an_alert_names_the_reading_that_caused_it_even_a_power_reading_alone() -> None:
    h = Harness(threshold_w=25_000)
    # 10:12:30, 30 kW: 2.5 minutes left at 30 kW, 1.25 kWh / 0.25 h = 5 kW projected
    assert h.feed(sample(12.5, 10_000, power_w=30_000)) == []
    # 10:16, a power reading alone opens 10:15: 30 kW over the whole quarter-hour, 30 kW
    [alert] = h.feed(sample(16, None, power_w=30_000))
    assert (alert.interval_start, alert.projected_w) == (T0 + timedelta(minutes=15), 30_000)
    assert alert.reading_ts == T0 + timedelta(minutes=16)  # not the register's 10:12:30


def test_the_register_at_the_start_is_interpolated_and_the_slope_stands_in_for_power() -> None:
    h = Harness(threshold_w=29_000)
    h.feed(sample(-2, 10_000))
    [alert] = h.feed(sample(2, 12_000))
    # 30 kW between 9:58 and 10:02: 11,000 Wh at 10:00, 1 kWh so far, 13 minutes to go at
    # 30 kW: (1 + 6.5) / 0.25 = 30 kW
    assert alert.energy_so_far_wh == pytest.approx(1_000)
    assert alert.projected_w == pytest.approx(30_000)


def test_crossing_the_months_peak_so_far_or_the_contracted_capacity_alerts_each() -> None:
    h = Harness(contracted_w=28_000)
    h.feed(sample(0, 10_000), upstream=(month_peak(20),))
    alerts = h.feed(sample(5, 12_500, power_w=30_000))
    assert {(a.crossed, a.crossed_w) for a in alerts} == {
        ("month_peak", 20_000),
        ("contracted_capacity", 28_000),
    }


def test_a_misread_register_does_not_raise_a_false_alarm() -> None:
    h = Harness(threshold_w=10_000)
    h.feed(sample(0, 50_000, power_w=5_000))
    # "0.00" read, then a digit flipped up: neither moves the projection (5 kW all along)
    assert h.feed(sample(3, 0.0), sample(4, 950_000)) == []
    assert h.states[SITE].meters["CP-1|1"].last == (int((T0.timestamp()) * 1000), 50_000)


def test_a_stations_main_meter_stands_for_its_evses() -> None:
    h = Harness(threshold_w=15_000)
    h.feed(sample(0, 1_000, station="CP-1", evse=0), sample(0, 500, evse=1), sample(0, 500, evse=2))
    # EVSEs 1 and 2 at 11 kW each, the main meter 22 kW: 22 kW, not 44 kW
    alerts = h.feed(
        sample(1, 1_000 + 22_000 / 60, power_w=22_000, evse=0),
        sample(1, 500 + 11_000 / 60, power_w=11_000, evse=1),
        sample(1, 500 + 11_000 / 60, power_w=11_000, evse=2),
    )
    assert [a.projected_w for a in alerts] == [pytest.approx(22_000)]


def test_late_readings_leave_the_open_quarter_hour_alone_and_the_state_survives_a_snapshot() -> (
    None
):
    h = Harness(threshold_w=25_000)
    h.feed(sample(16, 10_000))
    assert h.feed(sample(5, 90_000, power_w=90_000)) == []  # the 10:00 quarter-hour is closed
    h.states[SITE] = h.computation.from_dict(h.computation.to_dict(h.states[SITE]))
    [alert] = h.feed(sample(20, 12_500, power_w=30_000))
    assert alert.projected_w == pytest.approx(30_000)  # 2.5 kWh by 10:20 + 30 kW x 10 min
