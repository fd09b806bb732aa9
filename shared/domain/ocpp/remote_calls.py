"""Calls the CSMS starts (RemoteStart, Reset, ...): the pending call and how it ends.

The CALL goes out with ``post_to_connection``; the pile's CALLRESULT or CALLERROR
arrives as a later frame, in another invocation, and is matched by the pile and the
message id we minted. A call not answered within ``CALL_TIMEOUT`` is timed out by
whoever reads it next (housekeeping, the operator API); the item itself is kept for a
week (TTL) so an operator can still see what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.ocpp.versions import OcppVersion

CALL_TIMEOUT = timedelta(seconds=60)
PENDING_CALL_RETENTION = timedelta(days=7)


class CallStatus(StrEnum):
    PENDING = "pending"  # sent, no answer yet
    ANSWERED = "answered"  # CALLRESULT, schema-valid
    REJECTED = "rejected"  # CALLERROR from the pile
    INVALID_RESPONSE = "invalid_response"  # CALLRESULT that fails the response schema
    UNDELIVERED = "undelivered"  # the pile's connection was gone
    TIMED_OUT = "timed_out"


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A CSMS-initiated CALL and, once it came, the pile's answer (JSON text)."""

    pile_id: str
    unique_id: str
    action: str
    version: OcppVersion
    operator_id: str
    connection_id: str
    request_json: str
    status: CallStatus
    created_at: datetime
    timeout_at: datetime
    expires_at: int  # epoch seconds (TTL)
    response_json: str | None = None
    error_code: str | None = None
    error_description: str | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallAnswer:
    """How a pending call ended: its new status and what the pile said."""

    status: CallStatus
    answered_at: datetime
    response_json: str | None = None
    error_code: str | None = None
    error_description: str | None = None
