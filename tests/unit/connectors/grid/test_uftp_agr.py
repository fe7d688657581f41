"""The UFTP aggregator's keys, participants and offers book."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from connectors.grid.uftp_agr import (
    AreaOffers,
    load_participants,
    new_key_pair,
    read_signing_key,
)
from gridstream.errors import ConfigError
from gridstream.records import FlexOffer

AREA = "ean.871685900012636543"
T = datetime(2026, 12, 5, 16, tzinfo=UTC)


def offer(start: datetime, revision: int, reduce_w: float) -> FlexOffer:
    return FlexOffer(
        offer_id=f"{AREA}|{start.isoformat()}", congestion_area=AREA, interval_start=start,
        interval_end=start + timedelta(minutes=15), baseline_w=0.0, reduce_w=reduce_w,
        increase_w=0.0, sessions=1, sites=1, revision=revision, computed_by="test", as_of=T,
    )  # fmt: skip


def test_a_new_signing_key_is_private_to_its_owner_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "agr.key"
    public = new_key_pair(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(public)) == 32
    key = read_signing_key(path)
    assert base64.b64decode(key)[32:] == base64.b64decode(public)  # seed, then public key
    with pytest.raises(FileExistsError):
        new_key_pair(path)


def test_a_participant_without_a_valid_key_is_a_config_error_naming_the_entry(
    tmp_path: Path,
) -> None:
    path = tmp_path / "participants.yaml"
    good = {"domain": "dso.example.com", "public_key": base64.b64encode(b"k" * 32).decode(),
            "endpoint": "https://dso.example.com/shapeshifter/api/v3/message"}  # fmt: skip
    path.write_text(yaml.safe_dump([good]))
    assert load_participants(path)[("dso.example.com", "DSO")].endpoint == good["endpoint"]
    path.write_text(yaml.safe_dump([good, good | {"public_key": "c2hvcnQ="}]))
    with pytest.raises(ConfigError, match="entry 2: public_key is not a base64 32-byte"):
        load_participants(path)


def test_the_book_keeps_the_latest_revision_per_period_and_forgets_old_days() -> None:
    book = AreaOffers()
    book.add(offer(T, 2, 10_000.0))
    book.add(offer(T, 1, 99_000.0))  # an older revision arriving late changes nothing
    assert book.of_area(AREA)[T].reduce_w == 10_000.0
    book.add(offer(T + timedelta(days=3), 1, 5_000.0))
    assert list(book.of_area(AREA)) == [T + timedelta(days=3)]
    assert book.of_area("elsewhere") == {}
