"""The OCPI connector's public surface, and its docstring examples."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import connectors.ocpi
from connectors.ocpi import dimensions, handshake, locations, partners, server, sessions, wire


def test_the_public_surface_is_what_all_says() -> None:
    assert sorted(connectors.ocpi.__all__) == sorted(
        [
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
    )
    for name in connectors.ocpi.__all__:
        assert getattr(connectors.ocpi, name) is not None


@pytest.mark.parametrize(
    "module",
    [dimensions, handshake, locations, partners, server, sessions, wire],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module: ModuleType) -> None:
    failed, attempted = doctest.testmod(module, verbose=False)
    assert attempted > 0
    assert failed == 0
