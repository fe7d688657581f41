"""Grid connectors: DSO and TSO documents in, canonical ``GridSignal`` records out.

Pure parsers, one module per source (no I/O, no clock; STYLE.md rule 17), each returning
``Parsed(signals, rejected)``: ``entsoe`` (ENTSO-E A44/A85 XML), ``openadr3`` (OpenADR 3
events; ``openadr3_ven`` polls a VTN for them), ``tennet`` (TenneT
imbalance prices and regulation state), ``elia`` (Elia imbalance prices), ``p1`` (a site's
own meter, DSMR telegrams), ``signals_csv`` (generic CSV). ``formats`` detects a file's
format and dispatches; ``curves`` lays the points of a series on its intervals (curveType
A03 forward fill). The shell that reads files and publishes is the ``gridstream signals
import`` command.
"""

from connectors.grid.curves import CurveProblem, Slot, expand
from connectors.grid.elia import parse_records
from connectors.grid.entsoe import parse_document
from connectors.grid.formats import FORMATS, Format, detect_format, parse_as
from connectors.grid.openadr3 import event_signals, parse_events
from connectors.grid.p1 import parse_telegrams
from connectors.grid.result import Parsed, Rejected
from connectors.grid.signals_csv import parse_signals_csv
from connectors.grid.tennet import parse_imbalance_xml

__all__ = [
    "FORMATS",
    "CurveProblem",
    "Format",
    "Parsed",
    "Rejected",
    "Slot",
    "detect_format",
    "event_signals",
    "expand",
    "parse_as",
    "parse_document",
    "parse_events",
    "parse_imbalance_xml",
    "parse_records",
    "parse_signals_csv",
    "parse_telegrams",
]
