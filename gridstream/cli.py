"""The ``gridstream`` command line: the one place that wires every part together.

Subcommands:
    run      broker, OCPP connector, Faust worker, warehouse sink (and a fleet simulator)
    query    SQL over the warehouse (DuckDB views over Parquet)
    report   per-site summary read back from the warehouse
    settings the GRIDSTREAM_* settings in force
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from gridstream.errors import GridstreamError
from gridstream.settings import Settings, settings_table


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridstream",
        description="Streaming pipeline for EV-charging meter data and grid signals.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline (embedded broker unless configured)")
    run.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop cleanly after this many seconds (default: until Ctrl-C)",
    )
    run.add_argument(
        "--no-simulator",
        action="store_true",
        help="run without the fleet simulator: real stations connect",
    )
    run.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="simulated seconds per real second (simulator only; default 60)",
    )
    run.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")

    query = sub.add_parser("query", help="run SQL against the warehouse views")
    query.add_argument("sql", help='e.g. "SELECT * FROM peaks"')
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")

    sub.add_parser("report", help="per-site energy, highest quarter-hour and sessions")

    verify = sub.add_parser(
        "verify",
        help="recompute quarter-hour load from the stored samples and compare with the stream",
    )
    verify.add_argument("--epoch", help="only one run's data (a broker cluster id)")
    sub.add_parser("settings", help="print the GRIDSTREAM_* settings table")
    return p


def _verify(settings: Settings, epoch: str | None) -> int:
    """Batch equals stream? Print the verdict and the differences; 1 if any."""
    from datetime import UTC, datetime

    from streams.compute import QuarterHourConfig
    from warehouse.backfill import compare, quarter_hour_load, read_samples, stream_quarter_hours
    from warehouse.query import format_result

    samples = read_samples(settings.data_dir, epoch)
    batch = quarter_hour_load(
        samples, QuarterHourConfig.from_settings(settings), as_of=datetime.now(UTC)
    )
    differences = compare(stream_quarter_hours(settings.data_dir, epoch), batch)
    print(
        f"{len(batch)} site quarter-hours recomputed from {len(samples)} stored meter samples; "
        f"{len(differences)} differ from what the stream wrote"
    )
    if differences:
        columns = list(differences[0].__dataclass_fields__)
        rows = [tuple(getattr(d, c) for c in columns) for d in differences]
        print(format_result(columns, rows, "table"))
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridstream`` console script."""
    args = _parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # Third-party libraries log every frame and every state change at INFO.
    for noisy in ("ocpp", "websockets", "faust", "mode", "aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
    try:
        if args.command == "run":
            from gridstream.pipeline import RunOptions, run

            options = RunOptions(
                duration_s=args.duration,
                simulator=not args.no_simulator,
                speed=args.speed,
                seed=args.seed,
            )
            try:
                summary = asyncio.run(run(settings, options))
            except (KeyboardInterrupt, asyncio.CancelledError):
                print("gridstream: interrupted; every part was stopped", file=sys.stderr)
                return 130
            print(summary)
            return 0
        if args.command == "query":
            from warehouse.query import format_result, run_query

            columns, rows = run_query(settings.data_dir, args.sql)
            print(format_result(columns, rows, args.format))
            return 0
        if args.command == "report":
            from warehouse.report import format_site_summary, site_summary

            print(format_site_summary(site_summary(settings.data_dir)))
            return 0
        if args.command == "verify":
            return _verify(settings, args.epoch)
        if args.command == "settings":
            print(settings_table())
            return 0
    except GridstreamError as exc:
        print(f"gridstream: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
