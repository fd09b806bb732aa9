"""Cards bound to the account, complaints about a gun (photo by pre-signed URL), and
reservations of a gun. Another driver's complaint or reservation answers 404."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from functions.driver_api import wiring
from functions.driver_api.models import (
    CARD_NO,
    COMPLAINT_ID,
    RESERVATION_ID,
    CardBody,
    CardList,
    CardView,
    ComplaintBody,
    ComplaintList,
    ComplaintView,
    ReservationBody,
    ReservationList,
    ReservationView,
)
from functions.driver_api.routes.common import driver, dump, path_id
from shared.domain.driver_care import Complaint, Reservation
from shared.domain.errors import UpstreamFailure
from shared.http_api import DocumentedRouter, created, no_content, parse_body

if TYPE_CHECKING:
    from shared.services.driver_care import BoundCard

router = DocumentedRouter("care")


def card_view(bound: BoundCard) -> CardView:
    return CardView(
        card_no=bound.card.card_no,
        status=bound.card.status.value,
        balance_fen=bound.balance_fen,
        bound_at=bound.bound_at,
    )


def complaint_view(complaint: Complaint, upload_url: str | None = None) -> ComplaintView:
    return ComplaintView(
        complaint_id=complaint.complaint_id,
        pile_id=complaint.pile_id,
        gun_no=complaint.gun_no,
        category=complaint.category,
        text=complaint.text,
        status=complaint.status,
        has_photo=complaint.photo_key is not None,
        created_at=complaint.created_at,
        updated_at=complaint.updated_at,
        upload_url=upload_url,
    )


def reservation_view(reservation: Reservation) -> ReservationView:
    return ReservationView(
        reservation_id=reservation.reservation_id,
        pile_id=reservation.pile_id,
        gun_no=reservation.gun_no,
        status=reservation.status(wiring.clock()),
        created_at=reservation.created_at,
        expires_at=reservation.expires_at,
    )


# --- cards -------------------------------------------------------------------------------


@router.operation(
    "GET", "/driver/cards", "The charging cards bound to the account", response=CardList
)
def cards() -> dict[str, Any]:
    from shared.services import driver_care

    who = driver(router)
    found = driver_care.list_cards(wiring.driver_cards(), wiring.ledger(), who.user_id)
    return dump(CardList(items=[card_view(bound) for bound in found]))


@router.operation(
    "POST",
    "/driver/cards",
    "Bind an operator's charging card (the card's phone must be the profile's phone)",
    status=201,
    body=CardBody,
    response=CardView,
    errors=(404, 409),
)
def bind_card() -> tuple[dict[str, Any], int]:
    from shared.services import driver_care

    who = driver(router)
    body = parse_body(router.current_event, CardBody)
    store = wiring.driver_cards()
    driver_care.bind_card(store, wiring.drivers(), who.user_id, body.card_no, wiring.clock())
    bound = next(
        (
            b
            for b in driver_care.list_cards(store, wiring.ledger(), who.user_id)
            if b.card.card_no == body.card_no
        ),
        None,
    )
    if bound is None:
        raise UpstreamFailure("the card binding could not be read back")
    return created(dump(card_view(bound)))


@router.operation(
    "DELETE",
    "/driver/cards/<card_no>",
    "Unbind a card from the account",
    status=204,
    path_patterns={"card_no": CARD_NO},
    errors=(404,),
)
def unbind_card(card_no: str) -> Response[Any]:
    from shared.services import driver_care

    who = driver(router)
    card_no = path_id(card_no, CARD_NO, "card")
    driver_care.unbind_card(wiring.driver_cards(), who.user_id, card_no)
    return no_content()


# --- complaints ----------------------------------------------------------------------------


@router.operation(
    "POST",
    "/driver/complaints",
    "Report a problem on a pile or gun; with photo_content_type, a URL to PUT the photo to",
    status=201,
    body=ComplaintBody,
    response=ComplaintView,
    errors=(404, 409),
)
def file_complaint() -> tuple[dict[str, Any], int]:
    from shared.services import driver_care

    who = driver(router)
    body = parse_body(router.current_event, ComplaintBody)
    complaint, url = driver_care.file_complaint(
        wiring.complaint_ports(),
        who.user_id,
        request_id=body.request_id,
        pile_id=body.pile_id,
        gun_no=body.gun_no,
        category=body.category,
        text=body.text,
        photo_content_type=body.photo_content_type,
    )
    return created(dump(complaint_view(complaint, url)))


@router.operation(
    "GET", "/driver/complaints", "The driver's complaints, newest first", response=ComplaintList
)
def complaints() -> dict[str, Any]:
    from shared.services import driver_care

    who = driver(router)
    found = driver_care.list_complaints(wiring.complaint_ports(), who.user_id)
    return dump(ComplaintList(items=[complaint_view(c) for c in found]))


@router.operation(
    "GET",
    "/driver/complaints/<complaint_id>",
    "One complaint and its progress",
    response=ComplaintView,
    path_patterns={"complaint_id": COMPLAINT_ID},
    errors=(404,),
)
def complaint(complaint_id: str) -> dict[str, Any]:
    from shared.services import driver_care

    who = driver(router)
    complaint_id = path_id(complaint_id, COMPLAINT_ID, "complaint")
    found = driver_care.get_complaint(wiring.complaint_ports(), who.user_id, complaint_id)
    return dump(complaint_view(found))


# --- reservations --------------------------------------------------------------------------


@router.operation(
    "POST",
    "/driver/reservations",
    "Reserve a free gun of a car pile for 5..30 minutes (ReserveNow to the pile)",
    status=201,
    body=ReservationBody,
    response=ReservationView,
    errors=(404, 409),
)
def reserve() -> tuple[dict[str, Any], int]:
    from shared.services import driver_care

    who = driver(router)
    body = parse_body(router.current_event, ReservationBody)
    reservation = driver_care.reserve_gun(
        wiring.reservation_ports(),
        who.user_id,
        request_id=body.request_id,
        pile_id=body.pile_id,
        gun_no=body.gun_no,
        minutes=body.minutes,
    )
    return created(dump(reservation_view(reservation)))


@router.operation(
    "GET",
    "/driver/reservations",
    "The driver's reservations, newest first",
    response=ReservationList,
)
def reservations() -> dict[str, Any]:
    from shared.services import driver_care

    who = driver(router)
    found = driver_care.list_reservations(wiring.reservation_ports(), who.user_id)
    return dump(ReservationList(items=[reservation_view(r) for r in found]))


@router.operation(
    "DELETE",
    "/driver/reservations/<reservation_id>",
    "Cancel a live reservation (CancelReservation to the pile)",
    response=ReservationView,
    path_patterns={"reservation_id": RESERVATION_ID},
    errors=(404, 409),
)
def cancel(reservation_id: str) -> dict[str, Any]:
    from shared.services import driver_care

    who = driver(router)
    reservation_id = path_id(reservation_id, RESERVATION_ID, "reservation")
    cancelled = driver_care.cancel_reservation(
        wiring.reservation_ports(), who.user_id, reservation_id
    )
    return dump(reservation_view(cancelled))
