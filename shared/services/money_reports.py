"""The operator's transaction list: one row per ledger transfer on a driver's or card
user's wallet, filtered by Asia/Shanghai days, type and text, paged, and exported as CSV.
Operator-internal movements are left out, except profit shares when the type filter asks
for ``profit_share`` (their subject is the operator's revenue account: the row's amount is
that account's side, ``-consumed``, and it has no wallet balance).

Row types: the type the payment workflow and the top-ups store with a transfer
(``TransferDetails.transaction_type``: ``prepay`` for a provider's payment into the wallet,
``refund`` for the unused part going back, ``profit_share``, ``top_up`` for a wallet top-up
through a provider), else the transfer kind's (a hold's capture is ``consume``, a release
``refund``, a withdrawal ``withdrawal`` ...). The method is the transfer's (``wechat``,
``alipay``, ``sandbox``, ``cash`` ...).

Rows come from the ledger's GSI2 (``OPERATOR#{op}#{posted_on}``: the subject leg of every
posted transfer, one partition per local day), read newest first, day by day, never by a
scan. What a row shows beyond the money (order, user, phone, pile) was stored on the
transfer at posting time (``TransferDetails``); wallet holders (a card's holder, a
driver's nickname) and phones that a transfer does not carry, and the names of piles it
names only by id, are batch-read once per page.

Type and text filters are applied to the rows read, so a page may come back short (or
empty) with a cursor when the filter is selective: each request reads at most
``MAX_SCANNED_ROWS`` index items. The cursor is opaque (base64 JSON: the day and the
index position reached).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from shared.domain.base_data import resolve_operator
from shared.domain.clock import LOCAL_TZ, to_wire
from shared.domain.errors import InvalidInput
from shared.domain.ledger import Entry, TransferKind
from shared.domain.tenancy import Principal, Role

MAX_PAGE_SIZE = 100
MAX_RANGE_DAYS = 92
MAX_SCANNED_ROWS = 1_000
MAX_EXPORT_ROWS = 10_000
MAX_TEXT_LENGTH = 64
# CSV cells a spreadsheet would run as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BOM = "\ufeff"
WALLET_PREFIXES = ("card:", "driver:")


class TransactionType(StrEnum):
    PREPAY = "prepay"
    CONSUME = "consume"
    REFUND = "refund"
    TOP_UP = "top_up"
    WITHDRAWAL = "withdrawal"
    ADMIN_REFUND = "admin_refund"
    PROFIT_SHARE = "profit_share"
    OTHER = "other"


# The label a Chinese operator's spreadsheet shows for each type.
TYPE_LABELS: Mapping[TransactionType, str] = {
    TransactionType.PREPAY: "预付",
    TransactionType.CONSUME: "消费",
    TransactionType.REFUND: "退款",
    TransactionType.TOP_UP: "充值",
    TransactionType.WITHDRAWAL: "提现",
    TransactionType.ADMIN_REFUND: "管理员退款",
    TransactionType.PROFIT_SHARE: "分润",
    TransactionType.OTHER: "其他",
}

_TYPE_BY_KIND: Mapping[str, TransactionType] = {
    TransferKind.TOP_UP.value: TransactionType.TOP_UP,
    TransferKind.WITHDRAWAL.value: TransactionType.WITHDRAWAL,
    TransferKind.HOLD.value: TransactionType.PREPAY,
    TransferKind.CAPTURE.value: TransactionType.CONSUME,
    TransferKind.RELEASE.value: TransactionType.REFUND,
    TransferKind.CLOSURE.value: TransactionType.ADMIN_REFUND,
    TransferKind.REFUND.value: TransactionType.REFUND,
    TransferKind.PROFIT_SHARE.value: TransactionType.PROFIT_SHARE,
    TransferKind.PARTNER_PAYOUT.value: TransactionType.PROFIT_SHARE,
}


def transaction_type(entry: Entry) -> TransactionType:
    """The row type: the one stored with the transfer, else the transfer kind's."""
    stored = entry.details.transaction_type if entry.details is not None else None
    for name in (stored, entry.transfer_kind.value):
        if name is None:
            continue
        if name in _TYPE_BY_KIND:
            return _TYPE_BY_KIND[name]
        if name in set(TransactionType):
            return TransactionType(name)
    return TransactionType.OTHER


# ---------------------------------------------------------------- ports


@dataclass(frozen=True, slots=True)
class DayPage:
    """Subject entries of one operator's local day, newest first; ``has_more``: not all."""

    entries: tuple[Entry, ...]
    has_more: bool


class TransactionIndex(Protocol):
    """The ledger's transaction index (GSI2): one partition per operator and local day."""

    def list_day(self, operator_id: str, day: date, *, before: str | None, limit: int) -> DayPage:
        """Entries of ``day`` newest first, strictly before index position ``before``.

        Raises: UpstreamFailure.
        """


@dataclass(frozen=True, slots=True)
class WalletOwner:
    """Who a wallet belongs to, as the operator knows them (a card's holder, a driver's
    nickname); empty strings when unknown."""

    name: str
    phone: str


class RowDirectory(Protocol):
    """Batch lookups of what a page's transfers did not carry: wallet holders, pile names."""

    def wallet_owners(self, account_ids: Collection[str]) -> Mapping[str, WalletOwner]:
        """Holders of the wallets it knows; unknown ids are left out. Raises: UpstreamFailure."""
        ...

    def pile_names(self, operator_id: str, pile_ids: Collection[str]) -> Mapping[str, str]:
        """Names of the operator's piles it knows (another operator's are left out).

        Raises: UpstreamFailure.
        """
        ...


def index_position(entry: Entry) -> str:
    """An entry's sort key in the transaction index (``{posted_at}#{transfer_id}``)."""
    return f"{to_wire(entry.posted_at)}#{entry.transfer_id}"


# ---------------------------------------------------------------- rows and filters


@dataclass(frozen=True, slots=True)
class TransactionRow:
    """One line of the transaction list. ``amount_fen`` is signed from the wallet's side
    (a top-up is positive, a payment negative); ``balance_after_fen`` is the wallet's
    balance right after it."""

    transfer_id: str
    order_no: str
    posted_at: datetime
    account_id: str
    user_id: str
    user_name: str | None
    phone: str | None
    pile_name: str | None
    pile_id: str | None
    type: TransactionType
    kind: str
    method: str | None
    amount_fen: int
    balance_after_fen: int | None
    actor: str


def _wallet_owner_id(account_id: str) -> str:
    return account_id.split(":", 1)[1] if ":" in account_id else account_id


def row_of(
    entry: Entry, owner: WalletOwner | None = None, pile_name: str | None = None
) -> TransactionRow:
    details = entry.details
    return TransactionRow(
        transfer_id=entry.transfer_id,
        order_no=(details.order_no if details and details.order_no else entry.reference),
        posted_at=entry.posted_at,
        account_id=entry.account_id,
        user_id=(
            details.user_id if details and details.user_id else _wallet_owner_id(entry.account_id)
        ),
        user_name=(owner.name or None) if owner is not None else None,
        phone=(
            details.phone
            if details and details.phone
            else ((owner.phone or None) if owner is not None else None)
        ),
        pile_name=(details.pile_name if details and details.pile_name else pile_name),
        pile_id=details.pile_id if details else None,
        type=transaction_type(entry),
        kind=entry.transfer_kind.value,
        method=entry.method,
        amount_fen=entry.amount_fen,
        balance_after_fen=entry.balance_after_fen,
        actor=entry.actor,
    )


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """Which rows: an operator's local days ``from_on``..``to_on`` (inclusive), optionally
    of some types, optionally containing ``text`` (order no., user, phone, pile; any case)."""

    operator_id: str
    from_on: date
    to_on: date
    types: frozenset[TransactionType] = frozenset()
    text: str | None = None

    def matches(self, row: TransactionRow) -> bool:
        if self.types and row.type not in self.types:
            return False
        if self.text is None:
            return True
        needle = self.text.casefold()
        fields = (
            row.order_no,
            row.transfer_id,
            row.user_id,
            row.user_name,
            row.phone,
            row.pile_id,
            row.pile_name,
        )
        return any(needle in value.casefold() for value in fields if value)


def transaction_filter(
    principal: Principal,
    *,
    operator_id: str | None,
    from_on: date | None,
    to_on: date | None,
    types: Collection[str] = (),
    text: str | None = None,
    today: date,
) -> TransactionFilter:
    """The filter a request asks for, checked: the caller's operator (a platform admin
    names one), a day range of at most ``MAX_RANGE_DAYS`` (default: today).

    Raises:
        Forbidden: maintenance staff (money is for admins).
        NotFound: staff named another operator.
        InvalidInput: no operator named by a platform admin, reversed or too long range,
            an unknown type, text too long.
    """
    principal.require_role(Role.OPERATOR_ADMIN)
    owner = resolve_operator(principal, operator_id)
    to_day = to_on or (from_on if from_on is not None and from_on > today else today)
    from_day = from_on or to_day
    if from_day > to_day:
        raise InvalidInput("from must not be after to", field="from")
    if (to_day - from_day).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(f"the range may span at most {MAX_RANGE_DAYS} days", field="from")
    allowed = {t.value for t in TransactionType}
    unknown = sorted(set(types) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown type; use {', '.join(sorted(allowed))}", field="type", allowed=sorted(allowed)
        )
    if text is not None:
        text = text.strip()
        if len(text) > MAX_TEXT_LENGTH or any(ord(c) < 32 for c in text):
            raise InvalidInput(f"q must be at most {MAX_TEXT_LENGTH} characters", field="q")
    return TransactionFilter(
        operator_id=owner,
        from_on=from_day,
        to_on=to_day,
        types=frozenset(TransactionType(t) for t in types),
        text=text or None,
    )


# ---------------------------------------------------------------- cursor


@dataclass(frozen=True, slots=True)
class _Position:
    day: date
    before: str | None


def _encode_cursor(position: _Position) -> str:
    raw = json.dumps(
        {"d": position.day.isoformat(), "b": position.before}, separators=(",", ":")
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, selection: TransactionFilter) -> _Position:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        day = date.fromisoformat(data["d"])
        before = data["b"]
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise InvalidInput("cursor is not valid", field="cursor") from exc
    if before is not None and not isinstance(before, str):
        raise InvalidInput("cursor is not valid", field="cursor")
    if not selection.from_on <= day <= selection.to_on:
        raise InvalidInput("cursor does not belong to this date range", field="cursor")
    return _Position(day, before)


# ---------------------------------------------------------------- listing


@dataclass(frozen=True, slots=True)
class TransactionPage:
    rows: tuple[TransactionRow, ...]
    next_cursor: str | None


def _is_listed(entry: Entry, selection: TransactionFilter) -> bool:
    """Wallet rows always; a profit share or the provider's payout of it to the partner
    (operator-internal movements) only when asked for."""
    if entry.account_id.startswith(WALLET_PREFIXES):
        return True
    return TransactionType.PROFIT_SHARE in selection.types and entry.transfer_kind in (
        TransferKind.PROFIT_SHARE,
        TransferKind.PARTNER_PAYOUT,
    )


def _rows(
    index: TransactionIndex,
    directory: RowDirectory,
    selection: TransactionFilter,
    start: _Position,
    *,
    limit: int,
    max_scanned: int,
) -> tuple[list[TransactionRow], _Position | None]:
    """Matching rows from ``start`` on (newest first), and where the next page starts."""
    rows: list[TransactionRow] = []
    scanned = 0
    day, before = start.day, start.before
    while True:
        want = min(limit - len(rows), max_scanned - scanned)
        page = index.list_day(selection.operator_id, day, before=before, limit=max(want, 1))
        scanned += len(page.entries)
        listed = [e for e in page.entries if _is_listed(e, selection)]
        owner_ids = {e.account_id for e in listed if e.account_id.startswith(WALLET_PREFIXES)}
        pile_ids = {
            e.details.pile_id
            for e in listed
            if e.details is not None and e.details.pile_id and not e.details.pile_name
        }
        known = directory.wallet_owners(owner_ids) if owner_ids else {}
        names = directory.pile_names(selection.operator_id, pile_ids) if pile_ids else {}
        for entry in listed:
            pile_id = entry.details.pile_id if entry.details is not None else None
            row = row_of(entry, known.get(entry.account_id), names.get(pile_id or ""))
            if selection.matches(row):
                rows.append(row)
        if page.entries:
            before = index_position(page.entries[-1])
        if page.has_more and page.entries:
            if len(rows) >= limit or scanned >= max_scanned:
                return rows, _Position(day, before)
            continue
        if day <= selection.from_on:
            return rows, None
        day, before = day - timedelta(days=1), None
        if len(rows) >= limit or scanned >= max_scanned:
            return rows, _Position(day, None)


def list_transactions(
    index: TransactionIndex,
    directory: RowDirectory,
    selection: TransactionFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> TransactionPage:
    """One page of the operator's transactions, newest first.

    Raises: InvalidInput (limit, cursor), UpstreamFailure.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE_SIZE}", field="limit")
    start = (
        _Position(selection.to_on, None) if cursor is None else _decode_cursor(cursor, selection)
    )
    rows, following = _rows(
        index, directory, selection, start, limit=limit, max_scanned=MAX_SCANNED_ROWS
    )
    return TransactionPage(tuple(rows), None if following is None else _encode_cursor(following))


def all_transactions(
    index: TransactionIndex,
    directory: RowDirectory,
    selection: TransactionFilter,
    *,
    max_rows: int = MAX_EXPORT_ROWS,
) -> list[TransactionRow]:
    """Every matching row of the range, newest first (the export).

    Raises:
        InvalidInput: more than ``max_rows`` rows match (narrow the range or filter).
        UpstreamFailure.
    """
    rows: list[TransactionRow] = []
    position: _Position | None = _Position(selection.to_on, None)
    while position is not None:
        batch, position = _rows(
            index,
            directory,
            selection,
            position,
            limit=max_rows + 1 - len(rows),
            max_scanned=MAX_SCANNED_ROWS * 10,
        )
        rows.extend(batch)
        if len(rows) > max_rows:
            raise InvalidInput(
                f"more than {max_rows} transactions match: narrow the date range or filter",
                field="from",
            )
    return rows


# ---------------------------------------------------------------- CSV


CSV_HEADER = (
    "订单号",
    "时间(北京时间)",
    "用户",
    "用户名",
    "手机号",
    "电桩名称",
    "电桩编号",
    "类型",
    "支付方式",
    "金额(元)",
    "余额(元)",
    "流水号",
)


def safe_cell(text: str | None) -> str:
    """A text cell a spreadsheet will show as text: one starting with ``= + - @`` (or a
    tab/CR) gets a leading ``'`` so Excel never runs it as a formula."""
    if not text:
        return ""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def yuan(fen: int | None) -> str:
    """Fen as a yuan amount with two decimals (``-1234`` -> ``-12.34``); integer math only."""
    if fen is None:
        return ""
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"


def _local_time(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def csv_lines(rows: Sequence[TransactionRow]) -> Iterator[str]:
    """The CSV text line by line (RFC 4180 quoting, CRLF), starting with a UTF-8 BOM so
    Excel reads the Chinese text right. Text cells are defused against formulas; the
    amount cells are numbers we format ourselves."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_HEADER)
    yield _BOM + flush()
    for row in rows:
        writer.writerow(
            (
                safe_cell(row.order_no),
                _local_time(row.posted_at),
                safe_cell(row.user_id),
                safe_cell(row.user_name),
                safe_cell(row.phone),
                safe_cell(row.pile_name),
                safe_cell(row.pile_id),
                TYPE_LABELS[row.type],
                safe_cell(row.method),
                yuan(row.amount_fen),
                yuan(row.balance_after_fen),
                safe_cell(row.transfer_id),
            )
        )
        yield flush()


def transactions_csv(rows: Sequence[TransactionRow]) -> str:
    """The whole export as one string (BOM + header + rows)."""
    return "".join(csv_lines(rows))
