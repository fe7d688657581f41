"""The OCPI connector: an HTTP receiver for roaming partners (OCPI 2.2.1 and 2.3.0).

Sessions (PUT, PATCH) become meter samples and session events, CDRs (POST) ``OcpiCdr``
records, Locations (PUT, PATCH) ``OcpiEvse`` records, OCPI 3.0 draft MeterSamples meter
samples, and ChargingProfiles (the CPO's ActiveChargingProfile PUTs and results POSTed to
gridstream's response_url, gridstream being the SCSP/eMSP) ``ChargingLimit`` records;
versions, version details and the credentials handshake let a partner register.

Modules: ``wire`` (envelope, DateTime, results), ``dimensions`` (charging periods ->
readings), ``sessions``, ``cdrs``, ``locations``, ``meter_samples``, ``charging_profiles``
(pure), ``partners``
(tokens, the partners file), ``handshake`` (versions, credentials), ``openapi``, ``app``
(the Starlette shell), ``server`` (uvicorn, httpx).
"""

from connectors.ocpi.app import Counters, OcpiReceiver
from connectors.ocpi.partners import Partner, PartnerStore
from connectors.ocpi.server import OcpiServer, authorization, get_versions, serve_ocpi
from connectors.ocpi.wire import VERSIONS, PartyRef

__all__ = [
    "VERSIONS",
    "Counters",
    "OcpiReceiver",
    "OcpiServer",
    "Partner",
    "PartnerStore",
    "PartyRef",
    "authorization",
    "get_versions",
    "serve_ocpi",
]
