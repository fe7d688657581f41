"""``python -m bench.sink``: the warehouse sink's rows/s beside a plain pyarrow write.

In one run, over the same ``meter.samples`` records (JSON as they come from Kafka, ten
readings each, 1,000 sites):

1. baseline: decode the JSON into an Arrow table (``warehouse.schemas.records_to_table``,
   the sink's own decoder) and ``pyarrow.parquet.write_table`` it, zstd, in batches the
   size of one flush: the floor the sink cannot beat.
2. sink: ``ParquetSink.add`` each record with its offset and ``flush`` every batch, as the
   running sink does every ``GRIDSTREAM_SINK_FLUSH_INTERVAL_S``: duplicate checks, one
   file per (topic, partition, date) under a temporary name, fsync, rename.

Reported as rows/s (a row is one sample) and as a ratio to the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from bench.site_load import _sample
from gridstream import topics
from warehouse.schemas import records_to_table
from warehouse.sink import ParquetSink

TOPIC = topics.METER_SAMPLES.name


def _values(samples: int, sites: int = 1_000) -> list[bytes]:
    return [_sample(i % sites, 1, i // sites).to_json() for i in range(samples)]


def measure(samples: int = 100_000, batch: int = 10_000, passes: int = 3) -> dict[str, float]:
    """Rows/s of the baseline and of the sink over ``samples`` records in ``batch``es.

    The two alternate, ``passes`` times each; the best pass of each counts (the least
    disturbed by the machine's other work).
    """
    values = _values(samples)
    plain: list[float] = []
    sink_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(passes):
            began = time.perf_counter()
            for i in range(0, samples, batch):
                table = records_to_table(TOPIC, values[i : i + batch])
                pq.write_table(table, Path(tmp) / f"plain-{n}-{i}.parquet", compression="zstd")
            plain.append(time.perf_counter() - began)

            sink = ParquetSink(Path(tmp) / f"warehouse-{n}", "bench-epoch")
            began = time.perf_counter()
            for i in range(0, samples, batch):
                for offset in range(i, min(i + batch, samples)):
                    sink.add(TOPIC, 0, offset, values[offset])
                sink.flush()
            sink_times.append(time.perf_counter() - began)
    return {
        "samples": float(samples),
        "plain_rows_per_s": samples / min(plain),
        "sink_rows_per_s": samples / min(sink_times),
    }


def report(r: dict[str, float]) -> str:
    """The sink beside the plain write, and the ratio."""
    ratio = r["sink_rows_per_s"] / r["plain_rows_per_s"]
    return (
        f"plain decode + pyarrow write      : {r['plain_rows_per_s']:10.0f} rows/s\n"
        f"warehouse sink (add + flush)      : {r['sink_rows_per_s']:10.0f} rows/s  "
        f"ratio {ratio:.3f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.sink", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--samples", type=int, default=100_000)
    args = parser.parse_args()
    print(report(measure(args.samples)))
