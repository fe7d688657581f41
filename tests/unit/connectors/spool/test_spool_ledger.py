"""ReleaseLedger: what the spool may forget, in ack and sink mode, across broker epochs."""

from __future__ import annotations

import pytest

from connectors.spool import Ack, OffsetsReused, ReleaseLedger

T = "meter.samples"


def acks(epoch_ledger: ReleaseLedger, epoch: str, pairs: list[tuple[int, int]]) -> int:
    """Acknowledge ``(seq, offset)`` pairs on partition 0 of ``T``."""
    return epoch_ledger.acknowledge(epoch, [(seq, Ack(T, 0, offset)) for seq, offset in pairs])


def test_ack_mode_releases_on_the_acknowledgement() -> None:
    ledger = ReleaseLedger("ack", next_seq=3)
    ledger.new_epoch("e1")

    assert acks(ledger, "e1", [(0, 10), (1, 11)]) == 2

    assert (ledger.low, ledger.held) == (2, 1)
    assert ledger.acked == {(T, 0): 11}


def test_sink_mode_releases_only_what_the_sink_wrote_in_the_epoch_of_the_ack() -> None:
    ledger = ReleaseLedger("sink", next_seq=4)
    ledger.new_epoch("e1")
    assert acks(ledger, "e1", [(0, 10), (1, 11), (2, 12), (3, 13)]) == 0
    assert ledger.held == 4

    assert ledger.written("e0", T, 0, 99) == 0  # another broker's offsets: nothing
    assert ledger.written("e1", T, 1, 99) == 0  # another partition: nothing
    assert ledger.written("e1", T, 0, 11) == 2  # offsets 10 and 11: entries 0 and 1

    assert (ledger.low, ledger.held) == (2, 2)
    assert ledger.written("e1", T, 0, 11) == 0  # said twice: nothing more


def test_out_of_order_releases_move_low_once_the_gap_closes() -> None:
    ledger = ReleaseLedger("ack", next_seq=5)

    for seq in (1, 3, 2):
        assert ledger.release_seq(seq)
        assert ledger.low == 0
    assert ledger.is_released(3) and not ledger.is_released(0)
    assert ledger.release_seq(0)

    assert (ledger.low, ledger.held) == (4, 1)  # 0..3 released, 4 held
    assert not ledger.release_seq(2)  # already released


def test_after_an_epoch_change_the_previous_epochs_offsets_still_release() -> None:
    # The old broker's sink may still write what it had read when the broker went away.
    ledger = ReleaseLedger("sink", next_seq=3)
    ledger.new_epoch("e1")
    acks(ledger, "e1", [(0, 0), (1, 1), (2, 2)])

    ledger.new_epoch("e2")
    assert ledger.acked == {}
    assert ledger.written("e1", T, 0, 0) == 1
    acks(ledger, "e2", [(1, 0), (2, 1)])  # re-sent to the new broker

    assert ledger.written("e2", T, 0, 1) == 2
    assert ledger.held == 0


def test_offsets_two_epochs_back_are_forgotten() -> None:
    ledger = ReleaseLedger("sink", next_seq=1)
    ledger.new_epoch("e1")
    acks(ledger, "e1", [(0, 0)])

    ledger.new_epoch("e2")
    ledger.new_epoch("e3")

    assert ledger.written("e1", T, 0, 0) == 0
    assert ledger.held == 1


def test_an_acknowledgement_from_a_replaced_broker_is_refused() -> None:
    ledger = ReleaseLedger("ack", next_seq=1)
    ledger.new_epoch("e2")

    with pytest.raises(ValueError, match="epoch 'e1'"):
        acks(ledger, "e1", [(0, 0)])


def test_an_entry_never_appended_cannot_be_released() -> None:
    with pytest.raises(ValueError, match="never appended"):
        ReleaseLedger("ack", next_seq=2).release_seq(2)


def test_offsets_given_out_again_are_refused_and_no_longer_release_what_was_there() -> None:
    # The broker acknowledged entries 0..3 at offsets 0..3, then entry 4 at offset 2 again.
    ledger = ReleaseLedger("sink", next_seq=6)
    ledger.new_epoch("e1")
    acks(ledger, "e1", [(0, 0), (1, 1), (2, 2), (3, 3)])

    with pytest.raises(OffsetsReused, match=r"meter.samples\[0\]@2"):
        acks(ledger, "e1", [(4, 2), (5, 3)])

    assert ledger.written("e1", T, 0, 3) == 2  # only entries 0 and 1: offsets below 2
    assert ledger.held == 4  # 2..5 are sent again
    acks(ledger, "e1", [(2, 4), (3, 5), (4, 6), (5, 7)])  # counting on from the window's 3
    assert ledger.written("e1", T, 0, 7) == 4
