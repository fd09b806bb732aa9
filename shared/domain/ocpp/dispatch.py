"""The dispatch model: what every action handler receives, and the table's key.

The router looks a CALL up by ``(version, action)``; adding an action (issue 4) means
adding one entry to the table in ``shared/services/ocpp/dispatch.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection

ActionKey = tuple[OcppVersion, str]


@dataclass(frozen=True, slots=True)
class CallContext:
    """A schema-valid CALL from a pile, with the connection it came on."""

    connection: Connection
    message_id: str
    action: str
    received_at: datetime

    @property
    def version(self) -> OcppVersion:
        return self.connection.version

    @property
    def pile_id(self) -> str:
        return self.connection.pile_id

    @property
    def operator_id(self) -> str:
        return self.connection.operator_id
