"""The DuckDB catalog: views over the Parquet files, in ``<data_dir>/gridstream.duckdb``.

One base view per topic reads that topic's files (``read_parquet`` with hive partitioning
on ``date`` and ``union_by_name``) and keeps one row per Kafka record: a table the fenced
sink created holds each once already (``warehouse.table``); elsewhere (files from before
the tables) rows that share ``(_epoch, _partition, _offset)`` (a batch written twice)
appear once, through a window. A topic without files
still has its view, with every column typed from the topic's Arrow schema and no rows, so
queries and reports work on an empty warehouse. The base view is built as that typed empty
SELECT ``UNION ALL BY NAME`` the files, so a column that older files lack reads as NULL.

Base views (all columns of the record, then ``_partition``, ``_offset``, ``_epoch`` and,
for dated topics, ``date``), one per topic, every record once::

    meter_samples                 meter.samples       one row per meter sample
    transactions                  transactions        every session event
    ev_charging_needs             ev.charging_needs   every charging-needs message
    grid_signals_history          grid.signals        every grid signal, every revision
    site_registry_history         registry.sites      every registry entry ever sent
    station_boots                 registry.stations   every BootNotification (station info)
    quarter_hour_load_revisions   load.quarter_hour   every revision of every interval
    evse_quarter_hour_load_revisions  load.evse_quarter_hour  every revision, per meter
    peak_revisions                peaks               every revision of every monthly peak
    dead_letters                  dlq                 every rejected input

Derived views: ``meter_readings`` (one row per reading), ``quarter_hour_load`` (the site,
netted across its meters), ``evse_quarter_hour_load`` (each meter's own gross import and
export, and whether it counted in the site load) and ``peaks`` (latest revision only),
``grid_signals`` (latest revision of each signal), ``sessions`` (one row per station and
transaction), ``site_registry`` (latest entry per station), ``site_grid_signals`` (the
signals that apply to each known site: its own, its connection group's, its congestion
area's) and ``stations`` (latest boot per station: vendor, model, serial number, firmware,
protocol version). ``refresh_views`` is idempotent; call it after a topic gets its first
file (``open_catalog`` does).

Exactly once per reading (issue 3): the OCPP connector leaves out what a station re-sends
while it remembers it, but a duplicate can still reach Kafka as a new record (a connector
restart, a spool replayed at least once after a broker restart). Base views show every
Kafka record once, such duplicates included. ``meter_readings`` shows every reading once,
by (station, EVSE, ts, measurand, phase, location, context), the earliest received;
``sessions`` counts every transaction event once, whatever its message id, receive time,
``seq_gap``, site and EVSE (where a re-delivered event can differ);
``transaction_seq_gaps`` lists the runs of OCPP 2.x seqNos still missing inside each
transaction, between the lowest and the highest received.

Pruning (issue 17, item 3): a filter on ``date`` reaches the file scan of every base view
and of ``meter_readings`` (its window partitions by plain columns, ``date`` among them), so
DuckDB opens only that day's files (hive partitioning; ``EXPLAIN ANALYZE`` shows "Scanning
Files: 8/76"). ``open_catalog(data_dir, days)`` goes further for views that window over
whole topics (latest revisions): their files are listed for those days only, from the
Delta log, so that ``gridstream report ... --month`` reads one month.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from gridstream import topics
from warehouse import layout
from warehouse.errors import QueryError
from warehouse.schemas import event_time_field, record_schema, topic_schema
from warehouse.table import Listing, TopicTable

BASE_VIEWS: dict[str, str] = {
    topics.METER_SAMPLES.name: "meter_samples",
    topics.TRANSACTIONS.name: "transactions",
    topics.EV_CHARGING_NEEDS.name: "ev_charging_needs",
    topics.GRID_SIGNALS.name: "grid_signals_history",
    topics.REGISTRY_SITES.name: "site_registry_history",
    topics.REGISTRY_STATIONS.name: "station_boots",
    topics.LOAD_QUARTER_HOUR.name: "quarter_hour_load_revisions",
    topics.LOAD_EVSE_QUARTER_HOUR.name: "evse_quarter_hour_load_revisions",
    topics.PEAKS.name: "peak_revisions",
    topics.VIOLATIONS_CAPACITY.name: "capacity_violation_revisions",
    topics.FLEX_SITES.name: "site_flexibility_revisions",
    topics.CHARGING_LIMITS.name: "charging_limits",
    topics.EVENTS_GRID_CODE.name: "grid_code_event_revisions",
    topics.COMPLIANCE_PROFILES.name: "profile_compliance_revisions",
    topics.FLEX_OFFERS.name: "flex_offer_revisions",
    topics.UFTP_OFFERS.name: "uftp_flex_offers",
    topics.PEAKS_HIGHEST.name: "highest_peak_revisions",
    topics.ALERTS_PEAKS.name: "peak_alert_deliveries",
    topics.BALANCES_V2X.name: "energy_balance_revisions",
    topics.TARIFFS_CAPACITY.name: "capacity_tariff_revisions",
    topics.DLQ.name: "dead_letters",
    topics.CDRS.name: "cdr_deliveries",
    topics.OCPI_LOCATIONS.name: "ocpi_evse_history",
}
"""The base view of each topic; a topic added to the catalog later gets ``name`` with
dots as underscores."""

Days = tuple[date, date]
"""A range of ``date`` partitions: the first and the last day, both included."""

_LATEST = "_epoch DESC, _partition DESC, _offset DESC"


def _by_epoch(revisions: str) -> str:
    """``revisions`` with ``_epoch_began``: when its broker epoch began (its first as_of).

    Revisions count per epoch (a restarted embedded broker is a new epoch whose worker
    starts from empty state), so the latest figure is the newest epoch's highest revision,
    never an older epoch's higher one: views order by ``_epoch_began`` first.
    """
    return f"(SELECT *, min(as_of) OVER (PARTITION BY _epoch) AS _epoch_began FROM {revisions})"


_EARLIEST = "received_at, _epoch, _partition, _offset"

#: What says how a transaction event was delivered, or what the connector added from its
#: memory and registry, rather than what the station said: the same event delivered twice
#: (re-sent under a new message id to a restarted connector, which no longer knows the
#: EVSE of a 2.x transaction or 1.6 stop; a spool replayed after a broker restart) can
#: differ in these only.
_DELIVERY_FIELDS = frozenset(
    {"message_id", "received_at", "seq_gap", "site_id", "evse_id", "connector_id"}
)
_EVENT_IDENTITY = ", ".join(
    f.name for f in record_schema(topics.TRANSACTIONS.record) if f.name not in _DELIVERY_FIELDS
)


def _readings(samples: str, condition: str) -> str:
    """One row per reading of ``samples`` that meets ``condition`` (a WHERE or QUALIFY).

    The reading's fields become plain columns first, so that the window of a QUALIFY
    partitions by plain columns (``date`` too: a function of ``ts``) and a filter on any of
    them (measurand, date, ts, station) is applied before it (and ``date`` prunes files).
    """
    return f"""
        SELECT * EXCLUDE (_position)
        FROM (
            SELECT ts, station_id, evse_id, connector_id, site_id, transaction_id,
                   reading.measurand AS measurand, reading.phase AS phase,
                   reading.location AS location, reading.value AS value, reading.unit AS unit,
                   source, reading.context AS context, reading.signed_data AS signed_data,
                   charging_profile_id, message_id, received_at, date, _epoch, _partition,
                   _offset, _position
            FROM (
                SELECT *, UNNEST(readings) AS reading,
                       generate_subscripts(readings, 1) AS _position
                FROM {samples}
            )
        )
        {condition}
    """


#: A reading delivered twice (at-least-once replays) is shown once: the earliest received,
#: then the first stored. Its identity leaves out the transaction (1.6 may omit it).
_FIRST_RECEIVED = f"""QUALIFY row_number() OVER (
    PARTITION BY station_id, evse_id, ts, measurand, phase, location, context, date
    ORDER BY {_EARLIEST}, _position
) = 1"""

# The instants (station, EVSE, ts) of more than one sample, from the key columns alone,
# computed once for both branches (a materialized CTE: DuckDB still carries a filter on
# date into it). Joined (a left join kept where nothing matched; an inner join), not semi
# or anti joined: DuckDB then carries a filter on date across the join keys into the
# instants too, and a query over one day opens that day's files only, on every scan.
_REPEATED_INSTANTS = """repeated AS MATERIALIZED (
    SELECT station_id AS _station, evse_id AS _evse, ts AS _ts, date AS _date
    FROM meter_samples GROUP BY ALL HAVING count(*) > 1
)"""
_SAME_INSTANT = """repeated ON s.station_id = repeated._station
    AND s.evse_id IS NOT DISTINCT FROM repeated._evse
    AND s.ts = repeated._ts AND s.date = repeated._date"""
_SAMPLED_ONCE = (
    f"(SELECT s.* FROM meter_samples s LEFT JOIN {_SAME_INSTANT} WHERE repeated._station IS NULL)"
)
_SAMPLED_TWICE = f"(SELECT s.* FROM meter_samples s JOIN {_SAME_INSTANT})"

METER_READINGS_OF_DISTINCT_SAMPLES = (
    f"WITH {_REPEATED_INSTANTS}\n"
    f"SELECT * FROM ({_readings(_SAMPLED_ONCE, '')})\nUNION ALL\n"
    f"SELECT * FROM ({_readings(_SAMPLED_TWICE, _FIRST_RECEIVED)})"
)
"""``meter_readings`` when no sample holds one reading twice (``TopicTable.readings_distinct``).

A reading can then be repeated only by another sample of the same instant (station, EVSE,
ts): the readings of an instant sampled once are shown as they are, and only the instants
delivered more than once (a re-sent message, a replayed spool: rare) go through the
window that keeps the earliest received. The same rows as the window over every reading,
at a fraction of the cost (``python -m bench.reports``).
"""

DERIVED_VIEWS: dict[str, str] = {
    "meter_readings": _readings("meter_samples", _FIRST_RECEIVED),
    "quarter_hour_load": f"""
        SELECT site_id, interval_start, import_wh, export_wh, avg_import_w, avg_export_w,
               completeness, estimated, revision, meters, computed_by, as_of, date
        FROM {_by_epoch("quarter_hour_load_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY site_id, interval_start
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    "evse_quarter_hour_load": f"""
        SELECT site_id, station_id, evse_id, transaction_id, interval_start, import_wh,
               export_wh, avg_import_w, avg_export_w, completeness, estimated, in_site_load,
               revision, computed_by, as_of, date
        FROM {_by_epoch("evse_quarter_hour_load_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY site_id, station_id, evse_id, transaction_id, interval_start
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    "peaks": f"""
        SELECT site_id, month, peak_w, interval_start, revision, computed_by, as_of
        FROM {_by_epoch("peak_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY site_id, month
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    "v2x_balances": f"""
        SELECT scope, site_id, station_id, evse_id, transaction_id, brp, bidding_zone,
               interval_start, import_wh, export_wh, net_wh, import_price_eur_mwh,
               import_price_kind, export_price_eur_mwh, export_price_kind,
               imbalance_price_eur_mwh, imbalance_value_eur, import_cost_eur,
               export_value_eur, net_cost_eur, soc_start_pct, soc_end_pct, revision,
               computed_by, as_of
        FROM {_by_epoch("energy_balance_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY scope, site_id, station_id, evse_id, transaction_id, interval_start
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    "v2x_balance_sites": """
        SELECT site_id, brp, bidding_zone, interval_start, import_wh, export_wh, net_wh,
               import_price_eur_mwh, export_price_eur_mwh, import_cost_eur, export_value_eur,
               net_cost_eur, imbalance_price_eur_mwh, imbalance_value_eur
        FROM v2x_balances WHERE scope = 'site'
    """,
    # Round-trip efficiency: energy out per % of SoC discharged over energy in per % charged.
    # The EV's own word on what it could give (OCPP 2.1 NotifyEVChargingNeeds, the latest
    # told on the EVSE up to the session's last period): a negative evMinV2XEnergyRequest
    # is energy above its minimum V2X state of charge, so -min_v2x_energy_wh Wh were on
    # offer for discharge (DOMAIN.md, V2X energy balances).
    "v2x_balance_sessions": """
        WITH sessions AS (
            SELECT site_id, station_id, evse_id, transaction_id,
                   min(interval_start) AS first_period, max(interval_start) AS last_period,
                   count(*) AS periods, sum(import_wh) AS import_wh, sum(export_wh) AS export_wh,
                   sum(net_wh) AS net_wh, sum(import_cost_eur) AS import_cost_eur,
                   sum(export_value_eur) AS export_value_eur, sum(net_cost_eur) AS net_cost_eur,
                   (sum(export_wh) FILTER (WHERE soc_end_pct < soc_start_pct)
                    / NULLIF(sum(soc_start_pct - soc_end_pct)
                             FILTER (WHERE soc_end_pct < soc_start_pct), 0))
                   / NULLIF(sum(import_wh) FILTER (WHERE soc_end_pct > soc_start_pct)
                            / NULLIF(sum(soc_end_pct - soc_start_pct)
                                     FILTER (WHERE soc_end_pct > soc_start_pct), 0), 0)
                       AS round_trip_efficiency
            FROM v2x_balances WHERE scope = 'session'
            GROUP BY site_id, station_id, evse_id, transaction_id
        ),
        offered AS (
            SELECT s.station_id, s.evse_id, s.transaction_id,
                   arg_max(greatest(-n.min_v2x_energy_wh, 0), n.ts) AS ev_dischargeable_wh
            FROM sessions s JOIN ev_charging_needs n
              ON n.station_id = s.station_id AND n.evse_id = s.evse_id
             AND n.ts >= s.first_period - INTERVAL 15 MINUTE
             AND n.ts < s.last_period + INTERVAL 15 MINUTE
            WHERE n.min_v2x_energy_wh IS NOT NULL
            GROUP BY ALL
        )
        SELECT s.site_id, s.station_id, s.evse_id, s.transaction_id, s.first_period, s.periods,
               s.import_wh, s.export_wh, s.net_wh, s.import_cost_eur, s.export_value_eur,
               s.net_cost_eur, s.round_trip_efficiency, o.ev_dischargeable_wh,
               s.export_wh - o.ev_dischargeable_wh AS discharged_beyond_offer_wh
        FROM sessions s LEFT JOIN offered o USING (station_id, evse_id, transaction_id)
    """,
    "v2x_balance_brps": """
        SELECT brp, interval_start, count(*) AS sites, sum(import_wh) AS import_wh,
               sum(export_wh) AS export_wh, sum(net_wh) AS net_wh,
               sum(net_cost_eur) AS net_cost_eur, sum(imbalance_value_eur) AS imbalance_value_eur
        FROM v2x_balances WHERE scope = 'site' AND brp IS NOT NULL
        GROUP BY brp, interval_start
    """,
    # An alert delivered twice (a batch re-run after a crash) shows once.
    "peak_alerts": f"""
        SELECT alert_id, site_id, interval_start, reading_ts, reading_received_at,
               projected_w, energy_so_far_wh, crossed, crossed_w, computed_by, as_of
        FROM peak_alert_deliveries
        QUALIFY row_number() OVER (PARTITION BY alert_id ORDER BY as_of, {_LATEST}) = 1
    """,
    "highest_peaks": f"""
        SELECT site_id, station_id, evse_id, transaction_id, peak_w, interval_start, revision,
               computed_by, as_of
        FROM {_by_epoch("highest_peak_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY site_id, station_id, evse_id, transaction_id
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    "capacity_tariff": f"""
        SELECT site_id, month, tariff_regime, peak_w, peak_interval_start, floor_w,
               billed_peak_w, months_averaged, months_measured, average_billed_peak_w,
               revision, computed_by, as_of
        FROM {_by_epoch("capacity_tariff_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY site_id, month
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    # A violation is re-emitted with revision + 1 as it grows, closes or is withdrawn.
    "capacity_violations": f"""
        SELECT violation_id, site_id, direction, state, start, "end", duration_s,
               quarter_hours, limit_w, limit_source, tolerance, max_exceedance_w,
               max_exceedance_w / 1000 AS max_exceedance_kw, energy_above_limit_wh,
               energy_above_limit_wh / 1000 AS energy_above_limit_kwh, revision,
               computed_by, as_of
        FROM {_by_epoch("capacity_violation_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY violation_id
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    # An excursion is re-emitted with revision + 1 as it grows and when it closes.
    "grid_code_events": f"""
        SELECT event_id, kind, site_id, station_id, evse_id, phase, direction, state, start, "end",
               duration_s, extreme, band_low, band_high, readings, sessions_affected,
               sessions_responded, responses, revision, computed_by, as_of
        FROM {_by_epoch("grid_code_event_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY event_id
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    # Planned against metered per quarter-hour (latest revision).
    "profile_compliance": f"""
        SELECT scope, site_id, station_id, evse_id, transaction_id, interval_start, covered_s,
               planned_w, metered_w, deviation_w, energy_above_plan_wh, compliant, tolerance,
               limit_source, profile_keys, reported_profile_ids, profile_id_mismatch,
               revision, computed_by, as_of
        FROM {_by_epoch("profile_compliance_revisions")}
        QUALIFY row_number() OVER (
            -- a meter whose EVSE is unknown (OCPI) is one per session
            PARTITION BY scope, site_id, station_id, evse_id,
                         CASE WHEN evse_id IS NULL THEN transaction_id END, interval_start
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    # Per session: the EVSE quarter-hours under a limit while its readings carried it.
    "profile_compliance_sessions": """
        SELECT site_id, station_id, evse_id, transaction_id,
               min(interval_start) AS first_interval, max(interval_start) AS last_interval,
               count(*) AS quarter_hours,
               count(*) FILTER (WHERE compliant IS NOT NULL) AS judged,
               count(*) FILTER (WHERE NOT compliant) AS not_compliant,
               sum(planned_w * covered_s) / 3600 AS planned_wh,
               sum(metered_w) * 0.25 AS metered_wh,
               max(deviation_w) AS max_deviation_w,
               sum(energy_above_plan_wh) AS energy_above_plan_wh,
               count(*) FILTER (WHERE profile_id_mismatch) AS profile_id_mismatches
        FROM profile_compliance
        WHERE scope = 'evse' AND transaction_id IS NOT NULL
        GROUP BY site_id, station_id, evse_id, transaction_id
    """,
    # Each site's flexibility per period (the figures behind the offers), latest revision.
    "site_flexibility": f"""
        SELECT site_id, congestion_area, interval_start, baseline_w, reduce_w, increase_w,
               sessions, unknown_departure, reading_ts, revision, computed_by, as_of
        FROM {_by_epoch("site_flexibility_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY site_id, interval_start
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    # What a DSO sees per congestion area and settlement period: the sites' sums.
    "flex_offers": f"""
        SELECT offer_id, congestion_area, interval_start, interval_end, baseline_w,
               reduce_w, increase_w, baseline_w / 1000 AS baseline_kw,
               reduce_w / 1000 AS reduce_kw, increase_w / 1000 AS increase_kw, sessions,
               sites, revision, computed_by, as_of
        FROM {_by_epoch("flex_offer_revisions")}
        QUALIFY row_number() OVER (
            PARTITION BY offer_id
            ORDER BY _epoch_began DESC, revision DESC, as_of DESC, {_LATEST}
        ) = 1
    """,
    # A signal is (source, kind, scope, interval); a re-published one has a higher revision.
    # Revisions are the publisher's document revisions, so they are compared per source only.
    "grid_signals": f"""
        SELECT kind, scope_type, scope_id, interval_start, interval_end, resolution, value,
               unit, source, document_id, revision, received_at
        FROM grid_signals_history
        QUALIFY row_number() OVER (
            PARTITION BY source, kind, scope_type, scope_id, interval_start, interval_end
            ORDER BY revision DESC, received_at DESC, {_LATEST}
        ) = 1
    """,
    "sessions": f"""
        SELECT station_id, transaction_id, site_id, evse_id, connector_id,
               started_at, ended_at, meter_start_wh, meter_end_wh,
               -- a register lower at the end than at the start went through a reset or
               -- a new meter: its difference says nothing of the session's energy
               CASE WHEN meter_end_wh >= meter_start_wh THEN meter_end_wh - meter_start_wh
               END AS energy_wh,
               operation_mode, stopped_reason, events, first_event_at, last_event_at
        FROM (
            SELECT station_id, transaction_id,
                   arg_max(site_id, ts) AS site_id,
                   arg_max(evse_id, ts) FILTER (WHERE evse_id IS NOT NULL) AS evse_id,
                   arg_max(connector_id, ts) FILTER (WHERE connector_id IS NOT NULL)
                       AS connector_id,
                   min(ts) FILTER (WHERE event_type = 'started') AS started_at,
                   max(ts) FILTER (WHERE event_type = 'ended') AS ended_at,
                   arg_min(meter_wh, ts) FILTER (WHERE event_type = 'started'
                                                 AND meter_wh IS NOT NULL) AS meter_start_wh,
                   arg_max(meter_wh, ts) FILTER (WHERE event_type = 'ended'
                                                 AND meter_wh IS NOT NULL) AS meter_end_wh,
                   arg_max(operation_mode, ts) FILTER (WHERE operation_mode IS NOT NULL)
                       AS operation_mode,
                   arg_max(stopped_reason, ts) FILTER (WHERE stopped_reason IS NOT NULL)
                       AS stopped_reason,
                   count(*) AS events, min(ts) AS first_event_at, max(ts) AS last_event_at
            FROM (
                SELECT * FROM transactions
                QUALIFY row_number() OVER (
                    PARTITION BY {_EVENT_IDENTITY} ORDER BY {_EARLIEST}
                ) = 1
            )
            GROUP BY station_id, transaction_id
        )
    """,
    # The connector's seq_gap is what it knew on arrival; this is what is still missing.
    "transaction_seq_gaps": """
        SELECT station_id, transaction_id, seq_no + 1 AS first_missing_seq_no,
               next_seq_no - 1 AS last_missing_seq_no, next_seq_no - seq_no - 1 AS missing
        FROM (
            SELECT station_id, transaction_id, seq_no,
                   lead(seq_no) OVER (PARTITION BY station_id, transaction_id ORDER BY seq_no)
                       AS next_seq_no
            FROM (
                SELECT DISTINCT station_id, transaction_id, seq_no FROM transactions
                WHERE seq_no IS NOT NULL
            )
        )
        WHERE next_seq_no > seq_no + 1
    """,
    "site_registry": f"""
        SELECT * EXCLUDE (_epoch, _partition, _offset)
        FROM site_registry_history
        QUALIFY row_number() OVER (PARTITION BY station_id ORDER BY {_LATEST}) = 1
    """,
    # Which signals apply to which site, through the registry: a site's own (by site id or
    # EAN, as OpenADR targets it), its connection group's and its congestion area's. A signal
    # for a site the registry does not know yet stays in grid_signals and shows here once
    # the site appears.
    "site_grid_signals": """
        WITH sites AS (
            SELECT site_id, any_value(ean) AS ean, any_value(congestion_area) AS congestion_area,
                   any_value(connection_group) AS connection_group
            FROM site_registry GROUP BY site_id
        )
        SELECT sites.site_id, g.*
        FROM grid_signals AS g JOIN sites ON
            (g.scope_type = 'site' AND g.scope_id IN (sites.site_id, sites.ean))
            OR (g.scope_type = 'connection_group' AND g.scope_id = sites.connection_group)
            OR (g.scope_type = 'congestion_area' AND g.scope_id = sites.congestion_area)
    """,
    # A CDR is final (OCPI): one row per CDR id, the first delivered (replays dropped).
    "cdrs": f"""
        SELECT * EXCLUDE (_epoch, _partition, _offset)
        FROM cdr_deliveries
        QUALIFY row_number() OVER (
            PARTITION BY country_code, party_id, cdr_id ORDER BY {_EARLIEST}
        ) = 1
    """,
    "ocpi_evses": f"""
        SELECT * EXCLUDE (_epoch, _partition, _offset)
        FROM ocpi_evse_history
        QUALIFY row_number() OVER (PARTITION BY station_id ORDER BY ts DESC, {_LATEST}) = 1
    """,
    # Settled (CDR) against metered energy per session: the session's own total (its
    # ended event) and the rise of its import register in meter_readings. OCPP-metered
    # sessions join once the registry maps OCPI EVSEs to OCPP stations (not yet).
    "cdr_energy_check": """
        SELECT c.country_code, c.party_id, c.cdr_id, c.station_id, c.transaction_id,
               c.started_at, c.ended_at, c.total_energy_wh AS cdr_energy_wh,
               s.energy_wh AS session_energy_wh, m.metered_wh,
               c.total_energy_wh - m.metered_wh AS difference_wh
        FROM cdrs c
        LEFT JOIN sessions s
            ON s.station_id = c.station_id AND s.transaction_id = c.transaction_id
        LEFT JOIN (
            SELECT station_id, transaction_id, max(value) - min(value) AS metered_wh
            FROM meter_readings
            WHERE measurand = 'Energy.Active.Import.Register' AND phase IS NULL
                  AND transaction_id IS NOT NULL
            GROUP BY station_id, transaction_id
        ) m ON m.station_id = c.station_id AND m.transaction_id = c.transaction_id
    """,
    "stations": f"""
        SELECT * EXCLUDE (_epoch, _partition, _offset, date)
        FROM station_boots
        QUALIFY row_number() OVER (
            PARTITION BY station_id ORDER BY received_at DESC, {_LATEST}
        ) = 1
    """,
}
"""Views over the base views, in creation order."""


QUARTER_HOUR_LOAD_OF_EPOCH = """(
    SELECT * FROM quarter_hour_load_revisions WHERE _epoch = $epoch
    QUALIFY row_number() OVER (
        PARTITION BY site_id, interval_start ORDER BY revision DESC, as_of DESC, _offset DESC
    ) = 1)"""
"""A FROM-clause source like ``quarter_hour_load`` for one broker epoch (``$epoch``)."""


def base_view_name(topic: str) -> str:
    """The base view of ``topic`` (``BASE_VIEWS``, else the name with ``_`` for ``.``)."""
    return BASE_VIEWS.get(topic, topic.replace(".", "_"))


def view_names() -> list[str]:
    """Every view the catalog defines: the base views of all topics, then the derived ones."""
    return [base_view_name(t.name) for t in topics.ALL] + list(DERIVED_VIEWS)


def duckdb_type(data_type: pa.DataType) -> str:
    """The DuckDB SQL type of an Arrow type used in the topic schemas.

    >>> duckdb_type(pa.list_(pa.struct([("value", pa.float64())])))
    'STRUCT("value" DOUBLE)[]'
    """
    if pa.types.is_list(data_type):
        return f"{duckdb_type(data_type.value_type)}[]"
    if pa.types.is_struct(data_type):
        members = ", ".join(
            f"{_identifier(data_type.field(i).name)} {duckdb_type(data_type.field(i).type)}"
            for i in range(data_type.num_fields)
        )
        return f"STRUCT({members})"
    if pa.types.is_timestamp(data_type):
        return "TIMESTAMPTZ" if data_type.tz is not None else "TIMESTAMP"
    scalars = {
        pa.string(): "VARCHAR",
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    if data_type in scalars:
        return scalars[data_type]
    raise TypeError(f"no DuckDB type for Arrow {data_type}; known: {', '.join(scalars.values())}")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def committed_files(data_dir: Path, topic: str, days: Days | None = None) -> list[str]:
    """The files of ``topic`` that its table's current version holds (``warehouse.table``).

    With ``days`` (first, last; inclusive) and a dated topic, only the files of those
    ``date`` partitions (``TopicTable.listing``). A warehouse from before the tables, not
    yet written to since, has no table log: its files are read as they lie.
    """
    return _listing(data_dir, topic, days).files


def _listing(data_dir: Path, topic: str, days: Days | None) -> Listing:
    root = layout.topic_dir(data_dir.resolve(), topic)
    table = TopicTable(root, topic_schema(topic))
    if table.exists():
        return table.listing(days if event_time_field(topic) is not None else None)
    found = [str(root / "date=*" / "*.parquet")] if layout.has_files(data_dir, topic) else []
    return Listing(found, exactly_once=False, readings_distinct=False)


def base_view_sql(data_dir: Path, topic: str, days: Days | None = None) -> str:
    """The SELECT behind ``topic``'s base view: typed columns, its files, every record once.

    A table the fenced sink created holds every record once (``TopicTable.exactly_once``),
    and its files are read as they are; anything else (files from before the tables, a
    table that adopted them) keeps one row per ``(_epoch, _partition, _offset)``. With
    ``days``, only the files of those days (``committed_files``).
    """
    schema = topic_schema(topic)
    dated = event_time_field(topic) is not None
    columns = [f"CAST(NULL AS {duckdb_type(f.type)}) AS {_identifier(f.name)}" for f in schema]
    if dated:
        columns.append("CAST(NULL AS DATE) AS date")
    source = f"SELECT {', '.join(columns)} WHERE false"
    listing = _listing(data_dir, topic, days)
    files = listing.files
    if files:
        # The registry's date=current folder is not a date: no hive columns for it.
        hive = "true, hive_types = {'date': DATE}" if dated else "false"
        listed = ", ".join(_literal(f) for f in files)
        source += (
            f" UNION ALL BY NAME SELECT * FROM read_parquet([{listed}], "
            f"hive_partitioning = {hive}, union_by_name = true)"
        )
    if listing.exactly_once:
        return f"SELECT * FROM ({source})"
    key = ("date, " if dated else "") + "_epoch, _partition, _offset"
    return f"SELECT * FROM ({source}) QUALIFY row_number() OVER (PARTITION BY {key}) = 1"


def create_views(
    connection: duckdb.DuckDBPyConnection, data_dir: Path, days: Days | None = None
) -> list[str]:
    """Create (or replace) every view on ``connection``, in one transaction; their names.

    With ``days``, the dated topics' views read only the files of those days.
    """
    connection.execute("BEGIN")
    try:
        for topic in topics.ALL:
            name = base_view_name(topic.name)
            sql = base_view_sql(data_dir, topic.name, days)
            connection.execute(f"CREATE OR REPLACE VIEW {_identifier(name)} AS {sql}")
        samples = TopicTable(
            layout.topic_dir(data_dir.resolve(), topics.METER_SAMPLES.name),
            topic_schema(topics.METER_SAMPLES.name),
        )
        distinct = samples.readings_distinct()
        for name, sql in DERIVED_VIEWS.items():
            if name == "meter_readings" and distinct:
                sql = METER_READINGS_OF_DISTINCT_SAMPLES
            connection.execute(f"CREATE OR REPLACE VIEW {_identifier(name)} AS {sql}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return view_names()


def refresh_views(data_dir: Path) -> list[str]:
    """Create or replace every view in ``<data_dir>/gridstream.duckdb``; their names.

    Idempotent. Raises ``duckdb.IOException`` when another process holds the file.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(layout.catalog_path(data_dir))) as connection:
        return create_views(connection, data_dir)


def month_days(month: str) -> Days:
    """The UTC dates whose files can hold a ``YYYY-MM`` month of any time zone.

    A site's month starts and ends up to 14 hours off UTC midnight: a day either side.

    >>> month_days("2026-02")
    (datetime.date(2026, 1, 31), datetime.date(2026, 3, 1))
    """
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise QueryError(f"month {month!r}: expected YYYY-MM") from None
    following = (first + timedelta(days=32)).replace(day=1)
    return first - timedelta(days=1), following


def open_catalog(data_dir: Path, days: Days | None = None) -> duckdb.DuckDBPyConnection:
    """A connection for reading: views refreshed, file opened read-only, time zone UTC.

    When another process holds the catalog file (a DuckDB shell, a concurrent refresh),
    the views are built in an in-memory database instead, over the same files. With
    ``days`` (first, last; inclusive), always in memory: the dated topics' views read only
    the files of those days (a month's report does not open the rest of the history), and
    the catalog file keeps the views over everything.
    """
    data_dir = Path(data_dir)
    if days is not None:
        connection = duckdb.connect(":memory:")
        create_views(connection, data_dir, days)
    else:
        try:
            refresh_views(data_dir)
            connection = duckdb.connect(str(layout.catalog_path(data_dir)), read_only=True)
        except duckdb.IOException:
            connection = duckdb.connect(":memory:")
            create_views(connection, data_dir)
    connection.execute("SET TimeZone = 'UTC'")
    return connection
