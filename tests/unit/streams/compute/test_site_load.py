"""A site's quarter-hour load: the sum of its meters, re-emitted as meters arrive."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gridstream.errors import StateError
from streams.compute.meter_registers import (
    EXPORT_INTERVAL,
    EXPORT_REGISTER,
    IMPORT_CLOCK_INTERVAL,
    IMPORT_INTERVAL,
    IMPORT_REGISTER,
)
from streams.compute.quarter_hour import IntervalEnergy
from streams.compute.site_load import SiteLoadState, site_quarter_hour

Q = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
AS_OF = datetime(2026, 1, 15, 10, 20, tzinfo=UTC)


def energy(
    evse: int,
    wh: float,
    measurand: str = IMPORT_REGISTER,
    *,
    completeness: float = 1.0,
    estimated: bool = False,
    station: str = "CS1",
    revision: int = 0,
) -> IntervalEnergy:
    return IntervalEnergy(
        (station, evse, None, measurand), Q, wh, completeness, estimated, True, revision
    )


def test_site_sums_two_evses(qh_config) -> None:
    step = site_quarter_hour(
        SiteLoadState("SITE1"),
        [energy(1, 250.0), energy(2, 500.0), energy(2, 30.0, EXPORT_REGISTER)],
        qh_config,
        AS_OF,
    )
    (load,) = step.loads
    # import 250 + 500 = 750 Wh; over 0.25 h that is 3,000 W; export 30 Wh is 120 W
    assert (load.import_wh, load.avg_import_w, load.export_wh, load.avg_export_w) == (
        750.0,
        3000.0,
        30.0,
        120.0,
    )
    assert (load.meters, load.revision, load.interval_start) == (2, 0, Q)
    assert (load.computed_by, load.as_of) == ("quarter_hour/3", AS_OF)


def test_site_reemits_with_next_revision_when_another_meter_arrives(qh_config) -> None:
    state = SiteLoadState("SITE1")
    (first,) = site_quarter_hour(state, [energy(1, 250.0)], qh_config, AS_OF).loads
    (second,) = site_quarter_hour(state, [energy(2, 500.0)], qh_config, AS_OF).loads
    # the latest revision is always the full sum: 250, then 250 + 500
    assert [(x.import_wh, x.meters, x.revision) for x in (first, second)] == [
        (250.0, 1, 0),
        (750.0, 2, 1),
    ]
    # a meter's own revision replaces its earlier figure: 250 -> 260 gives 760
    (third,) = site_quarter_hour(state, [energy(1, 260.0, revision=1)], qh_config, AS_OF).loads
    assert (third.import_wh, third.meters, third.revision) == (760.0, 2, 2)


def test_main_meter_counts_only_without_evse_meters(qh_config) -> None:
    state = SiteLoadState("SITE1")
    (alone,) = site_quarter_hour(state, [energy(0, 800.0)], qh_config, AS_OF).loads
    # evse 0 measures the whole station; once its EVSE meters report, it would count twice
    (with_evses,) = site_quarter_hour(
        state, [energy(1, 250.0), energy(2, 500.0)], qh_config, AS_OF
    ).loads
    assert (alone.import_wh, alone.meters) == (800.0, 1)
    assert (with_evses.import_wh, with_evses.meters) == (750.0, 2)
    # another station's main meter still counts: 750 + 100
    (other,) = site_quarter_hour(state, [energy(0, 100.0, station="CS2")], qh_config, AS_OF).loads
    assert (other.import_wh, other.meters) == (850.0, 3)


def test_a_meter_with_a_register_and_intervals_counts_one_of_them(qh_config) -> None:
    # EVSE 1 reports its import as a register and as periodic and clock-aligned intervals,
    # all fully covered: the register counts, once. Its export comes only as intervals.
    (load,) = site_quarter_hour(
        SiteLoadState("SITE1"),
        [
            energy(1, 250.0),
            energy(1, 249.0, IMPORT_INTERVAL),
            energy(1, 251.0, IMPORT_CLOCK_INTERVAL),
            energy(1, 20.0, EXPORT_INTERVAL),
        ],
        qh_config,
        AS_OF,
    ).loads
    assert (load.import_wh, load.export_wh, load.meters) == (250.0, 20.0, 1)


@pytest.mark.parametrize(
    ("figures", "counted"),
    [
        # a 1.6 session's meterStart/meterStop pair spreads it evenly (estimated, not
        # covered); its periodic intervals measured 12 of 15 minutes: they count
        (((IMPORT_REGISTER, 300.0, 0.0, True), (IMPORT_INTERVAL, 240.0, 0.8, False)), 240.0),
        # periodic and clock-aligned intervals equally covered: periodic, the finer
        (((IMPORT_CLOCK_INTERVAL, 90.0, 1.0, False), (IMPORT_INTERVAL, 91.0, 1.0, False)), 91.0),
        # clock-aligned covered better than a periodic series that started late
        (((IMPORT_INTERVAL, 30.0, 0.2, False), (IMPORT_CLOCK_INTERVAL, 90.0, 1.0, False)), 90.0),
    ],
)
def test_the_series_covering_more_of_the_interval_counts(qh_config, figures, counted) -> None:
    for order in (figures, figures[::-1]):  # whatever the order they arrive in
        (load,) = site_quarter_hour(
            SiteLoadState("SITE1"),
            [energy(1, wh, s, completeness=c, estimated=e) for s, wh, c, e in order],
            qh_config,
            AS_OF,
        ).loads
        assert (load.import_wh, load.meters) == (counted, 1)


def test_completeness_is_the_lowest_of_its_meters_and_estimated_is_any(qh_config) -> None:
    (load,) = site_quarter_hour(
        SiteLoadState("SITE1"),
        [energy(1, 250.0, completeness=0.9), energy(2, 0.0, completeness=0.2, estimated=True)],
        qh_config,
        AS_OF,
    ).loads
    # an idle meter with 0.2 coverage could hide anything: the site is only 0.2 complete
    assert (load.completeness, load.estimated) == (0.2, True)


def test_intervals_before_the_floor_are_refused_not_folded(qh_config) -> None:
    state = SiteLoadState("SITE1")
    site_quarter_hour(state, [energy(1, 250.0)], qh_config, AS_OF)
    state.forget_before_ms(int(Q.timestamp() * 1000) + 900_000)
    step = site_quarter_hour(state, [energy(2, 500.0)], qh_config, AS_OF)
    assert step.loads == [] and step.too_old == [energy(2, 500.0)]


def test_a_provisional_interval_is_refused_as_a_caller_bug(qh_config) -> None:
    provisional = IntervalEnergy(("CS1", 1, IMPORT_REGISTER), Q, 10.0, 1.0, False, False, 0)
    with pytest.raises(ValueError, match="not final"):
        site_quarter_hour(SiteLoadState("SITE1"), [provisional], qh_config, AS_OF)


def test_snapshot_round_trips_and_refuses_an_unknown_version(qh_config) -> None:
    state = SiteLoadState("SITE1")
    site_quarter_hour(state, [energy(1, 250.0), energy(None, 5.0)], qh_config, AS_OF)
    restored = SiteLoadState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.to_dict() == state.to_dict()
    (load,) = site_quarter_hour(restored, [energy(2, 500.0)], qh_config, AS_OF).loads
    assert (load.import_wh, load.meters, load.revision) == (755.0, 3, 1)
    with pytest.raises(StateError, match="version None"):
        SiteLoadState.from_dict({k: v for k, v in state.to_dict().items() if k != "version"})
