"""Charging sessions: list by pile or status, one session with its live figures, and its
meter values for the trend chart. Another operator's session answers 404."""

from __future__ import annotations

from typing import Any

from functions.operator_api import wiring
from functions.operator_api.routes.common import caller, dump, page_body, page_request, path_id
from functions.operator_api.routes.session_models import (
    SESSION_ID,
    MeterSamplePage,
    MeterSampleView,
    MeterValuesQuery,
    SessionDetailView,
    SessionPage,
    SessionQuery,
    SessionView,
)
from shared.domain.base_data import PageRequest
from shared.domain.errors import FeatureUnavailable
from shared.domain.sessions import SessionStatus
from shared.http_api import DocumentedRouter, parse_query
from shared.services import sessions
from shared.services.sessions import SessionStore

router = DocumentedRouter("sessions")
ONE = "/operator/sessions/<session_id>"
IDS = {"session_id": SESSION_ID}


def session_store() -> SessionStore:
    """The session store the wiring builds (``wiring.sessions``; ``session_lookup`` builds
    the same store for remote stops).

    Raises: FeatureUnavailable when the wiring builds none.
    """
    for name in ("sessions", "session_lookup"):
        build = getattr(wiring, name, None)
        store = build() if callable(build) else None
        if isinstance(store, SessionStore):
            return store
    raise FeatureUnavailable("charging sessions are not wired into this function")


@router.operation(
    "GET",
    "/operator/sessions",
    "Charging sessions, newest first: of one pile, or of one status (default active)",
    query=SessionQuery,
    response=SessionPage,
    errors=(404,),
)
def list_sessions() -> dict[str, Any]:
    query = parse_query(router.current_event, SessionQuery)
    page = sessions.list_sessions(
        session_store(),
        caller(router),
        operator_id=query.operator_id,
        pile_id=query.pile_id,
        status=SessionStatus(query.status) if query.status else None,
        page=page_request(query),
    )
    return page_body(page, SessionView.of)


@router.operation(
    "GET",
    ONE,
    "One session with its live figures (energy so far, newest sample)",
    response=SessionDetailView,
    path_patterns=IDS,
    errors=(404,),
)
def get_session(session_id: str) -> dict[str, Any]:
    session_id = path_id(session_id, SESSION_ID, "session")
    figures = sessions.get_session(session_store(), caller(router), session_id)
    return dump(SessionDetailView.of_figures(figures))


@router.operation(
    "GET",
    f"{ONE}/meter-values",
    "A session's meter values in time order (energy, power, voltage, current, SoC)",
    query=MeterValuesQuery,
    response=MeterSamplePage,
    path_patterns=IDS,
    errors=(404,),
)
def list_meter_values(session_id: str) -> dict[str, Any]:
    session_id = path_id(session_id, SESSION_ID, "session")
    query = parse_query(router.current_event, MeterValuesQuery)
    page = sessions.list_meter_values(
        session_store(),
        caller(router),
        session_id,
        PageRequest(limit=query.limit, next_token=query.next_token),
        now=wiring.clock(),
    )
    return page_body(page, MeterSampleView.of)
