"""Base-data use cases on in-memory fakes: roles, tenancy, pile/gun rules, tariff versions,
card money, staff logins, health."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.base_data import PageRequest
from shared.domain.cards import CardStatus
from shared.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    UpstreamFailure,
)
from shared.domain.passwords import verify_password
from shared.domain.tariffs import PeriodKind, TariffPeriod
from shared.domain.tenancy import Principal, Role
from shared.services import base_data as svc
from shared.services import base_data_cards as cards
from shared.services import base_data_piles as piles
from shared.services import base_data_pricing as pricing
from shared.services import staff
from tests.unit.base_data_fakes import FakeStaffDirectory, FakeWallets, InMemoryBaseData

ROOT = Principal("root", Role.PLATFORM_ADMIN, None)
PASSWORD = "pile-password-0001"


def _salt(size: int) -> bytes:
    return b"s" * size


def _periods(*, flat_fen: int = 80) -> tuple[TariffPeriod, ...]:
    return (
        TariffPeriod(PeriodKind.VALLEY, "23:00", "07:00", 30, 40),
        TariffPeriod(PeriodKind.FLAT, "07:00", "23:00", flat_fen, 40),
    )


class World:
    """Two operators (A, B), each with an admin and maintenance staff, a station and a tariff."""

    def __init__(self, clock, new_id) -> None:
        self.repo = InMemoryBaseData()
        self.wallets = FakeWallets(clock)
        self.clock = clock
        self.new_id = new_id
        self.op_a = svc.create_operator(self.repo, ROOT, {"name": "A"}, clock=clock, new_id=new_id)
        self.op_b = svc.create_operator(self.repo, ROOT, {"name": "B"}, clock=clock, new_id=new_id)
        self.admin_a = Principal("admin-a", Role.OPERATOR_ADMIN, self.op_a.operator_id)
        self.maint_a = Principal("maint-a", Role.MAINTENANCE, self.op_a.operator_id)
        self.admin_b = Principal("admin-b", Role.OPERATOR_ADMIN, self.op_b.operator_id)
        self.tariff_a = pricing.create_tariff(
            self.repo,
            self.admin_a,
            None,
            {"name": "TOU", "periods": _periods()},
            clock=clock,
            new_id=new_id,
        )
        self.station_a = self.station(self.admin_a)
        self.station_b = self.station(self.admin_b)

    def station(self, principal: Principal, **overrides):
        fields = {
            "name": "Site",
            "address": "1 Road",
            "lat": 31.23,
            "lng": 121.47,
            "transformer_capacity_kva": 630,
            "partner_share_bp": 5000,
        }
        fields.update(overrides)
        return svc.create_station(
            self.repo, principal, None, fields, clock=self.clock, new_id=self.new_id
        )

    def pile(self, principal: Principal, station_id: str, pile_id: str = "CP-1", **overrides):
        fields = {
            "pile_id": pile_id,
            "station_id": station_id,
            "serial": "SN",
            "kind": "car",
            "protocol": "ocpp1.6",
            "model": "AC7",
            "rated_power_w": 7000,
            "gun_count": 2,
            "password": PASSWORD,
            "is_enabled": True,
            "gateway_id": None,
            "modbus_address": None,
            "name": None,
        }
        fields.update(overrides)
        return piles.create_pile(self.repo, principal, fields, clock=self.clock, random_bytes=_salt)

    def card(self, principal: Principal, card_no: str = "CARD-1"):
        return cards.issue_card(
            self.repo,
            self.wallets,
            principal,
            None,
            {"card_no": card_no, "holder_name": "Li", "phone": "13800000000"},
            clock=self.clock,
        )


@pytest.fixture
def world(clock, new_id) -> World:
    return World(clock, new_id)


# --- operators and roles ------------------------------------------------------------------------


def test_only_a_platform_admin_creates_and_deletes_operators_when_staff_try(world):
    for principal in (world.admin_a, world.maint_a):
        with pytest.raises(Forbidden):
            svc.create_operator(
                world.repo, principal, {"name": "X"}, clock=world.clock, new_id=world.new_id
            )
        with pytest.raises(Forbidden):
            svc.delete_operator(world.repo, principal, world.op_a.operator_id)


def test_staff_see_only_their_own_operator_when_listing_operators(world):
    page = svc.list_operators(world.repo, world.maint_a, PageRequest())
    assert [op.operator_id for op in page.items] == [world.op_a.operator_id]
    assert len(svc.list_operators(world.repo, ROOT, PageRequest()).items) == 2
    with pytest.raises(NotFound):
        svc.get_operator(world.repo, world.admin_a, world.op_b.operator_id)


def test_operator_admin_changes_only_its_own_operator_when_patching(world, clock):
    clock.advance(minutes=1)
    updated = svc.update_operator(
        world.repo, world.admin_a, world.op_a.operator_id, {"contact_name": "Wang"}, clock=clock
    )
    assert updated.contact_name == "Wang" and updated.updated_at == clock()
    with pytest.raises(NotFound):
        svc.update_operator(
            world.repo, world.admin_a, world.op_b.operator_id, {"name": "Mine"}, clock=clock
        )
    with pytest.raises(Forbidden):
        svc.update_operator(
            world.repo, world.maint_a, world.op_a.operator_id, {"name": "X"}, clock=clock
        )
    assert world.repo.operators[world.op_b.operator_id].name == "B"


def test_operator_cannot_be_deleted_when_it_still_owns_stations(world):
    with pytest.raises(Conflict):
        svc.delete_operator(world.repo, ROOT, world.op_a.operator_id)
    empty = svc.create_operator(
        world.repo, ROOT, {"name": "C"}, clock=world.clock, new_id=world.new_id
    )
    svc.delete_operator(world.repo, ROOT, empty.operator_id)
    assert empty.operator_id not in world.repo.operators


# --- stations -----------------------------------------------------------------------------------


def test_platform_admin_must_name_the_operator_when_creating_a_station(world):
    with pytest.raises(InvalidInput, match="operator_id is required"):
        world.station(ROOT)
    station = svc.create_station(
        world.repo,
        ROOT,
        world.op_b.operator_id,
        {
            "name": "S",
            "address": "A",
            "lat": 0.0,
            "lng": 0.0,
            "transformer_capacity_kva": 1,
            "partner_share_bp": 0,
        },
        clock=world.clock,
        new_id=world.new_id,
    )
    assert station.operator_id == world.op_b.operator_id


def test_staff_cannot_create_for_another_operator_when_naming_it(world):
    with pytest.raises(NotFound):
        svc.create_station(
            world.repo,
            world.admin_a,
            world.op_b.operator_id,
            {
                "name": "S",
                "address": "A",
                "lat": 0.0,
                "lng": 0.0,
                "transformer_capacity_kva": 1,
                "partner_share_bp": 0,
            },
            clock=world.clock,
            new_id=world.new_id,
        )


def test_maintenance_reads_but_cannot_write_when_touching_stations(world):
    assert svc.get_station(world.repo, world.maint_a, world.station_a.station_id) == world.station_a
    with pytest.raises(Forbidden):
        world.station(world.maint_a)
    with pytest.raises(Forbidden):
        svc.update_station(
            world.repo, world.maint_a, world.station_a.station_id, {"name": "X"}, clock=world.clock
        )
    with pytest.raises(Forbidden):
        svc.delete_station(world.repo, world.maint_a, world.station_a.station_id)


def test_station_takes_only_its_operators_tariff_when_one_is_set(world):
    with_tariff = world.station(world.admin_a, tariff_id=world.tariff_a.tariff_id)
    assert with_tariff.tariff_id == world.tariff_a.tariff_id
    with pytest.raises(NotFound):
        world.station(world.admin_b, tariff_id=world.tariff_a.tariff_id)
    with pytest.raises(NotFound):
        svc.update_station(
            world.repo,
            ROOT,
            world.station_b.station_id,
            {"tariff_id": world.tariff_a.tariff_id},
            clock=world.clock,
        )


def test_station_cannot_be_deleted_when_piles_remain(world):
    world.pile(world.admin_a, world.station_a.station_id)
    with pytest.raises(Conflict):
        svc.delete_station(world.repo, world.admin_a, world.station_a.station_id)
    piles.delete_pile(world.repo, world.admin_a, "CP-1")
    svc.delete_station(world.repo, world.admin_a, world.station_a.station_id)
    assert world.station_a.station_id not in world.repo.stations


def test_station_change_is_validated_as_a_whole_when_patched(world):
    with pytest.raises(InvalidInput):
        svc.update_station(
            world.repo,
            world.admin_a,
            world.station_a.station_id,
            {"partner_share_bp": 20_000},
            clock=world.clock,
        )
    assert world.repo.stations[world.station_a.station_id] == world.station_a


# --- piles and guns -----------------------------------------------------------------------------


def test_pile_is_registered_with_its_guns_and_a_salted_hash_when_created(world):
    pile, guns = world.pile(world.admin_a, world.station_a.station_id, gun_count=3)
    assert pile.operator_id == world.op_a.operator_id and pile.name == "CP-1"
    assert [g.gun_no for g in guns] == [1, 2, 3]
    assert pile.password_hash is not None
    assert PASSWORD not in pile.password_hash
    assert verify_password(PASSWORD, pile.password_hash)


def test_pile_id_is_unique_platform_wide_when_another_operator_takes_it(world):
    world.pile(world.admin_a, world.station_a.station_id)
    with pytest.raises(Conflict):
        world.pile(world.admin_b, world.station_b.station_id)


def test_pile_cannot_go_into_another_operators_station_when_created(world):
    with pytest.raises(NotFound):
        world.pile(world.admin_a, world.station_b.station_id)
    assert world.repo.piles == {}


def test_ocpp_pile_needs_an_acceptable_password_when_created(world):
    with pytest.raises(InvalidInput, match="password"):
        world.pile(world.admin_a, world.station_a.station_id, password=None)
    with pytest.raises(InvalidInput, match=r"16\.\.40"):
        world.pile(world.admin_a, world.station_a.station_id, password="short")
    modbus, ports = world.pile(
        world.admin_a,
        world.station_a.station_id,
        "EB-1",
        kind="ebike",
        protocol="modbus",
        gun_count=10,
        password=None,
        gateway_id="GW-1",
        modbus_address=2,
    )
    assert modbus.password_hash is None and len(ports) == 10
    with pytest.raises(InvalidInput, match="modbus pile has no password"):
        piles.set_pile_password(
            world.repo, world.admin_a, "EB-1", PASSWORD, clock=world.clock, random_bytes=_salt
        )


def test_new_password_replaces_the_old_when_set(world):
    world.pile(world.admin_a, world.station_a.station_id)
    new = "another-password-02"
    pile = piles.set_pile_password(
        world.repo, world.admin_a, "CP-1", new, clock=world.clock, random_bytes=_salt
    )
    assert pile.password_hash is not None
    assert verify_password(new, pile.password_hash)
    assert not verify_password(PASSWORD, pile.password_hash)


def test_gun_is_renamed_and_disabled_when_patched(world):
    world.pile(world.admin_a, world.station_a.station_id)
    gun = piles.update_gun(
        world.repo,
        world.admin_a,
        "CP-1",
        2,
        {"name": "Left", "is_enabled": False},
        clock=world.clock,
    )
    assert (gun.name, gun.is_enabled) == ("Left", False)
    with pytest.raises(NotFound):
        piles.update_gun(world.repo, world.admin_a, "CP-1", 3, {"name": "X"}, clock=world.clock)
    with pytest.raises(NotFound):
        piles.update_gun(world.repo, world.admin_b, "CP-1", 1, {"name": "X"}, clock=world.clock)


def test_piles_of_another_operators_station_answer_not_found_when_listed(world):
    world.pile(world.admin_a, world.station_a.station_id)
    page = piles.list_piles(
        world.repo, world.maint_a, None, world.station_a.station_id, PageRequest()
    )
    assert [p.pile_id for p in page.items] == ["CP-1"]
    with pytest.raises(NotFound):
        piles.list_piles(world.repo, world.admin_b, None, world.station_a.station_id, PageRequest())
    by_station = piles.list_piles(world.repo, ROOT, None, world.station_a.station_id, PageRequest())
    assert [p.pile_id for p in by_station.items] == ["CP-1"]


# --- tariffs and discounts ----------------------------------------------------------------------


def test_each_tariff_change_is_a_new_version_when_patched(world, clock):
    clock.advance(hours=1)
    v2 = pricing.update_tariff(
        world.repo,
        world.admin_a,
        world.tariff_a.tariff_id,
        {"periods": _periods(flat_fen=95)},
        clock=clock,
    )
    assert v2.version == 2
    v1 = pricing.get_tariff(world.repo, world.maint_a, world.tariff_a.tariff_id, 1)
    assert v1.periods[1].electricity_fen_per_kwh == 80
    assert pricing.get_tariff(world.repo, world.maint_a, world.tariff_a.tariff_id).version == 2


def test_tariff_with_a_gap_is_refused_when_patched(world):
    broken = (TariffPeriod(PeriodKind.FLAT, "00:00", "12:00", 80, 40),)
    with pytest.raises(InvalidInput, match="uncovered"):
        pricing.update_tariff(
            world.repo,
            world.admin_a,
            world.tariff_a.tariff_id,
            {"periods": broken},
            clock=world.clock,
        )
    assert world.repo.tariffs[world.tariff_a.tariff_id].version == 1


def test_tariff_in_use_cannot_be_deleted_when_a_station_uses_it(world):
    station = world.station(world.admin_a, tariff_id=world.tariff_a.tariff_id)
    with pytest.raises(Conflict):
        pricing.delete_tariff(world.repo, world.admin_a, world.tariff_a.tariff_id)
    svc.update_station(
        world.repo, world.admin_a, station.station_id, {"tariff_id": None}, clock=world.clock
    )
    pricing.delete_tariff(world.repo, world.admin_a, world.tariff_a.tariff_id)
    assert world.tariff_a.tariff_id not in world.repo.tariffs
    assert (world.tariff_a.tariff_id, 1) in world.repo.tariff_versions


def test_discount_names_only_the_operators_stations_when_created(world):
    fields = {
        "name": "Night",
        "kind": "percent_off_service",
        "percent_bp": 2000,
        "amount_fen": None,
        "starts_at": world.clock(),
        "ends_at": world.clock() + timedelta(days=1),
        "station_ids": (world.station_a.station_id,),
    }
    discount = pricing.create_discount(
        world.repo, world.admin_a, None, fields, clock=world.clock, new_id=world.new_id
    )
    assert discount.station_ids == (world.station_a.station_id,)
    foreign = {**fields, "station_ids": (world.station_b.station_id,)}
    with pytest.raises(NotFound) as caught:
        pricing.create_discount(
            world.repo, world.admin_a, None, foreign, clock=world.clock, new_id=world.new_id
        )
    assert caught.value.fields["unknown"] == [world.station_b.station_id]
    with pytest.raises(NotFound):
        pricing.update_discount(
            world.repo,
            world.admin_a,
            discount.discount_id,
            {"station_ids": (world.station_b.station_id,)},
            clock=world.clock,
        )


# --- cards ----------------------------------------------------------------------------------


def test_card_is_issued_with_an_empty_wallet_when_created(world):
    issued = world.card(world.admin_a)
    assert issued.card.status is CardStatus.ACTIVE and issued.balance_fen == 0
    assert "card:CARD-1" in world.wallets.wallets


def test_card_is_taken_back_when_its_wallet_cannot_be_opened(world):
    world.wallets.fail_open = True
    with pytest.raises(UpstreamFailure):
        world.card(world.admin_a)
    assert world.repo.cards == {}


def test_top_up_credits_once_and_answers_the_same_when_repeated(world, clock):
    world.card(world.admin_a)
    first = cards.top_up_card(
        world.repo,
        world.wallets,
        world.admin_a,
        "CARD-1",
        amount_fen=5000,
        request_id="req-0001",
        clock=clock,
    )
    cards.top_up_card(
        world.repo,
        world.wallets,
        world.admin_a,
        "CARD-1",
        amount_fen=700,
        request_id="req-0002",
        clock=clock,
    )
    again = cards.top_up_card(
        world.repo,
        world.wallets,
        world.admin_a,
        "CARD-1",
        amount_fen=5000,
        request_id="req-0001",
        clock=clock,
    )
    assert again == first and first.balance_fen == 5000
    assert world.wallets.get("card:CARD-1").balance_fen == 5700
    with pytest.raises(Conflict, match="another amount"):
        cards.top_up_card(
            world.repo,
            world.wallets,
            world.admin_a,
            "CARD-1",
            amount_fen=1,
            request_id="req-0001",
            clock=clock,
        )


def test_card_money_is_untouchable_when_another_operator_or_maintenance_asks(world):
    world.card(world.admin_a)
    with pytest.raises(NotFound):
        cards.top_up_card(
            world.repo,
            world.wallets,
            world.admin_b,
            "CARD-1",
            amount_fen=1,
            request_id="req-0001",
            clock=world.clock,
        )
    with pytest.raises(Forbidden):
        cards.top_up_card(
            world.repo,
            world.wallets,
            world.maint_a,
            "CARD-1",
            amount_fen=1,
            request_id="req-0001",
            clock=world.clock,
        )
    assert world.wallets.get("card:CARD-1").balance_fen == 0


def test_unbind_is_refused_while_money_is_left_unless_it_is_refunded(world):
    world.card(world.admin_a)
    cards.top_up_card(
        world.repo,
        world.wallets,
        world.admin_a,
        "CARD-1",
        amount_fen=300,
        request_id="req-0001",
        clock=world.clock,
    )
    with pytest.raises(Conflict, match="refund_balance"):
        cards.unbind_card(
            world.repo,
            world.wallets,
            world.admin_a,
            "CARD-1",
            refund_balance=False,
            clock=world.clock,
        )
    assert world.repo.cards["CARD-1"].status is CardStatus.ACTIVE
    unbound = cards.unbind_card(
        world.repo, world.wallets, world.admin_a, "CARD-1", refund_balance=True, clock=world.clock
    )
    assert unbound.card.status is CardStatus.UNBOUND and unbound.balance_fen == 0
    with pytest.raises(Conflict, match="unbound"):
        cards.top_up_card(
            world.repo,
            world.wallets,
            world.admin_a,
            "CARD-1",
            amount_fen=1,
            request_id="req-0009",
            clock=world.clock,
        )


def test_freeze_and_unfreeze_change_only_the_card_status_when_called(world):
    world.card(world.admin_a)
    frozen = cards.freeze_card(
        world.repo, world.wallets, world.admin_a, "CARD-1", clock=world.clock
    )
    assert frozen.card.status is CardStatus.FROZEN
    again = cards.freeze_card(world.repo, world.wallets, world.admin_a, "CARD-1", clock=world.clock)
    assert again.card.status is CardStatus.FROZEN
    active = cards.unfreeze_card(
        world.repo, world.wallets, world.admin_a, "CARD-1", clock=world.clock
    )
    assert active.card.status is CardStatus.ACTIVE


# --- staff and sign-in ---------------------------------------------------------------------------


def test_operator_admin_creates_maintenance_staff_only_for_its_operator(world):
    directory = FakeStaffDirectory()
    member = staff.create_staff(
        world.repo,
        directory,
        world.admin_a,
        world.op_a.operator_id,
        username="tech-1",
        password="Password-1234",
        role=Role.MAINTENANCE,
        clock=world.clock,
    )
    assert member.created_by == "admin-a"
    assert directory.users["tech-1"]["operator_id"] == world.op_a.operator_id
    with pytest.raises(NotFound):
        staff.create_staff(
            world.repo,
            directory,
            world.admin_a,
            world.op_b.operator_id,
            username="tech-2",
            password="Password-1234",
            role=Role.MAINTENANCE,
            clock=world.clock,
        )
    with pytest.raises(Forbidden):
        staff.create_staff(
            world.repo,
            directory,
            world.admin_a,
            world.op_a.operator_id,
            username="boss",
            password="Password-1234",
            role=Role.PLATFORM_ADMIN,
            clock=world.clock,
        )
    with pytest.raises(Forbidden):
        staff.create_staff(
            world.repo,
            directory,
            world.maint_a,
            world.op_a.operator_id,
            username="tech-3",
            password="Password-1234",
            role=Role.MAINTENANCE,
            clock=world.clock,
        )
    assert set(directory.users) == {"tech-1"}
    listed = staff.list_staff(world.repo, world.maint_a, world.op_a.operator_id, PageRequest())
    assert [m.username for m in listed.items] == ["tech-1"]


def test_sign_in_answers_alike_when_the_user_is_unknown_or_the_password_wrong():
    directory = FakeStaffDirectory()
    directory.users["u"] = {
        "password": "right-password",
        "role": Role.MAINTENANCE,
        "operator_id": "x",
    }
    with pytest.raises(Unauthenticated) as wrong:
        staff.sign_in(directory, "u", "wrong")
    with pytest.raises(Unauthenticated) as unknown:
        staff.sign_in(directory, "nobody", "wrong")
    assert wrong.value.message == unknown.value.message
    tokens = staff.sign_in(directory, "u", "right-password")
    assert tokens.refresh_token is not None
    assert staff.refresh_tokens(directory, tokens.refresh_token).id_token == tokens.id_token


# --- health ---------------------------------------------------------------------------------------


def test_health_reads_the_table_at_most_every_ten_seconds_when_polled(clock):
    repo = InMemoryBaseData()
    probe = svc.HealthProbe(repo, clock)
    assert probe.is_healthy() and probe.is_healthy()
    assert repo.pings == 1
    clock.advance(seconds=10)
    assert probe.is_healthy()
    assert repo.pings == 2
    repo.is_down = True
    clock.advance(seconds=10)
    assert not probe.is_healthy()
    assert not probe.is_healthy()
    assert repo.pings == 4
