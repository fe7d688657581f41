"""gridstream run collects its young generation less often (measured in bench.scale)."""

from __future__ import annotations

import gc

from gridstream.pipeline import GC_THRESHOLDS, tune_gc


def test_tune_gc_sets_the_connector_thresholds_for_the_process() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[1] > 10  # older generations less often than Python's default
    finally:
        gc.set_threshold(*before)
