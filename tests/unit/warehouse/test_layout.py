"""File names: epoch, partition and offsets, and what is not a sink file."""

from __future__ import annotations

import pytest

from warehouse.layout import BatchFile, is_valid_epoch


@pytest.mark.parametrize(
    "epoch",
    [
        "gridstream-3f2a9c01bd4e",  # embedded broker: a cluster id made at start
        "MkU3OEVBNTcwNTJENDM2Qk",  # a Kafka cluster id (base64url)
        "a-b_c.d",
    ],
)
def test_file_name_round_trips_with_any_valid_epoch(epoch: str) -> None:
    batch = BatchFile(epoch, 3, 10, 19)
    assert batch.name == f"{epoch}-3-0000000000000000010-0000000000000000019.parquet"
    assert BatchFile.parse(batch.name) == batch


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (".e1-0-0000000000000000000-0000000000000000009.parquet.tmp", "a temporary file"),
        (".e1-0-0000000000000000000-0000000000000000009.parquet", "hidden"),
        ("e1-0-0000000000000000000-0000000000000000009.csv", "not Parquet"),
        ("part-0.parquet", "written by another tool"),
        ("e1-x-0000000000000000000-0000000000000000009.parquet", "partition not a number"),
    ],
)
def test_names_that_are_not_sink_files_are_ignored(name: str, why: str) -> None:
    assert BatchFile.parse(name) is None


@pytest.mark.parametrize(
    ("epoch", "valid"),
    [("e1", True), ("", False), ("a/b", False), ("..", False), ("a b", False)],
)
def test_epoch_must_be_usable_in_a_file_name(epoch: str, valid: bool) -> None:
    assert is_valid_epoch(epoch) is valid
