"""OCPP 2.1 periodic event streams: monitors, open/close, SEND data -> meter readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.ocpp import (
    Accepted,
    Rejected,
    SendAccepted,
    SendFrame,
    StationState,
    handle_send,
    parse_frame,
)
from connectors.ocpp.sessions import Monitor, Stream, StreamMonitors
from gridstream.records import MeterSample, Reading

BASETIME = "2026-01-15T17:00:00Z"
T0 = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)


def monitor_report(monitor_id=7, variable="Power", component="EVSE", evse=None, instance=None):
    variable_type = {"name": variable} | ({"instance": instance} if instance else {})
    component_type = {"name": component} | ({"evse": evse} if evse else {})
    return {
        "requestId": 1,
        "seqNo": 0,
        "generatedAt": "2026-01-15T16:59:00Z",
        "monitor": [
            {
                "component": component_type,
                "variable": variable_type,
                "variableMonitoring": [
                    {"id": monitor_id, "transaction": False, "value": 5, "type": "Periodic",
                     "severity": 8, "eventNotificationType": "CustomMonitor"}
                ],
            }
        ],
    }  # fmt: skip


def open_stream(stream_id=3, monitor_id=7):
    return {
        "constantStreamData": {
            "id": stream_id,
            "variableMonitoringId": monitor_id,
            "params": {"interval": 5, "values": 2},
        }
    }


def send_frame(stream_id=3, data=None, basetime=BASETIME, message_id="s-1"):
    payload = {"id": stream_id, "pending": 0, "basetime": basetime,
               "data": data or [{"t": 0, "v": "7400"}, {"t": 5.5, "v": "7360.5"}]}  # fmt: skip
    return json.dumps([6, message_id, "NotifyPeriodicEventStream", payload])


@pytest.fixture
def send(make_ctx):
    """Read one SEND frame text the way the server does; returns the value it publishes."""

    def run(raw: str, station: StationState, source: str = "ocpp2.1"):
        frame = parse_frame(raw, source)
        assert isinstance(frame, SendFrame), frame
        return handle_send(frame, make_ctx(source, frame.message_id, station))

    return run


@pytest.fixture
def streaming(run_call) -> StationState:
    """A 2.1 station that reported monitor 7 (EVSE 1 Power) and opened stream 3 on it."""
    station = StationState()
    evse = {"id": 1, "connectorId": 2}
    report = run_call(
        "NotifyMonitoringReport", monitor_report(evse=evse), "ocpp2.1", station=station
    )
    opened = run_call("OpenPeriodicEventStream", open_stream(), "ocpp2.1", station=station)
    assert report == Accepted((), {})
    assert opened == Accepted((), {"status": "Accepted"})
    return station


def power(value: float) -> Reading:
    return Reading(measurand="Power.Active.Import", value=value, unit="W",
                   context="Sample.Periodic")  # fmt: skip


def test_stream_values_become_readings_at_basetime_plus_offset(send, streaming, now):
    result = send(send_frame(), streaming)
    assert result == SendAccepted(
        records=tuple(
            MeterSample(ts=ts, station_id="CS-1", site_id="SITE-1", evse_id=1, connector_id=2,
                        source="ocpp2.1", message_id="s-1", received_at=now,
                        readings=(power(value),))
            for ts, value in (
                (T0, 7400.0),
                (datetime(2026, 1, 15, 17, 0, 5, 500000, tzinfo=UTC), 7360.5),  # t = 5.5 s
            )
        )
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "instance", "component", "measurand", "unit", "value", "phase", "location"),
    [
        ("ACCurrent", "L2", "EVSE", "Current.Import", "A", 16.0, "L2", None),
        ("acvoltage", None, "EVSE", "Voltage", "V", 230.0, None, None),  # case-insensitive
        ("DCVoltage", None, "EVSE", "Voltage", "V", 230.0, None, None),
        ("Frequency", None, "ChargingStation", "Frequency", "Hz", 50.0, None, None),
        ("StateOfCharge", None, "ConnectedEV", "SoC", "%", 63.0, None, "EV"),
        ("SoC", "Actual", "ConnectedEV", "SoC", "%", 63.0, None, "EV"),  # not a phase
    ],
)
def test_well_known_variables_map_to_measurands_and_units(
    run_call, send, variable, instance, component, measurand, unit, value, phase, location
):
    station = StationState()
    report = monitor_report(variable=variable, component=component, instance=instance)
    run_call("NotifyMonitoringReport", report, "ocpp2.1", station=station)
    run_call("OpenPeriodicEventStream", open_stream(), "ocpp2.1", station=station)

    result = send(send_frame(data=[{"t": 0, "v": str(value)}]), station)

    (sample,) = result.records
    assert sample.readings == (
        Reading(measurand=measurand, value=value, unit=unit, phase=phase, location=location,
                context="Sample.Periodic"),
    )  # fmt: skip
    assert sample.evse_id is None  # the component named no EVSE


def test_unknown_variable_keeps_the_values_under_the_monitor_id_without_a_unit(run_call, send):
    station = StationState()
    run_call("NotifyMonitoringReport", monitor_report(variable="FanSpeed"), "ocpp2.1",
             station=station)  # fmt: skip
    run_call("OpenPeriodicEventStream", open_stream(), "ocpp2.1", station=station)
    (sample,) = send(send_frame(data=[{"t": 0, "v": "1200"}]), station).records
    # Nothing lost: consumers skip unit "" (README); the value waits for whoever knows.
    assert sample.readings == (
        Reading(measurand="PeriodicEventStream.7", value=1200.0, unit="",
                context="Sample.Periodic"),
    )  # fmt: skip


def test_monitor_never_reported_still_gives_readings(run_call, send):
    station = StationState()
    run_call("OpenPeriodicEventStream", open_stream(monitor_id=9), "ocpp2.1", station=station)
    (sample,) = send(send_frame(data=[{"t": 0, "v": "1"}]), station).records
    assert (sample.readings[0].measurand, sample.readings[0].unit, sample.evse_id) == (
        "PeriodicEventStream.9",
        "",
        None,
    )


def test_stream_never_opened_here_is_kept_under_its_stream_id(send):
    # After a connector restart the memory is gone; the values are still kept.
    (sample,) = send(send_frame(stream_id=4, data=[{"t": 0, "v": "1"}]), StationState()).records
    assert sample.readings[0].measurand == "PeriodicEventStream.stream-4"


def test_closed_stream_is_forgotten(run_call, send, streaming):
    assert run_call("ClosePeriodicEventStream", {"id": 3}, "ocpp2.1", station=streaming) == (
        Accepted((), {})
    )
    (sample,) = send(send_frame(data=[{"t": 0, "v": "1"}]), streaming).records
    assert sample.readings[0].measurand == "PeriodicEventStream.stream-3"


def test_values_at_the_same_instant_share_one_sample(send, streaming):
    data = [{"t": 0, "v": "1"}, {"t": 0, "v": "2"}, {"t": 1, "v": "3"}]
    first, second = send(send_frame(data=data), streaming).records
    assert [r.value for r in first.readings] == [1.0, 2.0]
    assert [r.value for r in second.readings] == [3.0]


@pytest.mark.parametrize(
    ("data", "basetime", "detail"),
    [
        ([{"t": 0, "v": "on"}], BASETIME, "data[0].v: 'on' is not a decimal number"),
        ([{"t": 0, "v": "1e400"}], BASETIME, "data[0].v: '1e400' is not a finite number"),
        ([{"t": 1e300, "v": "1"}], BASETIME, "data[0].t: 1e+300 s is out of range"),
        ([{"t": 0, "v": "1"}], "yesterday", "basetime: 'yesterday' is not an ISO 8601 date-time"),
    ],
)
def test_unreadable_values_reject_the_send_without_an_answer(
    send, streaming, data, basetime, detail
):
    raw = send_frame(data=data, basetime=basetime)
    assert send(raw, streaming) == Rejected("bad_value", detail, raw, None, "s-1")


def test_send_failing_the_schema_is_a_dead_letter_without_an_answer(send):
    raw = json.dumps([6, "s-2", "NotifyPeriodicEventStream", {"id": 3, "pending": 0, "data": []}])
    rejected = send(raw, StationState())
    assert (rejected.reason_code, rejected.ocpp_error_code, rejected.message_id) == (
        "schema_violation",
        None,
        "s-2",
    )
    assert rejected.error_frame() is None


def test_send_of_an_unknown_action_stays_a_dead_letter(send):
    raw = json.dumps([6, "s-3", "NotifyEvent", {}])
    assert send(raw, StationState()) == Rejected(
        "unknown_action", "SEND 'NotifyEvent' is not handled", raw, None, "s-3"
    )


def test_monitors_are_learnt_from_2_0_1_reports_too(run_call):
    station = StationState()
    report = monitor_report(evse={"id": 2})
    del report["monitor"][0]["variableMonitoring"][0]["eventNotificationType"]  # 2.1 only
    assert run_call("NotifyMonitoringReport", report, "ocpp2.0.1", station=station) == (
        Accepted((), {})
    )
    monitor = station.monitors.monitor(7)
    assert (monitor.component, monitor.variable, monitor.evse_id) == ("EVSE", "Power", 2)


def test_monitor_and_stream_memory_forgets_the_oldest_beyond_its_limit():
    memory = StreamMonitors(remember_monitors=2, remember_streams=1)
    for monitor_id in (1, 2, 3):
        memory.note_monitor(monitor_id, Monitor(component="EVSE", variable="Power"))
    memory.open_stream(1, Stream(variable_monitoring_id=1))
    memory.open_stream(2, Stream(variable_monitoring_id=2))
    assert [memory.monitor(i) is not None for i in (1, 2, 3)] == [False, True, True]
    assert (memory.stream(1), memory.stream(2)) == (None, Stream(variable_monitoring_id=2))
