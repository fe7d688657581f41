"""Vendor quirks of real meter values, from the wire to the quarter-hour load.

Each test sends frames through the connector (``parse_frame`` + ``handle_call``: schema
validation and normalisation) and, where energy is the point, the samples through the
stream's computation (``process_batch``). Real traffic where a public example exists
(MaEVe's load test, mobilityhouse/ocpp's tests); frames constructed for gridstream otherwise
(``*.constructed.*`` in tests/fixtures/ocpp, see its README).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.ocpp import Accepted, Rejected, Sessions16, StationState
from gridstream.records import MeterSample
from streams.compute import BatchStep, QuarterHourConfig, SiteConfig, SiteState, process_batch

NOW = datetime(2026, 1, 15, 18, 0, 5, tzinfo=UTC)  # the conftest's receive time
# GRIDSTREAM_MAX_GAP_S and GRIDSTREAM_ALLOWED_LATENESS_S at their defaults
CONFIG = SiteConfig(QuarterHourConfig(timedelta(seconds=300), timedelta(hours=6)))


def samples_of(results: Sequence[Accepted | Rejected]) -> list[MeterSample]:
    out = []
    for result in results:
        assert isinstance(result, Accepted), result
        out += [r for r in result.records if isinstance(r, MeterSample)]
    return out


def compute(samples: Sequence[MeterSample]) -> BatchStep:
    states: dict[str, SiteState] = {}
    return process_batch(states, samples, CONFIG, lambda _: ZoneInfo("Europe/Brussels"), NOW)


def loads(step: BatchStep) -> dict[str, tuple[float, float, bool]]:
    """Latest figures per quarter-hour: HH:MM -> (import Wh, completeness, estimated)."""
    latest = {x.interval_start: x for x in step.loads}
    return {
        s.strftime("%H:%M"): (x.import_wh, x.completeness, x.estimated)
        for s, x in sorted(latest.items())
    }


@pytest.fixture
def run_frames(load_fixture, run_frame) -> Callable[..., list[Accepted | Rejected]]:
    """Every frame of a fixture file, in order, on one station (1.6 ids allocated from 7)."""

    def run(name: str, source: str, first_tx: int = 7) -> list[Accepted | Rejected]:
        allocate = itertools.count(first_tx).__next__
        station = StationState(sessions16=Sessions16(allocate=allocate))
        frames: list[Any] = load_fixture(name)
        if frames and not isinstance(frames[0], list):
            frames = [frames]
        return [run_frame(frame, source, station) for frame in frames]

    return run


# --- real traffic --------------------------------------------------------------------


def test_maeve_resent_meter_values_and_low_meter_stop_add_no_energy(run_frames):
    # MaEVe's load test: meterStart 3, MeterValues 5 sent twice (ids 12 and 13), meterStop
    # 3, all at 08:25:40.20. One instant, one reading: the highest (5 Wh). The second 5 is
    # a duplicate, and the meterStop below the last reading is neither negative energy
    # nor a new segment from 3 (PROTOCOLS.md §7). Its StopTransaction names transaction 3.
    results = run_frames("v1.6_maeve_loadtest_session.frames.json", "ocpp1.6", first_tx=3)
    samples = samples_of([r for r in results if isinstance(r, Accepted)])
    registers = [(s.message_id, s.readings[0].value) for s in samples]
    assert registers == [("8", 3.0), ("12", 5.0), ("13", 5.0), ("14", 3.0)]
    step = compute(samples)
    assert (step.loads, step.rejections, step.duplicates) == ([], [], 2)


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("v1.6_mobilityhouse_metervalues_frequency_hertz.frame.json", "ocpp1.6"),  # 2020
        ("v1.6_maeve_loadtest_session.frames.json", "ocpp1.6"),  # 2023
    ],
)
def test_real_frames_years_old_keep_their_timestamps(run_frames, name, source):
    # Received in 2026, sent with 2020 and 2023 timestamps: past times are the station's
    # (offline batches are late on purpose); only an unset or far-ahead clock is repaired.
    results = run_frames(name, source)
    samples = samples_of([r for r in results if isinstance(r, Accepted)])
    assert samples and all(s.station_ts is None and s.ts.year in (2020, 2023) for s in samples)


# --- constructed: interval energy --------------------------------------------------


def test_16_session_reporting_interval_energy_counts_it_once(run_frames):
    # StartTransaction at 17:00 (meterStart 120,000 Wh), Energy.Active.Import.Interval of
    # 0.617 kWh every 5 min from 17:05 to 17:30, the 17:15 and 17:20 frames re-sent, and
    # StopTransaction at 17:31 (meterStop 123,702 = 120,000 + 6 x 617).
    results = run_frames("v1.6_session_interval_energy_only.constructed.frames.json", "ocpp1.6")
    step = compute(samples_of(results))
    # [17:00, 17:15): the 17:05 interval has no known start, so 17:10 and 17:15 count:
    #   2 x 617 = 1,234 Wh over 10 of 15 min. The meterStart/meterStop pair (31 min apart)
    #   would spread 3,702 Wh evenly, unmeasured: the measured intervals count instead.
    # [17:15, 17:30): 3 x 617 = 1,851 Wh, fully covered; the re-sent frames add nothing.
    assert loads(step) == {
        "17:00": (1_234.0, 10 / 15, False),
        "17:15": (1_851.0, 1.0, False),
    }
    assert step.duplicates == 2
    assert [(p.month, p.peak_w) for p in step.peaks][-1] == ("2026-01", 7_404.0)


def test_2x_clock_aligned_per_phase_intervals_are_summed_per_quarter_hour(run_frames):
    name = "v2.0.1_metervalues_clock_aligned_interval_per_phase.constructed.frames.json"
    step = compute(samples_of(run_frames(name, "ocpp2.0.1")))
    # Sample.Clock every 15 min, per phase only: L1 + L2 + L3. 17:00's 2,730 Wh starts the
    # series; 17:15 brings 901 + 911 + 921 = 2,733 Wh for [17:00, 17:15), 17:30 2,736 Wh.
    # Readings exactly on the boundaries measure each quarter-hour fully, however far apart
    # (DOMAIN.md, Intervals and energy): complete, not estimated.
    assert loads(step) == {"17:00": (2_733.0, 1.0, False), "17:15": (2_736.0, 1.0, False)}


# --- constructed: register resets -----------------------------------------------------


def test_16_misread_zero_is_dropped_and_meter_swap_counts_no_jump(run_frames):
    # kWh registers: 5,000.000 -> 5,001.200 (17:05), "0.00" (17:10, misread), 5,002.300
    # (17:14), then a new meter from 0.012 (17:16) to 3.250 (17:30).
    results = run_frames(
        "v1.6_metervalues_meter_swap_and_misread.constructed.frames.json", "ocpp1.6"
    )
    step = compute(samples_of(results))
    # [17:00, 17:15): 17:00 -> 17:05 is 1,200 Wh; the register comes back from "0.00" above
    #   5,001,200, so the misread is dropped and 17:05 -> 17:14 counts straight across
    #   (1,100 Wh): 2,300 Wh over 14 of 15 minutes. The swap (5,002,300 -> 12 Wh, and it
    #   stays down) counts nothing and covers nothing.
    # [17:15, 17:30): 12 -> 3,250 = 3,238 Wh over 17:16-17:30, not 3,250 from 0.
    assert loads(step) == {"17:00": (2_300.0, 14 / 15, False), "17:15": (3_238.0, 14 / 15, False)}


def test_16_meter_swap_arriving_out_of_order_gives_the_same_load(run_frames):
    results = run_frames(
        "v1.6_metervalues_meter_swap_and_misread.constructed.frames.json", "ocpp1.6"
    )
    samples = samples_of(results)
    shuffled = [samples[i] for i in (4, 0, 7, 2, 5, 1, 6, 3)]
    in_order = loads(compute(samples))
    states: dict[str, SiteState] = {}
    latest: dict[datetime, Any] = {}
    for sample in shuffled:  # one at a time, as a station's buffer trickles in
        step = process_batch(states, [sample], CONFIG, lambda _: ZoneInfo("UTC"), NOW)
        assert all(x.import_wh >= 0 for x in step.loads)
        latest.update((x.interval_start, x) for x in step.loads)
    assert {
        s.strftime("%H:%M"): (x.import_wh, x.completeness, x.estimated)
        for s, x in sorted(latest.items())
    } == in_order


# --- constructed: station clocks ------------------------------------------------------


def test_16_unset_clock_is_placed_at_the_receive_time_and_kept_for_audit(run_frames):
    (result,) = run_frames("v1.6_metervalues_unset_clock.constructed.frame.json", "ocpp1.6")
    assert [(s.ts, s.station_ts) for s in samples_of([result])] == [
        (NOW - timedelta(minutes=1), "1970-01-01T00:41:10Z"),
        (NOW, "1970-01-01T00:42:10Z"),
    ]


def test_2x_clock_two_hours_ahead_is_placed_at_the_receive_time(run_frames):
    (result,) = run_frames("v2.0.1_metervalues_clock_ahead.constructed.frame.json", "ocpp2.0.1")
    (sample,) = samples_of([result])
    # 21:00:05+01:00 is 20:00:05 UTC, two hours after the receive time; 15.352 kWh
    assert (sample.ts, sample.station_ts, sample.readings[0].value) == (
        NOW,
        "2026-01-15T20:00:05Z",
        15_352.0,
    )


def test_16_empty_timestamp_passes_the_schema_check_and_is_repaired(run_frames):
    # The schema says date-time, but the ocpp package's validator (which has the last
    # word) does not check formats: "" reaches the connector, which repairs it.
    (result,) = run_frames("v1.6_metervalues_empty_timestamp.constructed.frame.json", "ocpp1.6")
    (sample,) = samples_of([result])
    assert (sample.ts, sample.station_ts, sample.transaction_id) == (NOW, "", None)
    assert result.response == {}


def test_16_stops_of_unknown_connectors_are_each_their_transactions_meter(run_frames):
    # After a connector restart, two StopTransactions whose connector it no longer knows:
    # registers 10,000 -> 11,800 and 50,000 -> 51,800 Wh from 17:00 to 17:15, interleaved
    # in time. Each transaction is its own meter: 1,800 + 1,800 Wh, read every 5 minutes.
    results = run_frames(
        "v1.6_stoptransaction_unknown_connector.constructed.frames.json", "ocpp1.6"
    )
    samples = samples_of(results)
    assert {s.evse_id for s in samples} == {None}
    assert loads(compute(samples)) == {"17:00": (3_600.0, 1.0, False)}
