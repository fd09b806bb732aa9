"""Calls the CSMS starts (RemoteStart, Reset, ...): the pending call and how it ends.

The CALL goes out with ``post_to_connection``; the pile's CALLRESULT or CALLERROR
arrives as a later frame, in another invocation, and is matched by the pile and the
message id we minted. Each call ends in exactly one final state:

    pending ──answer──> answered | rejected | invalid_response
       │  └─no answer within CALL_TIMEOUT (housekeeping)──> timed_out
       └─connection gone──> undelivered
    undelivered ──pile back (its boot, or the next minute's housekeeping)──> pending
       └─not back within the delivery window (housekeeping)──> timed_out

A call to a pile that is offline starts ``undelivered``: piles reconnect routinely (API
Gateway cuts every socket after 2 hours), so the call waits for the pile instead of being
refused, and ends reported as ``timed_out`` if the pile does not come back in time. The
item is kept for a week (TTL) so an operator can still see what happened.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.domain.ids import NewId
from shared.domain.ocpp.versions import OcppVersion

CALL_TIMEOUT = timedelta(seconds=60)
# How long a call waits for an offline pile: long enough for a reboot or a reconnect
# after API Gateway's 2-hour cut, short enough that a late Reset or RemoteStart does not
# surprise anyone.
DELIVERY_WINDOW = timedelta(minutes=10)
PENDING_CALL_RETENTION = timedelta(days=7)

NOT_ANSWERED = "no answer from the pile within 60 s"
NOT_DELIVERED = "not delivered: the pile did not come back online in time"


class CallStatus(StrEnum):
    PENDING = "pending"  # sent, no answer yet
    ANSWERED = "answered"  # CALLRESULT, schema-valid
    REJECTED = "rejected"  # CALLERROR from the pile
    INVALID_RESPONSE = "invalid_response"  # CALLRESULT that fails the response schema
    UNDELIVERED = "undelivered"  # waiting for the pile to come back online
    TIMED_OUT = "timed_out"  # no answer, or never delivered, in time

    @property
    def is_open(self) -> bool:
        """True while the call can still change (sent and waiting, or waiting to be sent)."""
        return self in (CallStatus.PENDING, CallStatus.UNDELIVERED)


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A CSMS-initiated CALL and, once it came, the pile's answer (JSON text).

    ``timeout_at`` is when an open call is timed out: the answer deadline of a pending
    call, the delivery deadline of an undelivered one. ``connection_id`` is the
    connection the CALL was posted on (None while it never was).
    """

    pile_id: str
    unique_id: str
    action: str
    version: OcppVersion
    operator_id: str
    connection_id: str | None
    request_json: str
    status: CallStatus
    created_at: datetime
    timeout_at: datetime
    expires_at: int  # epoch seconds (TTL)
    response_json: str | None = None
    error_code: str | None = None
    error_description: str | None = None
    answered_at: datetime | None = None
    timed_out_at: datetime | None = None
    requested_by: str | None = None  # the staff member's username; None for the platform


@dataclass(frozen=True, slots=True)
class CallAnswer:
    """How a pending call ended: its new status and what the pile said."""

    status: CallStatus
    answered_at: datetime
    response_json: str | None = None
    error_code: str | None = None
    error_description: str | None = None


def message_id_floor(at: datetime) -> str:
    """The prefix of the ids of calls created at ``at`` (``yymmddHHMMSSmmm``): every call
    created at or after ``at`` has an id that sorts at or above it."""
    stamp = at.astimezone(UTC)
    return f"{stamp:%y%m%d%H%M%S}{stamp.microsecond // 1000:03d}"


def call_message_id(now: datetime, new_id: NewId) -> str:
    """The message id of a new CALL: ``yymmddHHMMSSmmm-<20 hex>``, 36 characters, the
    OCPP maximum. Ids of one pile sort by creation time, so the newest calls are one
    Query away (``CALL#`` sort keys, newest first)."""
    return new_id(message_id_floor(now))


def numeric_id(unique_id: str) -> int:
    """A positive 31-bit integer derived from a call's message id, for the integer ids
    OCPP wants beside it (2.0.1 ``requestId``/``remoteStartId``, reservation ids): stable
    for the call, so a retried delivery sends the same id."""
    digest = hashlib.sha256(unique_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1
