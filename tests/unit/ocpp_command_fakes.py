"""In-memory fakes of the CSMS-call and pile-event ports (shared/services/ocpp/ports.py),
behaving like the DynamoDB adapters: conditional transitions, open-call index by
``timeout_at``, newest-first pages."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.domain.errors import InvalidInput
from shared.domain.ocpp.notifications import MaintenanceStatus, PileEvent
from shared.domain.ocpp.remote_calls import CallAnswer, CallStatus, PendingCall, message_id_floor
from shared.domain.presence import ConnectionGone


@dataclass
class FakePendingCalls:
    calls: dict[tuple[str, str], PendingCall] = field(default_factory=dict)

    def create(self, call: PendingCall) -> None:
        assert (call.pile_id, call.unique_id) not in self.calls
        self.calls[(call.pile_id, call.unique_id)] = call

    def get(self, pile_id: str, unique_id: str) -> PendingCall | None:
        return self.calls.get((pile_id, unique_id))

    def _move(self, pile_id: str, unique_id: str, expected: CallStatus, **changes: object) -> bool:
        call = self.calls.get((pile_id, unique_id))
        if call is None or call.status is not expected:
            return False
        self.calls[(pile_id, unique_id)] = replace(call, **changes)  # type: ignore[arg-type]
        return True

    def finish(self, pile_id: str, unique_id: str, answer: CallAnswer) -> bool:
        return self._move(
            pile_id,
            unique_id,
            CallStatus.PENDING,
            status=answer.status,
            response_json=answer.response_json,
            error_code=answer.error_code,
            error_description=answer.error_description,
            answered_at=answer.answered_at,
        )

    def mark_undelivered(self, pile_id: str, unique_id: str, deliver_by: datetime) -> bool:
        return self._move(
            pile_id,
            unique_id,
            CallStatus.PENDING,
            status=CallStatus.UNDELIVERED,
            timeout_at=deliver_by,
        )

    def claim_delivery(
        self, pile_id: str, unique_id: str, connection_id: str, timeout_at: datetime
    ) -> bool:
        return self._move(
            pile_id,
            unique_id,
            CallStatus.UNDELIVERED,
            status=CallStatus.PENDING,
            connection_id=connection_id,
            timeout_at=timeout_at,
        )

    def time_out(
        self, pile_id: str, unique_id: str, expected: CallStatus, now: datetime, reason: str
    ) -> bool:
        return self._move(
            pile_id,
            unique_id,
            expected,
            status=CallStatus.TIMED_OUT,
            timed_out_at=now,
            error_description=reason,
        )

    def queued_for_pile(self, pile_id: str, since: datetime) -> list[PendingCall]:
        floor = message_id_floor(since)
        return sorted(
            (
                call
                for (pile, unique_id), call in self.calls.items()
                if pile == pile_id and unique_id >= floor and call.status is CallStatus.UNDELIVERED
            ),
            key=lambda call: call.unique_id,
        )

    def open_calls(
        self, status: CallStatus, *, due_by: datetime | None, limit: int
    ) -> list[PendingCall]:
        found = [
            call
            for call in self.calls.values()
            if call.status is status and (due_by is None or call.timeout_at <= due_by)
        ]
        return sorted(found, key=lambda call: call.timeout_at)[:limit]

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[PendingCall], str | None]:
        ids = sorted((uid for pile, uid in self.calls if pile == pile_id), reverse=True)
        if next_token is not None:
            if not next_token.startswith("after:"):
                raise InvalidInput("next_token is not a token from this list", field="next_token")
            ids = [uid for uid in ids if uid < next_token.removeprefix("after:")]
        page = ids[:limit]
        token = f"after:{page[-1]}" if len(ids) > limit else None
        return [self.calls[(pile_id, uid)] for uid in page], token


@dataclass
class FakePileEvents:
    events: list[PileEvent] = field(default_factory=list)
    statuses: dict[tuple[str, str], MaintenanceStatus] = field(default_factory=dict)

    def record(self, event: PileEvent) -> None:
        self.events.append(event)

    def set_maintenance_status(self, pile_id: str, status: MaintenanceStatus) -> None:
        self.statuses[(pile_id, status.kind.value)] = status

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[PileEvent], str | None]:
        mine = [event for event in reversed(self.events) if event.pile_id == pile_id]
        return mine[:limit], None

    def maintenance(self, pile_id: str) -> list[MaintenanceStatus]:
        return [status for (pile, _), status in sorted(self.statuses.items()) if pile == pile_id]


@dataclass
class FakeSender:
    """Posts frames to a list; ``gone`` names connections that answer 410."""

    is_gone: bool = False
    gone: set[str] = field(default_factory=set)
    sent: list[tuple[str, str]] = field(default_factory=list)

    def post(self, connection_id: str, text: str) -> None:
        if self.is_gone or connection_id in self.gone:
            raise ConnectionGone("the connection is gone", connection_id=connection_id)
        self.sent.append((connection_id, text))
