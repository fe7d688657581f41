"""The grid signals in force: latest revision wins, tightest limit, overlapping series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridstream.periods import to_epoch_ms
from gridstream.records import GridSignal
from streams.compute.signal_book import SignalBook

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SITE = ("site", "EAN-1")
AREA = ("congestion_area", "AREA-N")


def limit(
    start_min: int,
    end_min: int,
    value: float,
    *,
    revision: int = 1,
    scope: tuple[str, str] = SITE,
    source: str = "dso",
) -> GridSignal:
    return GridSignal(
        kind="import_capacity_limit",
        scope_type=scope[0],  # type: ignore[arg-type]
        scope_id=scope[1],
        interval_start=T0 + timedelta(minutes=start_min),
        interval_end=T0 + timedelta(minutes=end_min),
        resolution="PT15M",
        value=value,
        unit="W",
        source=source,
        document_id="doc",
        revision=revision,
        received_at=T0,
    )


def at(minute: float) -> int:
    return to_epoch_ms(T0) + int(minute * 60_000)


def test_a_limit_holds_on_its_half_open_interval_only() -> None:
    book = SignalBook()
    book.add(limit(0, 15, 11_000))
    assert [s.value for s in book.in_force("import_capacity_limit", SITE, at(0))] == [11_000]
    assert [s.value for s in book.in_force("import_capacity_limit", SITE, at(14.99))] == [11_000]
    assert book.in_force("import_capacity_limit", SITE, at(15)) == []
    assert book.in_force("import_capacity_limit", SITE, at(-0.01)) == []


def test_a_higher_revision_replaces_and_a_lower_one_arriving_late_is_ignored() -> None:
    book = SignalBook()
    assert book.add(limit(0, 15, 11_000, revision=1))
    assert book.add(limit(0, 15, 7_000, revision=3))
    assert not book.add(limit(0, 15, 9_000, revision=2))
    assert [s.value for s in book.in_force("import_capacity_limit", SITE, at(5))] == [7_000]
    assert len(book) == 1


def test_the_tightest_limit_over_the_scopes_is_the_one_in_force() -> None:
    book = SignalBook()
    book.add(limit(0, 60, 20_000))  # the site's own
    book.add(limit(15, 30, 8_000, scope=AREA))  # the DSO squeezes the area for a quarter-hour
    assert book.limit_w("import_capacity_limit", [SITE, AREA], at(10)).value == 20_000  # type: ignore[union-attr]
    assert book.limit_w("import_capacity_limit", [SITE, AREA], at(20)).value == 8_000  # type: ignore[union-attr]
    assert book.limit_w("import_capacity_limit", [AREA], at(40)) is None


def test_a_long_interval_is_found_behind_shorter_later_ones() -> None:
    book = SignalBook()
    book.add(limit(0, 120, 30_000, source="contract"))
    book.add(limit(60, 75, 10_000))
    held = book.in_force("import_capacity_limit", SITE, at(90))
    assert [s.value for s in held] == [30_000]
    assert [s.value for s in book.overlapping("import_capacity_limit", SITE, at(70), at(80))] == [
        30_000,
        10_000,
    ]


def test_forgetting_drops_only_signals_that_ended() -> None:
    book = SignalBook()
    book.add(limit(0, 15, 1))
    book.add(limit(15, 30, 2))
    assert book.forget_before(T0 + timedelta(minutes=15)) == 1
    assert [s.value for s in book.in_force("import_capacity_limit", SITE, at(20))] == [2]
    assert book.in_force("import_capacity_limit", SITE, at(5)) == []
