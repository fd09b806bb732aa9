"""The OCPP versions we speak, named by their WebSocket sub-protocol."""

from __future__ import annotations

from enum import StrEnum


class OcppVersion(StrEnum):
    """Sub-protocol tokens of RFC 6455 negotiation (OCPP-J 1.6 §3.1.2, 2.0.1 Part 4 §3.1.2)."""

    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"

    @property
    def schema_folder(self) -> str:
        """Folder of the official JSON schemas in the ``ocpp`` package (``v16`` / ``v201``)."""
        return "v16" if self is OcppVersion.V16 else "v201"


def version_of(protocol: str) -> OcppVersion | None:
    """The OCPP version a pile's registered protocol names, or None (e.g. ``modbus``)."""
    try:
        return OcppVersion(protocol)
    except ValueError:
        return None
