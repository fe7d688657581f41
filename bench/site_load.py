"""``python -m bench.site_load``: what netting a site per minute costs the worker's computation.

The site chain (``streams.compute.process_batch``) runs over the same samples twice in one
process, alternating: netted on a one-minute grid (the default) and on a 15-minute grid
(one step: each quarter-hour netted whole, which costs next to nothing). Each site has two
EVSEs read every minute, one charging while the other discharges (V2X), so the per-minute
netting does real work on every quarter-hour; samples carry ten readings, as the ingest
bench's frames do. The figure is the ratio of the two rates, best of several rounds (these
machines are noisy); issue 12 allows netting a fifth of the worker's rate at most.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gridstream.records import MeterSample, Reading
from streams.compute.processor import SiteConfig, SiteState, process_batch
from streams.compute.quarter_hour import QuarterHourConfig

START = datetime(2026, 1, 15, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Brussels")
READINGS_PER_SAMPLE = 10


def _sample(site: int, evse: int, minute: int) -> MeterSample:
    ts = START + timedelta(minutes=minute)
    charging = evse == 1
    register = 10_000.0 + 180.0 * minute  # 10.8 kW
    readings = [
        Reading(
            measurand="Energy.Active.Import.Register",
            value=register if charging else 5_000.0,
            unit="Wh",
        ),
        Reading(
            measurand="Energy.Active.Export.Register",
            value=0.0 if charging else register,
            unit="Wh",
        ),
        Reading(measurand="Power.Active.Import", value=10_800.0 if charging else 0.0, unit="W"),
        Reading(measurand="Power.Active.Export", value=0.0 if charging else 10_800.0, unit="W"),
        Reading(measurand="SoC", value=50.0, unit="%"),
    ]
    readings += [
        Reading(measurand="Voltage", value=230.0, unit="V", phase=p) for p in ("L1-N", "L2-N")
    ]
    readings += [
        Reading(measurand="Current.Import", value=15.6, unit="A", phase=p)
        for p in ("L1", "L2", "L3")
    ]
    return MeterSample(
        ts=ts,
        station_id=f"CS{site}",
        site_id=f"SITE{site}",
        evse_id=evse,
        source="simulator",
        received_at=ts,
        readings=tuple(readings),
    )


def samples(sites: int, hours: int) -> list[MeterSample]:
    """Every site's two EVSEs, one sample a minute each, in time order."""
    return [
        _sample(site, evse, minute)
        for minute in range(hours * 60)
        for site in range(sites)
        for evse in (1, 2)
    ]


def _rate(batch: list[MeterSample], config: SiteConfig, batch_size: int) -> float:
    states: dict[str, SiteState] = {}
    began = time.perf_counter()
    for i in range(0, len(batch), batch_size):
        process_batch(states, batch[i : i + batch_size], config, lambda _: ZONE, START)
    return len(batch) * READINGS_PER_SAMPLE / (time.perf_counter() - began)


def run(
    sites: int = 50, hours: int = 6, rounds: int = 3, batch_size: int = 1000
) -> dict[str, float]:
    """Readings/s netted per minute and per quarter-hour, best of ``rounds`` each."""
    batch = samples(sites, hours)
    configs = {
        step: SiteConfig(
            quarter_hour=QuarterHourConfig(
                max_gap=timedelta(minutes=5),
                allowed_lateness=timedelta(hours=1),
                grid_step=timedelta(minutes=step),
            )
        )
        for step in (1, 15)
    }
    best = {1: 0.0, 15: 0.0}
    for _ in range(rounds):
        for step, config in configs.items():
            best[step] = max(best[step], _rate(batch, config, batch_size))
    return {
        "readings": float(len(batch) * READINGS_PER_SAMPLE),
        "netted_per_minute_readings_per_s": best[1],
        "netted_per_quarter_hour_readings_per_s": best[15],
        "ratio": best[1] / best[15],
    }


def report(result: dict[str, float]) -> str:
    """One line per figure, and the ratio the issue bounds."""
    return "\n".join(
        [
            f"site chain, netted per minute    : {result['netted_per_minute_readings_per_s']:10.0f}"
            " readings/s",
            f"site chain, per quarter-hour     : "
            f"{result['netted_per_quarter_hour_readings_per_s']:10.0f} readings/s  "
            f"ratio {result['ratio']:.3f} (netting costs {1 - result['ratio']:.1%})",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.site_load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(report(run(args.sites, args.hours, args.rounds)))
