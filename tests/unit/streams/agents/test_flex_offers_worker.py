"""The flexibility agent's shell: sites' figures in, area offers out, state checkpointed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gridstream.records import FlexOffer, Record, SiteFlexibility
from gridstream.registry import SiteRegistry
from streams.agents.batch_worker import BatchWorker
from streams.agents.flex_offers import flex_offers_worker
from streams.state_store import StateStore

T0 = datetime(2026, 1, 15, 10, 15, tzinfo=UTC)


def site(site_id: str, revision: int, reduce_w: float) -> bytes:
    return SiteFlexibility(
        site_id=site_id, congestion_area="GENT-NOORD", interval_start=T0, baseline_w=reduce_w,
        reduce_w=reduce_w, increase_w=0, sessions=1, reading_ts=T0, revision=revision,
        computed_by="test", as_of=T0,
    ).to_json()  # fmt: skip


class Published:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def __call__(self, records: Sequence[Record]) -> None:
        self.records.extend(records)

    def offers(self) -> list[FlexOffer]:
        return [r for r in self.records if isinstance(r, FlexOffer)]


def make_worker(tmp_path: Path, publish: Published) -> BatchWorker:
    store = StateStore(tmp_path / "flex_offers.sqlite3", "epoch-1")
    return flex_offers_worker(SiteRegistry(), publish, store, lambda: T0)


async def test_an_areas_sites_are_summed_across_a_restart(tmp_path: Path) -> None:
    first = Published()
    await make_worker(tmp_path, first).process([(0, 0, site("SITE-A", 0, 5_000))])
    [offer] = first.offers()
    assert (offer.reduce_w, offer.sites, offer.revision) == (5_000, 1, 0)

    # After a restart, SITE-A's figures come from the checkpoint: SITE-B adds to them.
    second = Published()
    worker = make_worker(tmp_path, second)
    await worker.process([(0, 0, site("SITE-A", 0, 5_000)), (0, 1, site("SITE-B", 0, 3_000))])
    [offer] = second.offers()
    assert (offer.reduce_w, offer.sites, offer.revision) == (8_000, 2, 1)
    assert worker.samples_in == 1  # offset 0 was covered by the checkpoint


async def test_a_record_that_is_no_site_flexibility_is_dead_lettered(tmp_path: Path) -> None:
    published = Published()
    worker = make_worker(tmp_path, published)
    await worker.process([(0, 0, b'{"site_id": "SITE-A"}')])
    [letter] = published.records
    assert letter.reason == "bad_record"  # type: ignore[attr-defined]
    assert "flex.sites[0]@0" in letter.detail  # type: ignore[attr-defined]
