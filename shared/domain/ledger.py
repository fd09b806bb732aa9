"""The ledger: accounts, transfers, legs, entries and holds (pure: no I/O, no clock).

Discipline (TigerBeetle / django-hordak):

- A transfer never changes once posted, and its id is the business reference
  (``card-topup:CARD-1:req-123``), so each id is used once: posting the same id again
  with the same money is a no-op answering the stored transfer, with other money it is a
  ``Conflict``. Mistakes are fixed by a new transfer, never by an edit.
- A transfer has legs. A leg changes one account's posted balance (``amount_fen``, a credit
  is positive) and/or the amount held on it (``held_fen``). The posted amounts of a
  transfer's legs sum to zero, so the balances of the whole ledger always sum to zero.
- Every leg that changes a posted balance leaves one immutable entry on its account; an
  account's balance is the sum of its entries.
- Wallets (``card:{card_no}``, ``driver:{user_id}``) are guarded: the balance and the
  available amount (balance - held) never go below zero, a frozen wallet refuses top-ups,
  withdrawals and new holds, and every change is planned against the wallet's version, so
  each wallet entry records the exact balance after it. Internal accounts of an operator
  (``operator:{op}:clearing:{method}``, ``operator:{op}:revenue``) mirror money the
  operator or a provider holds: they may go negative, take concurrent postings without a
  version pin and their entries carry no running balance.
- A hold is a pending transfer: it reserves money on a wallet. It is resolved once, either
  posted by a capture (at most the held amount goes to the hold's counter account, the
  rest becomes available again) or voided by a release. Both resolutions use the one
  transfer id ``{hold_id}:resolution``, so a second resolution collides with the first.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from shared.domain.clock import local_day, to_wire
from shared.domain.errors import Conflict, InsufficientBalance, InvalidInput, NotFound, WalletFrozen

# One transfer moves at most 100,000.00 yuan: far above any top-up or charge, far below
# anything that could overflow a report; larger amounts are a typo or an attack.
MAX_AMOUNT_FEN = 10_000_000
# DynamoDB allows 100 items per transaction: 1 transfer + up to 2 items per leg.
MAX_LEGS = 10
MAX_REFERENCE_LENGTH = 200
MAX_ACTOR_LENGTH = 128
MAX_OWNER_LENGTH = 200
MAX_REASON_LENGTH = 200

# Printable ASCII without space and ``#`` (our key separator): references, account ids.
_TOKEN = re.compile(r"[!-\"$-~]+")
_OPERATOR_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_WALLET_PREFIXES = ("card:", "driver:")
_RESOLUTION_SUFFIX = ":resolution"
_ENTRY_PREFIX = "ENTRY#"


class AccountKind(StrEnum):
    WALLET = "wallet"
    CLEARING = "clearing"
    REVENUE = "revenue"
    # Issue 5's profit split: a station's site partner (property company) and the platform's
    # own share of consumed charging money. Internal, unguarded, created on first posting.
    PARTNER = "partner"
    PLATFORM = "platform"

    @property
    def is_guarded(self) -> bool:
        """Guarded accounts never go below zero, can be frozen and keep a running balance."""
        return self is AccountKind.WALLET


class TransferKind(StrEnum):
    TOP_UP = "top_up"
    WITHDRAWAL = "withdrawal"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    # Pays a cancelled wallet's whole balance out; allowed on a frozen wallet, since an
    # account is frozen first so nothing can move while it is being closed.
    CLOSURE = "closure"
    # Issue 5's payment workflow: the unused part of a provider-paid prepay goes back by the
    # original route (wallet -> the method's clearing account), allowed on a frozen wallet
    # like a hold's resolution; the consumed part is split from revenue to partner/platform.
    REFUND = "refund"
    PROFIT_SHARE = "profit_share"
    # The provider paid the partner its share directly (WeChat Pay profit sharing, Alipay
    # royalty): what the operator owes the partner falls, and so does what the provider
    # holds for the operator. Not a payment nor a refund: reconciliation leaves it out.
    PARTNER_PAYOUT = "partner_payout"

    @property
    def is_refused_when_frozen(self) -> bool:
        """A freeze stops new money movements; resolving a hold made before it still works."""
        return self in (TransferKind.TOP_UP, TransferKind.WITHDRAWAL, TransferKind.HOLD)


class TopUpMethod(StrEnum):
    CASH = "cash"
    WECHAT = "wechat"
    ALIPAY = "alipay"
    ADMIN = "admin"
    # The local stack's sandbox payment provider (issue 5).
    SANDBOX = "sandbox"


class HoldStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


# ---------------------------------------------------------------- validation


def require_amount(amount_fen: object, name: str = "amount_fen") -> int:
    """An amount of money moved: int fen, 1..MAX_AMOUNT_FEN.

    Raises:
        InvalidInput: not an int (bool and float included), zero, negative or too large.
    """
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidInput(f"{name} must be an integer number of fen", field=name)
    if not 0 < amount_fen <= MAX_AMOUNT_FEN:
        raise InvalidInput(
            f"{name} must be between 1 and {MAX_AMOUNT_FEN} fen", field=name, max=MAX_AMOUNT_FEN
        )
    return amount_fen


def require_token(value: object, name: str, max_length: int = MAX_REFERENCE_LENGTH) -> str:
    """A reference or id: 1..max_length printable ASCII characters, no space and no ``#``.

    Raises:
        InvalidInput: anything else.
    """
    if not isinstance(value, str) or len(value) > max_length or not _TOKEN.fullmatch(value):
        raise InvalidInput(
            f"{name} must be 1..{max_length} printable ASCII characters without space or #",
            field=name,
        )
    return value


def require_reference(reference: object) -> str:
    """A business reference, which becomes the transfer id. Raises: InvalidInput."""
    return require_token(reference, "reference")


def require_operator_id(operator_id: object) -> str:
    """Raises: InvalidInput unless 1..64 letters, digits, ``_``, ``.`` or ``-``."""
    if not isinstance(operator_id, str) or not _OPERATOR_ID.fullmatch(operator_id):
        raise InvalidInput("operator_id must be 1..64 letters, digits, _ . -", field="operator_id")
    return operator_id


def require_text(value: object, name: str, max_length: int, *, allow_empty: bool = False) -> str:
    """Free text (actor, owner, reason): no control characters. Raises: InvalidInput."""
    if (
        not isinstance(value, str)
        or len(value) > max_length
        or (not allow_empty and not value.strip())
        or any(ord(char) < 32 or ord(char) == 127 for char in value)
    ):
        raise InvalidInput(
            f"{name} must be {'0' if allow_empty else '1'}..{max_length} printable characters",
            field=name,
        )
    return value


def require_method(method: object) -> TopUpMethod:
    """Raises: InvalidInput unless one of cash, wechat, alipay, admin."""
    if isinstance(method, str) and method in set(TopUpMethod):
        return TopUpMethod(method)
    allowed = ", ".join(m.value for m in TopUpMethod)
    raise InvalidInput(f"method must be one of {allowed}", field="method")


def stored_instant(at: datetime) -> datetime:
    """``at`` as the ledger stores it: aware UTC, whole milliseconds (the wire format's).

    Raises:
        ValueError: ``at`` is naive.
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    utc = at.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


# ---------------------------------------------------------------- account ids


def card_wallet_id(card_no: str) -> str:
    return f"card:{card_no}"


def driver_wallet_id(operator_id: str, user_id: str) -> str:
    """A driver's wallet at one operator: a driver keeps one wallet per operator whose
    stations they pay at (operator ids never contain ``:``, so the id splits back)."""
    if not _OPERATOR_ID.fullmatch(operator_id):
        raise InvalidInput("invalid operator id", field="operator_id")
    return f"driver:{operator_id}:{user_id}"


def driver_of_wallet(account_id: str) -> str | None:
    """The user id of a driver wallet ``driver:{operator_id}:{user_id}``; None otherwise."""
    if not account_id.startswith("driver:"):
        return None
    user_id = account_id.rsplit(":", 1)[1]
    return user_id or None


def clearing_account_id(operator_id: str, method: TopUpMethod | str) -> str:
    """The operator's clearing account for a payment method (cash drawer, WeChat, ...)."""
    return f"operator:{operator_id}:clearing:{TopUpMethod(method).value}"


def revenue_account_id(operator_id: str) -> str:
    """Where captured payments for charging go, until issue 5 splits them."""
    return f"operator:{operator_id}:revenue"


def partner_account_id(operator_id: str, station_id: str) -> str:
    """What a station's site partner is owed of consumed charging money (issue 5)."""
    return f"operator:{operator_id}:partner:{station_id}"


def platform_account_id(operator_id: str) -> str:
    """The operator's own share of consumed charging money after the partner split."""
    return f"operator:{operator_id}:platform"


def account_kind(account_id: object) -> AccountKind:
    """The kind an account id names.

    Raises:
        InvalidInput: not a wallet id nor an internal account id of an operator.
    """
    text = require_token(account_id, "account_id")
    if text.startswith(_WALLET_PREFIXES):
        if text.split(":", 1)[1] == "":
            raise InvalidInput("account_id names no wallet owner", field="account_id")
        return AccountKind.WALLET
    parts = text.split(":")
    if len(parts) >= 3 and parts[0] == "operator" and _OPERATOR_ID.fullmatch(parts[1]):
        if len(parts) == 4 and parts[2] == "clearing" and parts[3] in set(TopUpMethod):
            return AccountKind.CLEARING
        if len(parts) == 3 and parts[2] == "revenue":
            return AccountKind.REVENUE
        if len(parts) == 4 and parts[2] == "partner" and parts[3]:
            return AccountKind.PARTNER
        if len(parts) == 3 and parts[2] == "platform":
            return AccountKind.PLATFORM
    raise InvalidInput(
        "account_id must be card:{card_no}, driver:{user_id} or an operator account",
        field="account_id",
    )


def require_wallet_id(account_id: object) -> str:
    """Raises: InvalidInput unless a wallet account id (``card:...`` or ``driver:...``)."""
    if account_kind(account_id) is not AccountKind.WALLET:
        raise InvalidInput("account_id must name a wallet", field="account_id")
    return str(account_id)


def internal_account_operator(account_id: str) -> str:
    """The operator an internal account belongs to (it is part of the id)."""
    return account_id.split(":")[1]


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class Account:
    """An account's current state. ``version`` counts every change made to it."""

    account_id: str
    kind: AccountKind
    operator_id: str
    owner: str
    balance_fen: int
    held_fen: int
    is_frozen: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.held_fen


def new_wallet(*, account_id: str, operator_id: str, owner: str, at: datetime) -> Account:
    """A fresh, empty, unfrozen wallet. Raises: InvalidInput."""
    return Account(
        account_id=require_wallet_id(account_id),
        kind=AccountKind.WALLET,
        operator_id=require_operator_id(operator_id),
        owner=require_text(owner, "owner", MAX_OWNER_LENGTH, allow_empty=True),
        balance_fen=0,
        held_fen=0,
        is_frozen=False,
        version=0,
        created_at=stored_instant(at),
        updated_at=stored_instant(at),
    )


def new_internal_account(account_id: str, at: datetime) -> Account:
    """An internal account as it is created on its first posting."""
    return Account(
        account_id=account_id,
        kind=account_kind(account_id),
        operator_id=internal_account_operator(account_id),
        owner="",
        balance_fen=0,
        held_fen=0,
        is_frozen=False,
        version=0,
        created_at=stored_instant(at),
        updated_at=stored_instant(at),
    )


# ---------------------------------------------------------------- transfers

MAX_DETAIL_LENGTH = 100


@dataclass(frozen=True, slots=True)
class TransferDetails:
    """What the operator's transaction list shows about a transfer beyond its money: the
    order, the user and the pile, stored on the transfer and its entries at posting time
    so a list page needs no further reads. Never part of "the same money" (a repeat with
    other details is still a repeat). ``transaction_type`` overrides the row type derived
    from the transfer kind (``admin_refund`` for a withdrawal an operator made, ...).
    """

    order_no: str | None = None
    user_id: str | None = None
    phone: str | None = None
    pile_id: str | None = None
    pile_name: str | None = None
    transaction_type: str | None = None

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if value is not None:
                require_text(value, name, MAX_DETAIL_LENGTH)

    def as_dict(self) -> dict[str, str]:
        """The fields that are set."""
        return {
            name: value for name in self.__slots__ if (value := getattr(self, name)) is not None
        }


@dataclass(frozen=True, slots=True)
class Leg:
    """One account's part of a transfer: posted change (credit +) and held change."""

    account_id: str
    amount_fen: int
    held_fen: int = 0


@dataclass(frozen=True, slots=True)
class Transfer:
    """An immutable movement of money; ``transfer_id`` is its business reference.

    ``legs[0]`` is the subject (the wallet the transfer is about); the transaction list
    shows that leg. Holds name the ``counter_account_id`` a capture will credit;
    captures and releases name the ``hold_id`` they resolve.
    """

    transfer_id: str
    kind: TransferKind
    operator_id: str
    legs: tuple[Leg, ...]
    reference: str
    actor: str
    posted_at: datetime
    method: str | None = None
    hold_id: str | None = None
    counter_account_id: str | None = None
    details: TransferDetails | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.legs) <= MAX_LEGS:
            raise InvalidInput(f"a transfer has 1..{MAX_LEGS} legs", field="legs")
        if len({leg.account_id for leg in self.legs}) != len(self.legs):
            raise InvalidInput("a transfer touches each account once", field="legs")
        for leg in self.legs:
            kind = account_kind(leg.account_id)
            for value in (leg.amount_fen, leg.held_fen):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InvalidInput("leg amounts are integer fen", field="legs")
            if leg.amount_fen == 0 and leg.held_fen == 0:
                raise InvalidInput("a leg must change something", field="legs")
            if leg.held_fen and not kind.is_guarded:
                raise InvalidInput("only wallets hold money", field="legs")
        if sum(leg.amount_fen for leg in self.legs) != 0:
            raise InvalidInput("the legs of a transfer must sum to zero", field="legs")

    @property
    def account_id(self) -> str:
        """The subject account (the wallet)."""
        return self.legs[0].account_id

    @property
    def amount_fen(self) -> int:
        """The headline amount: held for holds and releases, moved otherwise."""
        if self.kind in (TransferKind.HOLD, TransferKind.RELEASE):
            return abs(self.legs[0].held_fen)
        return sum(leg.amount_fen for leg in self.legs if leg.amount_fen > 0)

    def has_same_money(self, other: Transfer) -> bool:
        """Same movement of money, whoever asked and whenever (idempotent repeats)."""
        return (
            self.transfer_id == other.transfer_id
            and self.kind == other.kind
            and self.operator_id == other.operator_id
            and self.legs == other.legs
            and self.method == other.method
            and self.hold_id == other.hold_id
            and self.counter_account_id == other.counter_account_id
        )


@dataclass(frozen=True, slots=True)
class PostResult:
    """The transfer as stored, whether this call posted it (False: a repeat), and the
    transfer's wallets as they stand right after the call (so callers need no re-read).
    """

    transfer: Transfer
    is_new: bool
    wallets: tuple[Account, ...] = ()

    def wallet(self, account_id: str) -> Account | None:
        return next((w for w in self.wallets if w.account_id == account_id), None)


def ensure_same_transfer(
    stored: Transfer, requested: Transfer, wallets: Iterable[Account | None] = ()
) -> PostResult:
    """Answer a repeat of an existing transfer id, with its wallets as they are now.

    Raises:
        Conflict: the id was used for a different movement of money.
    """
    if not stored.has_same_money(requested):
        message = (
            f"hold already {hold_status(stored).value}"
            if stored.hold_id is not None
            else "reference already used for a different transfer"
        )
        raise Conflict(
            message,
            reference=requested.transfer_id,
            stored_kind=str(stored.kind),
            stored_amount_fen=stored.amount_fen,
        )
    return PostResult(stored, is_new=False, wallets=tuple(w for w in wallets if w is not None))


def top_up_transfer(
    *,
    account_id: str,
    operator_id: str,
    amount_fen: object,
    reference: object,
    method: object,
    actor: object,
    posted_at: datetime,
    details: TransferDetails | None = None,
) -> Transfer:
    """Credit a wallet from the operator's clearing account of the method. Raises: InvalidInput."""
    amount = require_amount(amount_fen)
    top_up_method = require_method(method)
    operator = require_operator_id(operator_id)
    return Transfer(
        transfer_id=require_reference(reference),
        kind=TransferKind.TOP_UP,
        operator_id=operator,
        legs=(
            Leg(require_wallet_id(account_id), amount),
            Leg(clearing_account_id(operator, top_up_method), -amount),
        ),
        reference=str(reference),
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        posted_at=stored_instant(posted_at),
        method=top_up_method.value,
        details=details,
    )


def withdrawal_transfer(
    *,
    account_id: str,
    operator_id: str,
    amount_fen: object,
    reference: object,
    actor: object,
    posted_at: datetime,
    details: TransferDetails | None = None,
    kind: TransferKind = TransferKind.WITHDRAWAL,
) -> Transfer:
    """Pay money out of a wallet, back through the operator's cash clearing account.

    ``kind`` CLOSURE pays out the balance of a wallet being closed (allowed while frozen).

    Raises:
        InvalidInput: a bad amount, reference, account id or actor, or another kind.
    """
    if kind not in (TransferKind.WITHDRAWAL, TransferKind.CLOSURE):
        raise InvalidInput("a payout is a withdrawal or a closure", field="kind")
    amount = require_amount(amount_fen)
    operator = require_operator_id(operator_id)
    return Transfer(
        transfer_id=require_reference(reference),
        kind=kind,
        operator_id=operator,
        legs=(
            Leg(require_wallet_id(account_id), -amount),
            Leg(clearing_account_id(operator, TopUpMethod.CASH), amount),
        ),
        reference=str(reference),
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        posted_at=stored_instant(posted_at),
        method=TopUpMethod.CASH.value,
        details=details,
    )


def refund_transfer(
    *,
    account_id: str,
    operator_id: str,
    amount_fen: object,
    reference: object,
    method: object,
    actor: object,
    posted_at: datetime,
    details: TransferDetails | None = None,
) -> Transfer:
    """Send money paid by a provider back by its original route: the wallet to the
    operator's clearing account of ``method`` (issue 5's refund of an unused prepay).

    Raises:
        InvalidInput: a bad amount, reference, method, account id or actor.
    """
    amount = require_amount(amount_fen)
    refund_method = require_method(method)
    operator = require_operator_id(operator_id)
    return Transfer(
        transfer_id=require_reference(reference),
        kind=TransferKind.REFUND,
        operator_id=operator,
        legs=(
            Leg(require_wallet_id(account_id), -amount),
            Leg(clearing_account_id(operator, refund_method), amount),
        ),
        reference=str(reference),
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        posted_at=stored_instant(posted_at),
        method=refund_method.value,
        details=details,
    )


def profit_share_transfer(
    *,
    operator_id: str,
    station_id: str,
    partner_fen: object,
    platform_fen: object,
    reference: object,
    actor: object,
    posted_at: datetime,
    details: TransferDetails | None = None,
) -> Transfer:
    """Split consumed charging money out of the operator's revenue account: ``partner_fen``
    to the station's partner account, ``platform_fen`` to the platform account (a zero
    part has no leg). The revenue leg is the subject.

    Raises:
        InvalidInput: a part negative or not an int, both zero, or bad ids.
    """
    operator = require_operator_id(operator_id)
    parts: list[Leg] = []
    for name, value, account in (
        ("partner_fen", partner_fen, partner_account_id(operator, str(station_id))),
        ("platform_fen", platform_fen, platform_account_id(operator)),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{name} must be a non-negative integer number of fen", field=name)
        if value:
            parts.append(Leg(account, value))
    total = require_amount(sum(leg.amount_fen for leg in parts))
    return Transfer(
        transfer_id=require_reference(reference),
        kind=TransferKind.PROFIT_SHARE,
        operator_id=operator,
        legs=(Leg(revenue_account_id(operator), -total), *parts),
        reference=str(reference),
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        posted_at=stored_instant(posted_at),
        details=details,
    )


def partner_payout_transfer(
    *,
    operator_id: str,
    station_id: str,
    amount_fen: object,
    method: object,
    reference: object,
    actor: object,
    posted_at: datetime,
    details: TransferDetails | None = None,
) -> Transfer:
    """The provider sent ``amount_fen`` of the partner's share straight to the partner: the
    station's partner account (what the operator owes) to the method's clearing account
    (what the provider holds for the operator). The partner leg is the subject.

    Raises:
        InvalidInput: a bad amount, method, reference, ids or actor.
    """
    amount = require_amount(amount_fen)
    payout_method = require_method(method)
    operator = require_operator_id(operator_id)
    return Transfer(
        transfer_id=require_reference(reference),
        kind=TransferKind.PARTNER_PAYOUT,
        operator_id=operator,
        legs=(
            Leg(partner_account_id(operator, require_token(station_id, "station_id")), -amount),
            Leg(clearing_account_id(operator, payout_method), amount),
        ),
        reference=str(reference),
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        posted_at=stored_instant(posted_at),
        details=details,
    )


def hold_transfer(
    *,
    account_id: str,
    operator_id: str,
    amount_fen: object,
    reference: object,
    actor: object,
    posted_at: datetime,
    counter_account_id: str | None = None,
    details: TransferDetails | None = None,
) -> Transfer:
    """Reserve money on a wallet for a later capture (a prepay with the wallet).

    Raises:
        InvalidInput: a bad amount, reference, account, actor, or a counter account that is
            not an internal account of the same operator.
    """
    amount = require_amount(amount_fen)
    operator = require_operator_id(operator_id)
    max_length = MAX_REFERENCE_LENGTH - len(_RESOLUTION_SUFFIX)
    require_token(reference, "reference", max_length)
    counter = revenue_account_id(operator) if counter_account_id is None else counter_account_id
    if account_kind(counter).is_guarded or internal_account_operator(counter) != operator:
        raise InvalidInput(
            "a hold's counter account must be an internal account of its operator",
            field="counter_account_id",
        )
    return Transfer(
        transfer_id=str(reference),
        kind=TransferKind.HOLD,
        operator_id=operator,
        legs=(Leg(require_wallet_id(account_id), 0, amount),),
        reference=str(reference),
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        posted_at=stored_instant(posted_at),
        counter_account_id=counter,
        details=details,
    )


def resolution_id(hold_id: str) -> str:
    """The one transfer id a hold's capture or release uses (so only one of them can exist)."""
    return f"{hold_id}{_RESOLUTION_SUFFIX}"


def _require_hold(hold: Transfer) -> tuple[str, int, str]:
    if hold.kind is not TransferKind.HOLD or hold.counter_account_id is None:
        raise NotFound("hold not found", hold_id=hold.transfer_id)
    return hold.account_id, hold.amount_fen, hold.counter_account_id


def capture_transfer(
    hold: Transfer, *, amount_fen: object, actor: object, posted_at: datetime
) -> Transfer:
    """Post a hold: move ``amount_fen`` (<= held) to its counter account, free the rest.

    Raises:
        InvalidInput: a bad amount, or more than the hold reserved.
        NotFound: ``hold`` is not a hold.
    """
    wallet, held, counter = _require_hold(hold)
    amount = require_amount(amount_fen)
    if amount > held:
        raise InvalidInput(
            "cannot capture more than the hold reserved", field="amount_fen", held_fen=held
        )
    return Transfer(
        transfer_id=resolution_id(hold.transfer_id),
        kind=TransferKind.CAPTURE,
        operator_id=hold.operator_id,
        legs=(Leg(wallet, -amount, -held), Leg(counter, amount)),
        reference=hold.reference,
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        posted_at=stored_instant(posted_at),
        hold_id=hold.transfer_id,
        details=hold.details,
    )


def release_transfer(hold: Transfer, *, actor: object, posted_at: datetime) -> Transfer:
    """Void a hold: the whole reserved amount becomes available again.

    Raises:
        NotFound: ``hold`` is not a hold.
        InvalidInput: a bad actor.
    """
    wallet, held, _ = _require_hold(hold)
    return Transfer(
        transfer_id=resolution_id(hold.transfer_id),
        kind=TransferKind.RELEASE,
        operator_id=hold.operator_id,
        legs=(Leg(wallet, 0, -held),),
        reference=hold.reference,
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        posted_at=stored_instant(posted_at),
        hold_id=hold.transfer_id,
        details=hold.details,
    )


def hold_status(resolution: Transfer | None) -> HoldStatus:
    if resolution is None:
        return HoldStatus.PENDING
    return HoldStatus.POSTED if resolution.kind is TransferKind.CAPTURE else HoldStatus.VOIDED


# ---------------------------------------------------------------- entries and postings


def entry_sort_key(posted_at: datetime, transfer_id: str) -> str:
    return f"{_ENTRY_PREFIX}{to_wire(posted_at)}#{transfer_id}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One leg of a posted transfer on one account; never changes.

    ``balance_after_fen`` is the account's balance right after this entry, kept for
    wallets only (internal accounts are not version-pinned, so it is not known).
    ``is_subject`` marks the leg the operator's transaction list shows.
    """

    account_id: str
    transfer_id: str
    transfer_kind: TransferKind
    operator_id: str
    amount_fen: int
    balance_after_fen: int | None
    posted_at: datetime
    reference: str
    actor: str
    method: str | None
    is_subject: bool
    details: TransferDetails | None = None

    @property
    def sort_key(self) -> str:
        return entry_sort_key(self.posted_at, self.transfer_id)

    @property
    def posted_on(self) -> str:
        return local_day(self.posted_at).isoformat()


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What one posting does to one account, and the state it was planned against.

    For a guarded account ``expected_version`` pins the version read: the write must find
    it unchanged (else the plan is stale and is made again). ``is_freeze_checked`` asks the
    write to find the wallet unfrozen. Internal accounts get ``expected_version=None``.
    """

    account_id: str
    kind: AccountKind
    operator_id: str
    amount_fen: int
    held_fen: int
    expected_version: int | None
    is_freeze_checked: bool
    balance_after_fen: int | None
    held_after_fen: int | None


@dataclass(frozen=True, slots=True)
class Posting:
    """A transfer with everything its atomic write needs."""

    transfer: Transfer
    changes: tuple[AccountChange, ...]
    entries: tuple[Entry, ...] = field(default=())


def plan_posting(transfer: Transfer, wallets: Mapping[str, Account | None]) -> Posting:
    """Check a transfer against the current state of its wallets and plan its write.

    ``wallets`` maps each guarded account id of the transfer to its state (None: absent).

    Raises:
        NotFound: a wallet does not exist or belongs to another operator.
        WalletFrozen: a frozen wallet would take a top-up, withdrawal or new hold.
        InsufficientBalance: a wallet's balance or available amount would go below zero.
        Conflict: more would be released than the wallet holds (a broken hold).
    """
    changes: list[AccountChange] = []
    for leg in transfer.legs:
        kind = account_kind(leg.account_id)
        if not kind.is_guarded:
            changes.append(
                AccountChange(
                    account_id=leg.account_id,
                    kind=kind,
                    operator_id=internal_account_operator(leg.account_id),
                    amount_fen=leg.amount_fen,
                    held_fen=leg.held_fen,
                    expected_version=None,
                    is_freeze_checked=False,
                    balance_after_fen=None,
                    held_after_fen=None,
                )
            )
            continue
        wallet = wallets.get(leg.account_id)
        if wallet is None or wallet.operator_id != transfer.operator_id:
            raise NotFound("wallet not found", kind="wallet", id=leg.account_id)
        if wallet.is_frozen and transfer.kind.is_refused_when_frozen:
            raise WalletFrozen("wallet is frozen", account_id=leg.account_id)
        balance_after = wallet.balance_fen + leg.amount_fen
        held_after = wallet.held_fen + leg.held_fen
        if held_after < 0:
            raise Conflict("release exceeds the money held", account_id=leg.account_id)
        if balance_after < 0 or balance_after - held_after < 0:
            raise InsufficientBalance(
                "insufficient balance",
                account_id=leg.account_id,
                available_fen=wallet.available_fen,
                requested_fen=-(leg.amount_fen - leg.held_fen),
            )
        changes.append(
            AccountChange(
                account_id=leg.account_id,
                kind=kind,
                operator_id=wallet.operator_id,
                amount_fen=leg.amount_fen,
                held_fen=leg.held_fen,
                expected_version=wallet.version,
                is_freeze_checked=transfer.kind.is_refused_when_frozen,
                balance_after_fen=balance_after,
                held_after_fen=held_after,
            )
        )
    entries = tuple(
        Entry(
            account_id=change.account_id,
            transfer_id=transfer.transfer_id,
            transfer_kind=transfer.kind,
            operator_id=transfer.operator_id,
            amount_fen=change.amount_fen,
            balance_after_fen=change.balance_after_fen,
            posted_at=transfer.posted_at,
            reference=transfer.reference,
            actor=transfer.actor,
            method=transfer.method,
            is_subject=index == 0,
            details=transfer.details,
        )
        for index, change in enumerate(changes)
        if change.amount_fen != 0
    )
    return Posting(transfer=transfer, changes=tuple(changes), entries=entries)


def guarded_account_ids(transfer: Transfer) -> tuple[str, ...]:
    """The wallets a transfer touches (what must be read before planning it)."""
    return tuple(leg.account_id for leg in transfer.legs if account_kind(leg.account_id).is_guarded)


def posted_wallets(posting: Posting, wallets: Mapping[str, Account | None]) -> tuple[Account, ...]:
    """The posting's wallets once it is committed (the states it was planned against + 1)."""
    return tuple(
        applied(account, change, posting.transfer.posted_at)
        for change in posting.changes
        if change.expected_version is not None
        and (account := wallets.get(change.account_id)) is not None
    )


def applied(account: Account, change: AccountChange, at: datetime) -> Account:
    """The account after a committed change (used by stores that keep Account objects)."""
    return Account(
        account_id=account.account_id,
        kind=account.kind,
        operator_id=account.operator_id,
        owner=account.owner,
        balance_fen=account.balance_fen + change.amount_fen,
        held_fen=account.held_fen + change.held_fen,
        is_frozen=account.is_frozen,
        version=account.version + 1,
        created_at=account.created_at,
        updated_at=at,
    )


# ---------------------------------------------------------------- paging


@dataclass(frozen=True, slots=True)
class EntryPage:
    """Entries newest first, and the cursor of the next page (None: no more)."""

    entries: tuple[Entry, ...]
    next_cursor: str | None


def encode_entry_cursor(sort_key: str) -> str:
    """An opaque cursor for the entry after which the next page starts."""
    raw = json.dumps({"sk": sort_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_entry_cursor(cursor: str) -> str:
    """The entry sort key a cursor names.

    Raises:
        InvalidInput: the cursor was not made by ``encode_entry_cursor``.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        sort_key = data["sk"]
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise InvalidInput("cursor is not valid", field="cursor") from exc
    if not isinstance(sort_key, str) or not sort_key.startswith(_ENTRY_PREFIX):
        raise InvalidInput("cursor is not valid", field="cursor")
    return sort_key
