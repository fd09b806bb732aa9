"""What a driver keeps besides charges: bound charging cards, complaints about a gun (with a
photo uploaded straight to S3), and reservations of a free gun.

- Cards: a driver binds an operator's card (RFID/IC) by its number when their profile phone
  is the phone the operator registered the card to; one driver per card.
- Complaints: a complaint is a fault of source ``driver`` in FaultsTable (the faults
  capability turns faults into work orders; its status is the progress the driver sees);
  the photo goes by a pre-signed S3 PUT URL (UploadsBucket, 15 minutes).
- Reservations: a gun of an OCPP car pile is held for the driver for 5..30 minutes (OCPP
  ReserveNow through the pile command service, reservation id = the call's numeric id); the
  gun refuses every other driver until it expires or is cancelled (CancelReservation).

Ids come from the client's request id (``cp-``/``rv-`` + a digest of user and request), so a
retried request names the same complaint or reservation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.domain.cards import Card, CardStatus, card_account_id
from shared.domain.clock import Clock
from shared.domain.driver_care import Complaint, Reservation
from shared.domain.drivers import GunRef, GunState, id_tag_of
from shared.domain.errors import ChargingError, Conflict, Forbidden, InvalidInput, NotFound
from shared.domain.ocpp.commands import CancelReservation, ReserveNow
from shared.domain.piles import PileKind
from shared.domain.tenancy import Principal, Role
from shared.services.driver_discovery import DiscoveryPorts, locate_gun
from shared.services.driver_login import DriverStore, get_profile

MAX_CARDS = 10
PHOTO_URL_TTL_S = 15 * 60
PHOTO_TYPES = {"image/jpeg": "jpg", "image/png": "png"}
CATEGORIES = frozenset({"cannot_start", "stopped_early", "wrong_bill", "damaged", "other"})
RESERVE_MINUTES = (5, 30)


def _derived_id(prefix: str, user_id: str, request_id: str) -> str:
    digest = hashlib.sha256(f"{user_id}|{request_id}".encode()).hexdigest()
    return f"{prefix}-{digest[:20]}"


# ---------------------------------------------------------------- cards


@dataclass(frozen=True, slots=True)
class BoundCard:
    card: Card
    balance_fen: int
    bound_at: datetime


class CardStore(Protocol):
    def card(self, card_no: str) -> Card | None: ...

    def bind(self, user_id: str, card_no: str, now: datetime) -> bool:
        """Bind if the card is bound to nobody; False when it is (to anyone)."""

    def binding_of(self, card_no: str) -> str | None:
        """The user id the card is bound to, or None."""

    def unbind(self, user_id: str, card_no: str) -> bool:
        """Remove the driver's binding; False when the card is not bound to them."""

    def bound_cards(self, user_id: str) -> list[tuple[str, datetime]]:
        """The driver's card numbers and when each was bound."""


class Balances(Protocol):
    def get_account(self, account_id: str) -> Any | None: ...


def _same_phone(a: str, b: str) -> bool:
    def digits(phone: str) -> str:
        bare = phone.strip().removeprefix("+")
        return bare.removeprefix("86") if len(bare) == 13 else bare

    return digits(a) == digits(b)


def bind_card(
    cards: CardStore, drivers: DriverStore, user_id: str, card_no: str, now: datetime
) -> Card:
    """Bind an operator's card to the driver.

    Raises:
        NotFound: no such card. Forbidden: the card is registered to another phone (or the
        driver has told us no phone). Conflict: frozen or cancelled, bound to someone else,
        or the driver has ``MAX_CARDS`` cards already.
    """
    card = cards.card(card_no)
    if card is None:
        raise NotFound("card not found", kind="card")
    driver = get_profile(drivers, user_id)
    if driver.phone is None or not _same_phone(driver.phone, card.phone):
        raise Forbidden("the card is registered to another phone: set yours in your profile")
    if card.status is not CardStatus.ACTIVE:
        raise Conflict("the card is not active", kind="card", state=card.status.value)
    holder = cards.binding_of(card_no)
    if holder == user_id:
        return card
    if holder is not None:
        raise Conflict("the card is bound to another account", kind="card")
    if len(cards.bound_cards(user_id)) >= MAX_CARDS:
        raise Conflict(f"at most {MAX_CARDS} cards per account", kind="card")
    if not cards.bind(user_id, card_no, now) and cards.binding_of(card_no) != user_id:
        raise Conflict("the card is bound to another account", kind="card")
    return card


def unbind_card(cards: CardStore, user_id: str, card_no: str) -> None:
    """Remove the driver's card. Raises: NotFound (not bound to this driver)."""
    if not cards.unbind(user_id, card_no):
        raise NotFound("card not found", kind="card")


def list_cards(cards: CardStore, balances: Balances, user_id: str) -> list[BoundCard]:
    """The driver's cards with their balances (a card wallet ``card:{no}``)."""
    found: list[BoundCard] = []
    for card_no, bound_at in cards.bound_cards(user_id):
        card = cards.card(card_no)
        if card is None:
            continue
        account = balances.get_account(card_account_id(card_no))
        balance = 0 if account is None else int(account.balance_fen)
        found.append(BoundCard(card=card, balance_fen=balance, bound_at=bound_at))
    return found


# ---------------------------------------------------------------- complaints


class ComplaintStore(Protocol):
    def create(self, complaint: Complaint) -> bool:
        """Store the complaint (fault + the driver's link) once; False if its id exists."""

    def get(self, complaint_id: str) -> Complaint | None: ...

    def of_driver(self, user_id: str, limit: int) -> list[Complaint]:
        """The driver's complaints, newest first."""


class PhotoUploads(Protocol):
    def put_url(self, key: str, content_type: str, expires_s: int) -> str:
        """A pre-signed PUT URL for ``key``."""


@dataclass(frozen=True, slots=True)
class ComplaintPorts:
    complaints: ComplaintStore
    uploads: PhotoUploads
    discovery: DiscoveryPorts
    clock: Clock


def file_complaint(
    ports: ComplaintPorts,
    user_id: str,
    *,
    request_id: str,
    pile_id: str,
    gun_no: int | None,
    category: str,
    text: str,
    photo_content_type: str | None,
) -> tuple[Complaint, str | None]:
    """Report a problem on a pile (or one gun); the complaint and, when a photo type was
    given, a pre-signed PUT URL for it. A retried request answers the same complaint.

    Raises:
        InvalidInput: bad category, text or photo type. NotFound: no such pile or gun.
        Conflict: the request id was used for another complaint.
    """
    if category not in CATEGORIES:
        raise InvalidInput("category is not one we know", field="category")
    if not isinstance(text, str) or not text.strip() or len(text) > 1000:
        raise InvalidInput("text must be 1..1000 characters", field="text")
    if photo_content_type is not None and photo_content_type not in PHOTO_TYPES:
        raise InvalidInput("the photo must be image/jpeg or image/png", field="photo")
    # every pile has a gun 1: a complaint about the whole pile finds its station through it
    station, info = locate_gun(ports.discovery, GunRef(pile_id, gun_no or 1))
    complaint_id = _derived_id("cp", user_id, request_id)
    now = ports.clock()
    photo_key = None
    if photo_content_type is not None:
        photo_key = f"complaints/{complaint_id}/photo.{PHOTO_TYPES[photo_content_type]}"
    complaint = Complaint(
        complaint_id=complaint_id,
        user_id=user_id,
        operator_id=station.operator_id,
        station_id=station.station_id,
        pile_id=info.pile.pile_id,
        gun_no=gun_no,
        category=category,
        text=text,
        photo_key=photo_key,
        status="open",
        created_at=now,
        updated_at=now,
    )
    if not ports.complaints.create(complaint):
        stored = ports.complaints.get(complaint_id)
        if stored is None or (stored.pile_id, stored.gun_no, stored.category, stored.text) != (
            complaint.pile_id,
            complaint.gun_no,
            complaint.category,
            complaint.text,
        ):
            raise Conflict("the request id was used for another complaint", kind="complaint")
        complaint = stored
    url = None
    if complaint.photo_key is not None:
        content_type = next(
            t for t, ext in PHOTO_TYPES.items() if complaint.photo_key.endswith(ext)
        )
        url = ports.uploads.put_url(complaint.photo_key, content_type, PHOTO_URL_TTL_S)
    return complaint, url


def get_complaint(ports: ComplaintPorts, user_id: str, complaint_id: str) -> Complaint:
    """One of the driver's complaints. Raises: NotFound (another driver's or none)."""
    complaint = ports.complaints.get(complaint_id)
    if complaint is None or complaint.user_id != user_id:
        raise NotFound("complaint not found", kind="complaint")
    return complaint


def list_complaints(ports: ComplaintPorts, user_id: str) -> list[Complaint]:
    return ports.complaints.of_driver(user_id, 50)


# ---------------------------------------------------------------- reservations


class ReservationStore(Protocol):
    def hold(self, reservation: Reservation, now: datetime) -> bool:
        """Hold the gun for the reservation (and link it to the driver) unless another live
        reservation holds it; False when one does."""

    def get(self, user_id: str, reservation_id: str) -> Reservation | None: ...

    def save(self, reservation: Reservation) -> None:
        """Record the call id / cancellation on the driver's reservation."""

    def release(self, reservation: Reservation) -> None:
        """Free the gun if this reservation still holds it."""

    def of_driver(self, user_id: str, limit: int) -> list[Reservation]: ...


class PileCommands(Protocol):
    def send(self, principal: Principal, pile_id: str, command: Any) -> str:
        """Send a command; its call's message id. Raises what ``issue_command`` raises."""


class IssuedCommands:
    """``PileCommands`` on the pile command service (``shared.services.ocpp.commands``)."""

    def __init__(self, ports: Any) -> None:
        self._ports = ports  # CommandPorts

    def send(self, principal: Principal, pile_id: str, command: Any) -> str:
        from shared.services.ocpp.commands import issue_command

        return issue_command(principal, pile_id, command, self._ports).unique_id


@dataclass(frozen=True, slots=True)
class ReservationPorts:
    reservations: ReservationStore
    discovery: DiscoveryPorts
    commands: PileCommands
    clock: Clock


def _acting_for(user_id: str, operator_id: str) -> Principal:
    return Principal(
        username=f"driver:{user_id}", role=Role.OPERATOR_ADMIN, operator_id=operator_id
    )


def reserve_gun(
    ports: ReservationPorts,
    user_id: str,
    *,
    request_id: str,
    pile_id: str,
    gun_no: int,
    minutes: int,
) -> Reservation:
    """Hold a free gun of a car pile for the driver for ``minutes`` (ReserveNow).

    Raises:
        InvalidInput: minutes outside 5..30. NotFound: no such gun.
        Conflict: an e-bike or Modbus pile, the gun is not free or is reserved by someone
            else, the request id was used for another gun.
        UpstreamFailure: the pile command could not be stored (the gun is not held).
    """
    low, high = RESERVE_MINUTES
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not low <= minutes <= high:
        raise InvalidInput(f"minutes must be {low}..{high}", field="minutes")
    now = ports.clock()
    reservation_id = _derived_id("rv", user_id, request_id)
    existing = ports.reservations.get(user_id, reservation_id)
    if existing is not None:
        if (existing.pile_id, existing.gun_no) != (pile_id, gun_no):
            raise Conflict("the request id was used for another reservation", kind="reservation")
        return existing
    station, info = locate_gun(ports.discovery, GunRef(pile_id, gun_no))
    if info.pile.kind is not PileKind.CAR or not info.pile.protocol.is_ocpp:
        raise Conflict("only guns of car piles can be reserved", kind="gun")
    holder = ports.discovery.reservations.holder_of(pile_id, gun_no, now)
    if holder is not None and holder != user_id:
        raise Conflict("the gun is reserved by someone else", kind="gun")
    if info.state is not GunState.FREE:
        raise Conflict(f"the gun is {info.state.value}, not free to reserve", kind="gun")
    reservation = Reservation(
        reservation_id=reservation_id,
        user_id=user_id,
        operator_id=station.operator_id,
        pile_id=pile_id,
        gun_no=gun_no,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    if not ports.reservations.hold(reservation, now):
        raise Conflict("the gun is reserved by someone else", kind="gun")
    try:
        call_id = ports.commands.send(
            _acting_for(user_id, station.operator_id),
            pile_id,
            ReserveNow(id_tag=id_tag_of(user_id), expires_at=reservation.expires_at, gun_no=gun_no),
        )
    except ChargingError:
        ports.reservations.release(reservation)  # the pile was never asked: free the gun
        raise
    held = replace(reservation, call_id=call_id)
    ports.reservations.save(held)
    return held


def cancel_reservation(ports: ReservationPorts, user_id: str, reservation_id: str) -> Reservation:
    """Cancel the driver's live reservation (CancelReservation to the pile) and free the gun.

    Raises: NotFound (another driver's or none), Conflict (already cancelled or expired).
    """
    now = ports.clock()
    reservation = ports.reservations.get(user_id, reservation_id)
    if reservation is None:
        raise NotFound("reservation not found", kind="reservation")
    if reservation.status(now) != "active":
        raise Conflict(f"the reservation is {reservation.status(now)}", kind="reservation")
    if reservation.ocpp_reservation_id is not None:
        ports.commands.send(
            _acting_for(user_id, reservation.operator_id),
            reservation.pile_id,
            CancelReservation(reservation_id=reservation.ocpp_reservation_id),
        )
    cancelled = replace(reservation, cancelled_at=now)
    ports.reservations.save(cancelled)
    ports.reservations.release(cancelled)
    return cancelled


def list_reservations(ports: ReservationPorts, user_id: str) -> list[Reservation]:
    return ports.reservations.of_driver(user_id, 50)


__all__: Sequence[str] = [
    "BoundCard",
    "Complaint",
    "ComplaintPorts",
    "Reservation",
    "ReservationPorts",
    "bind_card",
    "cancel_reservation",
    "file_complaint",
    "get_complaint",
    "list_cards",
    "list_complaints",
    "list_reservations",
    "reserve_gun",
    "unbind_card",
]
