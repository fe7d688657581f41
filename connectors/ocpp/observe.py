"""What the OCPP server tells the metrics about each frame (``gridstream.metrics``).

The server times each frame from the moment it is read until its answer is sent and calls
``observe_frame``; the action label is read off the frame's first fields here rather than
passed out of the handler, so that the handler stays as it is. Labels stay in a fixed set:
an action no version of OCPP defines is ``other``, whatever a station invents.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

from connectors.ocpp import v16, v21, v201
from connectors.ocpp.context import OcppVersion
from gridstream import metrics

#: ``[<type>, "<message id>", "<action>"`` at the start of an OCPP-J frame (CALL and 2.1
#: SEND have an action third; the answers do not, and only their type is used).
_HEAD: Final = re.compile(r'\s*\[\s*(\d)\s*,\s*"(?:[^"\\]|\\.)*"\s*,\s*"([A-Za-z0-9]{1,64})"')
_TYPE: Final = re.compile(r"\s*\[\s*(\d)\s*,")

#: Message types that carry no action, by their number (OCPP-J; 5 is 2.1's CALLRESULTERROR).
ANSWER_TYPES: Final = {"3": "CALLRESULT", "4": "CALLERROR", "5": "CALLRESULTERROR"}
#: Label of a frame whose head cannot be read (not a JSON array of the OCPP-J shape).
MALFORMED: Final = "malformed"


@functools.cache
def _actions(version: OcppVersion) -> frozenset[str]:
    if version == "ocpp1.6":
        return v16.ACTIONS
    if version == "ocpp2.0.1":
        return v201.ACTIONS
    return v21.ACTIONS | v201.ACTIONS | v21.SENDS


def action_label(frame: str | bytes, version: OcppVersion) -> str:
    """The ``action`` label of a frame: its action if ``version`` defines it, else bounded.

    >>> action_label('[2, "19", "Heartbeat", {}]', "ocpp1.6")
    'Heartbeat'
    >>> action_label('[2, "19", "MakeCoffee", {}]', "ocpp1.6")
    'other'
    >>> action_label('[3, "19", {}]', "ocpp2.0.1"), action_label("hello", "ocpp2.1")
    ('CALLRESULT', 'malformed')
    """
    text = frame if isinstance(frame, str) else frame[:256].decode("utf-8", "replace")
    head = _HEAD.match(text)
    if head is not None and head.group(1) in ("2", "6"):
        return metrics.bounded(head.group(2), _actions(version))
    kind = _TYPE.match(text)
    if kind is not None and kind.group(1) in ANSWER_TYPES:
        return ANSWER_TYPES[kind.group(1)]
    return MALFORMED if kind is None else metrics.OTHER


def observe_frame(version: OcppVersion, frame: str | bytes, seconds: float) -> None:
    """Count one frame of a station speaking ``version``, answered ``seconds`` after it was read.

    A SEND is never answered: its ``seconds`` is the time it took to keep its records.
    """
    counter, histogram = _children(version, action_label(frame, version))
    counter.inc()
    histogram.observe(seconds)


def count_frame(version: OcppVersion, frame: str | bytes) -> None:
    """Count one frame of a station speaking ``version`` whose answer is timed elsewhere.

    The proxy: the CSMS answers, and ``observe_answer`` times it when the answer passes.
    """
    _children(version, action_label(frame, version))[0].inc()


def observe_answer(version: OcppVersion, action: str, seconds: float) -> None:
    """Time the answer to a station's ``action``, ``seconds`` after the station sent it."""
    _children(version, metrics.bounded(action, _actions(version)))[1].observe(seconds)


@functools.cache  # bounded: versions x labels; saves the label lookup on every frame
def _children(version: OcppVersion, action: str) -> tuple[Any, Any]:
    return metrics.MESSAGES_IN.labels(version, action), metrics.ANSWER_SECONDS.labels(
        version, action
    )
