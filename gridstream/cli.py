"""The ``gridstream`` command line: the one place that wires every part together.

Subcommands:
    run      broker, OCPP connector, Faust worker, warehouse sink (and a fleet simulator)
    broker   the embedded broker alone, printing its bootstrap address
    connector, worker, sink   one part alone, against GRIDSTREAM_KAFKA_BOOTSTRAP
    query    SQL over the warehouse (DuckDB views over Parquet)
    report   per-site summary read back from the warehouse
    settings the GRIDSTREAM_* settings in force
    status   is the pipeline healthy? (broker, lag, sink, spool, stations; exit code)
    credentials  add, remove or list station credentials (OCPP security profiles 1, 2 and 3)
    signals  import grid signals from files (ENTSO-E, OpenADR 3, TenneT, Elia, P1, CSV)
    ocpi     the OCPI receiver alone; ``ocpi partner add|list|remove`` provisions partners
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from gridstream.errors import ConfigError, GridstreamError
from gridstream.logs import configure_logging
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

    broker = sub.add_parser(
        "broker",
        help="the embedded broker alone (memory only), with every topic; prints "
        "GRIDSTREAM_KAFKA_BOOTSTRAP=host:port for the other parts",
    )
    broker.add_argument(
        "--port", type=int, default=0, help="loopback port to listen on (default: a free one)"
    )
    for part, what in (
        ("connector", "the OCPP connector (spool, forwarder, registry feed)"),
        ("worker", "a quarter-hour worker (scale by starting more, each with its data dir)"),
        ("sink", "the warehouse sink (Kafka to Parquet under the data dir)"),
    ):
        sub.add_parser(part, help=f"{what} alone, against GRIDSTREAM_KAFKA_BOOTSTRAP")

    query = sub.add_parser("query", help="run SQL against the warehouse views")
    query.add_argument("sql", help='e.g. "SELECT * FROM peaks"')
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.add_argument(
        "--safe",
        action="store_true",
        help="no file access outside the data dir (for SQL that comes from elsewhere)",
    )

    _report_parser(sub)
    sub.add_parser(
        "dictionary", help="print the data dictionary (every stored record's columns and meaning)"
    )

    verify = sub.add_parser(
        "verify",
        help="recompute quarter-hour load from the stored samples and compare with the stream",
    )
    verify.add_argument("--epoch", help="only one run's data (a broker cluster id)")
    sub.add_parser("settings", help="print the GRIDSTREAM_* settings table")
    _status_parser(sub)
    _credentials_parser(sub)
    _signals_parser(sub)
    _ocpi_parser(sub)
    sub.add_parser(
        "compact",
        help="compact the warehouse's tables now and apply GRIDSTREAM_RETENTION_DAYS "
        "(gridstream run does it every GRIDSTREAM_COMPACT_INTERVAL_S)",
    )
    sub.add_parser(
        "dashboard",
        help="serve the live dashboard against GRIDSTREAM_KAFKA_BOOTSTRAP, starting from the "
        "warehouse in GRIDSTREAM_DATA_DIR (gridstream run serves it itself with "
        "GRIDSTREAM_DASHBOARD_PORT)",
    )
    backfill = sub.add_parser(
        "backfill",
        help="load pilot history (meter readings, OCPP message logs) into the warehouse and "
        "recompute the derived tables with the stream's computations",
    )
    backfill.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    backfill.add_argument(
        "--format",
        choices=["csv", "ndjson", "parquet", "ocpp-log"],
        default=None,
        help="the files' format (default: detected per file)",
    )
    backfill.add_argument("--no-progress", action="store_true", help="no progress bars")
    uftp = sub.add_parser("uftp", help="the UFTP (Shapeshifter) aggregator's keys")
    uftp_action = uftp.add_subparsers(dest="uftp_command", required=True)
    keygen = uftp_action.add_parser(
        "keygen",
        help="create our Ed25519 signing key (mode 0600, never overwritten) and print the "
        "public key to give the DSOs",
    )
    keygen.add_argument("--key-file", type=Path, default=None,
                        help="default: GRIDSTREAM_UFTP_SIGNING_KEY_FILE")  # fmt: skip
    return p


def _report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from warehouse.reports import REPORTS

    listing = "\n".join(f"  {r.name:<13} {r.about}" for r in REPORTS.values())
    report = sub.add_parser(
        "report",
        help="named reports over the warehouse (peaks, violations, v2x-..., ...)",
        description="Reports over the warehouse views; without NAME the per-site summary "
        "(energy, highest quarter-hour, sessions).\n\nreports:\n" + listing,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("name", nargs="?", choices=["sites", *REPORTS], default="sites")
    report.add_argument("--site", help="one site (grid connection) id")
    report.add_argument("--area", help="one congestion area (through the site registry)")
    report.add_argument("--brp", help="one balance responsible party (EIC code)")
    report.add_argument("--month", help="one month, YYYY-MM")
    report.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    report.add_argument("--output", type=Path, help="write to this file (required for parquet)")
    report.add_argument(
        "--chart",
        type=Path,
        help="peaks only: draw the site's quarter-hour load against its peak and limit "
        "(PNG; needs --site and --month)",
    )


def _report(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.query import format_result
    from warehouse.report import format_site_summary, site_summary
    from warehouse.reports import Filters, peak_chart, run_report, write_parquet

    if args.name == "sites":
        print(format_site_summary(site_summary(settings.data_dir)))
        return 0
    if args.chart is not None:
        if args.name != "peaks" or not (args.site and args.month):
            print("gridstream report: --chart goes with peaks, --site and --month", file=sys.stderr)
            return 2
        drawn = peak_chart(settings.data_dir, args.site, args.month, args.chart)
        print(f"{args.chart}: {drawn} quarter-hours of {args.site} in {args.month}")
        return 0
    filters = Filters(args.site, args.area, args.brp, args.month)
    columns, rows = run_report(settings.data_dir, args.name, filters)
    if args.format == "parquet":
        if args.output is None:
            print("gridstream report: --format parquet needs --output FILE", file=sys.stderr)
            return 2
        write_parquet(columns, rows, args.output)
        print(f"{args.output}: {len(rows)} rows")
        return 0
    text = format_result(columns, rows, args.format)
    if args.output is not None:
        args.output.write_text(text + "\n")
        print(f"{args.output}: {len(rows)} rows")
    else:
        print(text)
    return 0


def _status_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gridstream.status import Limits

    status = sub.add_parser(
        "status",
        help="broker, topics and their lag, last sink write, spool, stations online; "
        "exit 0 healthy, 1 unhealthy, 2 broker unreachable (a container health check)",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument(
        "--metrics",
        action="append",
        default=[],
        metavar="URL",
        help="a part's /metrics to read (repeat for each part; default: this host's "
        "GRIDSTREAM_METRICS_PORT, if set)",
    )
    status.add_argument(
        "--max-lag",
        type=int,
        default=Limits.max_lag,
        help=f"records a group may be behind on a topic (default {Limits.max_lag})",
    )
    status.add_argument(
        "--max-commit-age",
        type=float,
        default=Limits.max_commit_age_s,
        metavar="SECONDS",
        help="seconds without a sink write while the sink has lag "
        f"(default {Limits.max_commit_age_s:.0f})",
    )
    status.add_argument(
        "--max-spool",
        type=int,
        default=Limits.max_spool_entries,
        metavar="ENTRIES",
        help=f"entries a spool may hold (default {Limits.max_spool_entries})",
    )
    status.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS", help="per request (default 5)"
    )


def _status(settings: Settings, args: argparse.Namespace) -> int:
    """Print the pipeline's health; the exit code says it (0, 1, or 2 unreachable)."""
    from gridstream.status import Limits, collect, format_status

    limits = Limits(args.max_lag, args.max_commit_age, args.max_spool)
    status = collect(settings, metrics=args.metrics, limits=limits, timeout_s=args.timeout)
    print(status.to_json() if args.json else format_status(status))
    return status.exit_code


def _signals_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from connectors.grid import FORMATS

    signals = sub.add_parser("signals", help="grid signals (prices, limits, ...) from files")
    action = signals.add_subparsers(dest="signals_command", required=True)
    imp = action.add_parser(
        "import",
        help="import grid documents through Kafka (embedded broker and sink unless configured); "
        "what cannot be read goes to the dlq topic with its reason",
    )
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    imp.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="the files' format (default: detected per file)",
    )
    fetch = action.add_parser(
        "fetch",
        help="fetch ENTSO-E prices from the Transparency Platform API (GRIDSTREAM_ENTSOE_TOKEN) "
        "and import them like files",
    )
    fetch.add_argument("--document", choices=["A44", "A85"], default="A44",
                       help="A44 day-ahead prices (default), A85 imbalance prices")  # fmt: skip
    fetch.add_argument("--area", required=True, help="EIC code, e.g. 10YBE----------2")
    fetch.add_argument("--start", required=True, type=_utc_time, help="UTC, e.g. 2026-01-14T23:00Z")
    fetch.add_argument("--end", required=True, type=_utc_time, help="UTC, exclusive")
    imp.add_argument(
        "--site",
        default=None,
        metavar="SITE_ID",
        help="the site (grid connection) of documents that name none: P1 telegrams, "
        "OpenADR 3 events without targets",
    )


def _utc_time(text: str) -> datetime:
    """An aware time from the command line; a time without offset is refused."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset (write 2026-01-14T23:00Z)")
    return value.astimezone(UTC)


def _ocpi_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ocpi = sub.add_parser(
        "ocpi",
        help="serve the OCPI receiver alone (gridstream run serves it too), or manage partners",
    )
    action = ocpi.add_subparsers(dest="ocpi_command")
    partner = action.add_parser("partner", help="OCPI partners (roaming parties)")
    what = partner.add_subparsers(dest="partner_command", required=True)
    add = what.add_parser(
        "add", help="provision a partner; prints its token A and the versions URL once"
    )
    add.add_argument("--country-code", required=True, help="ISO 3166 alpha-2, e.g. BE")
    add.add_argument("--party-id", required=True, help="3 characters, e.g. BEC")
    add.add_argument("--role", default="CPO", help="OCPI role (default CPO)")
    add.add_argument("--replace", action="store_true", help="a new token A for a known partner")
    remove = what.add_parser("remove", help="forget a partner (its tokens stop working)")
    remove.add_argument("--country-code", required=True)
    remove.add_argument("--party-id", required=True)
    what.add_parser("list", help="list partners and whether they registered")


async def _run_ocpi(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """``gridstream ocpi``: the OCPI receiver alone, with its own spool, until ``stop``.

    Records go through a spool of its own (``GRIDSTREAM_SPOOL_DIR`` + ``-ocpi``, else
    ``spool-ocpi`` in the data dir: one process per spool) to the broker. With the
    embedded broker nothing writes the warehouse and the broker forgets on exit: set
    GRIDSTREAM_KAFKA_BOOTSTRAP, or use ``gridstream run``, which serves OCPI too.
    """
    from connectors.spool import Forwarder, KafkaTarget, Spool
    from gridstream import metrics
    from gridstream.broker import broker_session
    from gridstream.parts import (
        load_sites,
        spool_release_mode,
        start_metrics,
        start_ocpi,
        wait_for,
    )
    from gridstream.records import DeadLetter
    from gridstream.registry import SiteRegistry

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    registry = SiteRegistry(settings.site_timezone)
    for assignment in load_sites(settings):
        registry.assign(assignment)
    spool_dir = (
        settings.spool_dir.with_name(settings.spool_dir.name + "-ocpi")
        if settings.spool_dir is not None
        else settings.data_dir / "spool-ocpi"
    )
    try:
        with broker_session(settings.kafka_bootstrap) as broker:
            if broker.embedded:
                logging.getLogger(__name__).warning(
                    "gridstream ocpi with the embedded broker: records are kept in memory "
                    "and nothing writes the warehouse; set GRIDSTREAM_KAFKA_BOOTSTRAP"
                )
            async with contextlib.AsyncExitStack() as parts:
                await start_metrics(parts, settings)
                spool = Spool(
                    spool_dir,
                    max_bytes=settings.spool_max_bytes,
                    mode=spool_release_mode(settings, broker),
                )
                await spool.start()
                parts.push_async_callback(spool.close)
                metrics.watch(metrics.SPOOL_ENTRIES, lambda: spool.held, ["ocpi"])
                forwarder = Forwarder(
                    spool, KafkaTarget(broker.bootstrap, client_id="gridstream-ocpi")
                )
                await forwarder.start()
                parts.push_async_callback(forwarder.stop)

                async def dead_letter(letter: DeadLetter) -> None:
                    await spool.publish([letter])

                server = await start_ocpi(settings, spool.publish, dead_letter, registry.site_of)
                parts.push_async_callback(server.close)
                if on_ready is not None:
                    on_ready(server.port)
                await stop.wait()
                await server.close()
                await wait_for(lambda: forwarder.caught_up, 30.0, "the spool forwarder")
        return
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def _ocpi(settings: Settings, args: argparse.Namespace) -> int:
    from connectors.ocpi import PartnerStore, PartyRef
    from connectors.ocpi.partners import ROLES
    from gridstream.parts import partners_file

    if args.ocpi_command is None:
        try:
            asyncio.run(_run_ocpi(settings))
        except (KeyboardInterrupt, asyncio.CancelledError):
            return 130
        return 0
    store = PartnerStore(partners_file(settings))
    if args.partner_command == "list":
        for p in store.partners():
            state = f"registered ({p.version})" if p.registered else "not registered"
            print(f"{p.country_code} {p.party_id} {p.role} {state}")
        return 0
    party = PartyRef(args.country_code.upper(), args.party_id.upper())
    if len(party.country_code) != 2 or len(party.party_id) != 3:
        raise ConfigError(
            f"--country-code must be 2 letters and --party-id 3 characters, got {party}"
        )
    if args.partner_command == "remove":
        if not store.remove(party):
            raise ConfigError(f"no OCPI partner {party}")
        print(f"removed {party}")
        return 0
    if args.role not in ROLES:
        raise ConfigError(f"--role {args.role!r} is not one of {', '.join(ROLES)}")
    try:
        token = store.add(party, args.role, replace_token=args.replace)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(f"partner {party} ({args.role}) provisioned; give it, out of band:")
    print(f"  token (CREDENTIALS_TOKEN_A): {token}")
    print(f"  versions URL: http://{settings.ocpi_host}:{settings.ocpi_port}/ocpi/versions")
    print(f"  its requests carry: Authorization: Token {_base64(token)}")
    return 0


def _base64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def _credentials_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    creds = sub.add_parser(
        "credentials",
        help="station credentials for OCPP security profiles 1, 2 and 3 (only hashes are stored)",
    )
    creds.add_argument(
        "--file",
        type=Path,
        default=None,
        help="credentials file (default: GRIDSTREAM_OCPP_CREDENTIALS_FILE)",
    )
    action = creds.add_subparsers(dest="credentials_command", required=True)
    add = action.add_parser(
        "add",
        help="add a station; prints its new password once (or reads it with --password-stdin)",
    )
    add.add_argument("station_id", help="the station identity, as in its URL")
    add.add_argument(
        "--profile",
        type=int,
        choices=[1, 2, 3],
        default=2,
        help="lowest security profile accepted: 1 = ws:// + Basic, 2 = wss:// + Basic "
        "(default 2), 3 = wss:// + a client certificate named for the station (no password; "
        "set GRIDSTREAM_OCPP_TLS_CLIENT_CA_FILE)",
    )
    add.add_argument(
        "--hex-key",
        action="store_true",
        help="OCPP 1.6 AuthorizationKey: the password is 32..40 hex digits whose octets are "
        "the password; the station may send either form",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of generating one",
    )
    add.add_argument(
        "--replace", action="store_true", help="replace the station's entry (new password)"
    )
    remove = action.add_parser("remove", help="remove a station's entry")
    remove.add_argument("station_id")
    action.add_parser("list", help="list station ids and their security profile")


def _credentials(settings: Settings, args: argparse.Namespace) -> int:
    """Edit the credentials file; ``add`` prints a generated password once, on stdout."""
    from connectors.ocpp.credentials import (
        SALT_BYTES,
        StationCredential,
        format_credentials,
        generate_password,
        hash_password,
        parse_credentials,
        password_octets,
    )

    path: Path | None = args.file or settings.ocpp_credentials_file
    if path is None:
        raise ConfigError("set GRIDSTREAM_OCPP_CREDENTIALS_FILE (or pass --file PATH)")
    entries = (
        parse_credentials(path.read_text(encoding="utf-8"), str(path)) if path.exists() else {}
    )
    command = args.credentials_command
    if command == "list":
        for entry in entries.values():
            print(f"{entry.station_id}\tsecurity profile {entry.security_profile}")
        return 0
    if command == "remove":
        if entries.pop(args.station_id, None) is None:
            raise ConfigError(f"{path}: no station {args.station_id!r}")
        _write_private(path, format_credentials(entries))
        print(f"station {args.station_id} removed from {path}", file=sys.stderr)
        return 0
    if args.station_id in entries and not args.replace:
        raise ConfigError(f"{path}: station {args.station_id!r} exists; pass --replace")
    if args.profile == 3:  # the certificate is the credential: no password to keep
        entries[args.station_id] = StationCredential(args.station_id, 3, "")
        _write_private(path, format_credentials(entries))
        print(
            f"station {args.station_id} added to {path} (security profile 3): it connects with "
            f"a client certificate whose common name is {args.station_id}, signed by the CA "
            "in GRIDSTREAM_OCPP_TLS_CLIENT_CA_FILE",
            file=sys.stderr,
        )
        return 0
    generated = not args.password_stdin
    password = (
        generate_password(secrets.choice, hex_key=args.hex_key)
        if generated
        else sys.stdin.readline().rstrip("\r\n")
    )
    try:
        octets = password_octets(password, hex_key=args.hex_key)
    except ValueError as exc:
        raise ConfigError(f"station {args.station_id}: {exc}") from None
    password_hash = hash_password(octets, secrets.token_bytes(SALT_BYTES))
    entries[args.station_id] = StationCredential(args.station_id, args.profile, password_hash)
    _write_private(path, format_credentials(entries))
    print(
        f"station {args.station_id} added to {path} (security profile {args.profile}); "
        "restart gridstream run to apply",
        file=sys.stderr,
    )
    if generated:  # shown once: only its hash is kept
        print(password)
    return 0


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def _verify(settings: Settings, epoch: str | None) -> int:
    """Batch equals stream? Print the verdict and the differences; 1 if any."""
    from datetime import UTC, datetime

    from gridstream.parts import load_sites
    from gridstream.registry import SiteRegistry
    from streams.compute import SiteConfig
    from warehouse.backfill import (
        compare,
        iter_site_samples,
        quarter_hour_load,
        stream_quarter_hours,
    )
    from warehouse.query import format_result

    registry = SiteRegistry(settings.site_timezone)
    for assignment in load_sites(settings):
        registry.assign(assignment)
    config = SiteConfig.from_settings(settings)
    as_of = datetime.now(UTC)
    batch = []
    stored = 0
    for _, samples in iter_site_samples(settings.data_dir, epoch):  # one site in memory
        stored += len(samples)
        batch += quarter_hour_load(samples, config, as_of, rated_power=registry.rated_power_w)
    differences = compare(stream_quarter_hours(settings.data_dir, epoch), batch)
    print(
        f"{len(batch)} site quarter-hours recomputed from {stored} stored meter samples; "
        f"{len(differences)} differ from what the stream wrote"
    )
    if differences:
        columns = list(differences[0].__dataclass_fields__)
        rows = [tuple(getattr(d, c) for c in columns) for d in differences]
        print(format_result(columns, rows, "table"))
        return 1
    return 0


def _dashboard(settings: Settings) -> int:
    """``gridstream dashboard`` until SIGINT or SIGTERM.

    It starts from the warehouse's recent figures (``GRIDSTREAM_DATA_DIR``, when it holds
    one), then follows the broker: a dashboard started late, or after an embedded broker's
    restart, still shows the whole day. Without a broker, the warehouse's figures alone.
    """
    from dashboard.server import serve_dashboard
    from gridstream.records import Record
    from warehouse.errors import WarehouseError
    from warehouse.recent import recent_records

    def history(since: datetime) -> list[Record]:
        try:
            return recent_records(settings.data_dir, since)
        except WarehouseError as exc:  # the live figures still show; say what is missing
            logging.getLogger(__name__).warning(
                "dashboard: the warehouse in %s is not read: %s", settings.data_dir, exc
            )
            return []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_dashboard(
            settings, stop, lambda: datetime.now(UTC),
            lambda port: print(f"dashboard: http://{settings.dashboard_host}:{port}/", flush=True),
            history,
        )  # fmt: skip

    asyncio.run(main())
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run one part as its own process until SIGINT or SIGTERM; 0 after a clean stop."""
    from gridstream.serve import serve_broker, serve_part

    def announce(line: str) -> None:
        print(line, flush=True)

    try:
        if args.command == "broker":
            summary = asyncio.run(serve_broker(settings, args.port, on_ready=announce))
        else:
            summary = asyncio.run(serve_part(settings, args.command, on_ready=announce))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"gridstream {args.command}: interrupted; every part was stopped", file=sys.stderr)
        return 130
    print(summary, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridstream`` console script."""
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    # Third-party libraries log every frame and every state change at INFO.
    for noisy in ("ocpp", "websockets", "faust", "mode", "aiokafka", "kafka", "shapeshifter-uftp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
    try:
        if args.command == "run":
            from gridstream.pipeline import RunOptions, run, tune_gc

            tune_gc()

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
        if args.command in ("broker", "connector", "worker", "sink"):
            return _serve(settings, args)
        if args.command == "query":
            from warehouse.query import format_result, run_query

            columns, rows = run_query(settings.data_dir, args.sql, safe=args.safe)
            print(format_result(columns, rows, args.format))
            return 0
        if args.command == "report":
            return _report(settings, args)
        if args.command == "dictionary":
            from warehouse.dictionary import data_dictionary

            print(data_dictionary(), end="")
            return 0
        if args.command == "verify":
            return _verify(settings, args.epoch)
        if args.command == "settings":
            print(settings_table())
            return 0
        if args.command == "status":
            return _status(settings, args)
        if args.command == "credentials":
            return _credentials(settings, args)
        if args.command == "dashboard":
            return _dashboard(settings)
        if args.command == "compact":
            from warehouse.compaction import compact_warehouse
            from warehouse.query import format_result

            done = compact_warehouse(
                settings.data_dir, datetime.now(UTC).date(), settings.retention_days,
                settings.compact_target_mb * 1024 * 1024,
            )  # fmt: skip
            columns = ["topic", "files_before", "files_after", "rows_expired", "files_deleted"]
            print(format_result(columns, [tuple(getattr(d, c) for c in columns) for d in done],
                                "table"))  # fmt: skip
            return 0
        if args.command == "backfill":
            from gridstream.backfill_import import backfill

            outcome = asyncio.run(
                backfill(settings, args.paths, args.format, progress=not args.no_progress)
            )
            print(outcome)
            return 1 if outcome.rejected else 0
        if args.command == "uftp":
            from connectors.grid.uftp_agr import new_key_pair

            path = args.key_file or settings.uftp_signing_key_file
            if path is None:
                raise ConfigError("give --key-file or set GRIDSTREAM_UFTP_SIGNING_KEY_FILE")
            try:
                public = new_key_pair(path)
            except FileExistsError:
                raise ConfigError(f"{path} exists: gridstream never overwrites a key") from None
            print(f"signing key written to {path}; public key (for the DSOs): {public}")
            return 0
        if args.command == "signals":
            from connectors.grid.entsoe_api import EntsoeQuery
            from gridstream.signals_import import fetch_entsoe, import_signals

            if args.signals_command == "fetch":
                query = EntsoeQuery(args.document, args.area, args.start, args.end)
                result = asyncio.run(fetch_entsoe(settings, query))
            else:
                result = asyncio.run(
                    import_signals(settings, args.paths, args.format, site_id=args.site)
                )
            print(result)
            return 1 if result.rejected else 0
        if args.command == "ocpi":
            return _ocpi(settings, args)
    except GridstreamError as exc:
        print(f"gridstream: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
