"""Gateway records in BaseDataTable (``GATEWAY#{gateway_id}`` / ``GATEWAY``), their bad-frame
day counters in StatsTable, and the sites' live load in SessionsTable.

The gateway item holds when the gateway was last heard from (``last_seen_at``), the
newest message's ``last_seq`` and gateway timestamp (``states_at``), its SIM's ``iccid``,
the bus ``devices`` (address -> map id, pile or station, PT/CT; set by
``configure_gateway``) and ``port_states`` (``"{pile}#{port}" -> "{state}|{fault mask}"``
as of ``states_at``). The item is created by the first message (an upsert): gateways
announce themselves before an operator assigns their devices.

Presence of the piles on the bus (``shared/domain/gateways.py``): while the bridge holds
them online the item carries ``gsi3pk = "GATEWAY_PRESENCE"`` and ``gsi3sk`` = the sweep's
due time (a sparse index, GSI3 of BaseDataTable, keys only: the per-message updates of the
other attributes never write to it), ``present_piles`` (the piles marked online) and,
optionally, ``offline_after_s`` (the gateway's own silence threshold).

Day counters: StatsTable ``GATEWAY#{gateway_id}`` / ``DAY#{yyyy-mm-dd}`` (Asia/Shanghai
day), one number per frame verdict, atomic ADD.

Site load: SessionsTable ``SITELOAD#{station_id}`` / ``SITELOAD``: ``power_w`` (negative =
export), ``energy_import_wh``, ``current_ma`` / ``voltage_dv`` (phases a, b, c), ``at``
(gateway time), ``received_at``, ``gateway_id``; only a newer gateway time overwrites it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.connections import (
    conditional_update,
    is_condition_failure,
    n,
    number_of,
    s,
    text_of,
    upstream,
)
from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import Conflict, NotFound
from shared.domain.gateways import (
    BusDevice,
    GatewayConfig,
    GatewayPresence,
    GatewayRecord,
    GatewaySeen,
    PendingRead,
    bus_piles,
    paid_port_key,
)
from shared.domain.modbus_readings import SiteLoad

PRESENCE_INDEX = "GSI3"
PRESENCE_PARTITION = "GATEWAY_PRESENCE"
_GATEWAY_PREFIX = "GATEWAY#"


def gateway_key(gateway_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"{_GATEWAY_PREFIX}{gateway_id}"), "sk": s("GATEWAY")}


def _strings(item: dict[str, Any], name: str) -> frozenset[str]:
    value = item.get(name)
    if not isinstance(value, dict):
        return frozenset()
    return frozenset(
        element["S"]
        for element in value.get("L", [])
        if isinstance(element, dict) and "S" in element
    )


def _devices_of(item: dict[str, Any]) -> dict[int, BusDevice]:
    devices: dict[int, BusDevice] = {}
    for key, value in item.get("devices", {}).get("M", {}).items():
        if key.isdigit():
            device = _device_from(int(key), value)
            if device is not None:
                devices[device.address] = device
    return devices


def site_load_key(station_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"SITELOAD#{station_id}"), "sk": s("SITELOAD")}


def _pending_value(pending: PendingRead) -> dict[str, Any]:
    return {
        "M": {
            "address": n(pending.address),
            "function": n(pending.function),
            "start": n(pending.start),
            "count": n(pending.count),
            "index": n(pending.index),
            "sent_at": s(to_wire(pending.sent_at)),
            "cycle_started_at": s(to_wire(pending.cycle_started_at)),
        }
    }


def _pending_from(value: Any) -> PendingRead | None:
    fields = value.get("M") if isinstance(value, dict) else None
    if not isinstance(fields, dict):
        return None
    try:
        return PendingRead(
            address=int(fields["address"]["N"]),
            function=int(fields["function"]["N"]),
            start=int(fields["start"]["N"]),
            count=int(fields["count"]["N"]),
            index=int(fields["index"]["N"]),
            sent_at=from_wire(fields["sent_at"]["S"]),
            cycle_started_at=from_wire(fields["cycle_started_at"]["S"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _device_value(device: BusDevice) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "map_id": s(device.map_id),
        "operator_id": s(device.operator_id),
        "pt": n(device.pt),
        "ct": n(device.ct),
    }
    if device.station_id is not None:
        fields["station_id"] = s(device.station_id)
    if device.pile_id is not None:
        fields["pile_id"] = s(device.pile_id)
    return {"M": fields}


def _device_from(address: int, value: dict[str, Any]) -> BusDevice | None:
    fields = value.get("M")
    if not isinstance(fields, dict):
        return None
    map_id = text_of(fields, "map_id")
    operator_id = text_of(fields, "operator_id")
    if map_id is None or operator_id is None:
        return None
    return BusDevice(
        address=address,
        map_id=map_id,
        operator_id=operator_id,
        station_id=text_of(fields, "station_id"),
        pile_id=text_of(fields, "pile_id"),
        pt=number_of(fields, "pt") or 1,
        ct=number_of(fields, "ct") or 1,
    )


class DynamoGateways:
    """The bridge's gateway store: 1 GetItem + 1 UpdateItem per message (2 when late)."""

    def __init__(self, table_name: str, client: Any, stats_table: str | None = None) -> None:
        self._table = table_name
        self._client = client
        self._stats = stats_table

    def config(self, gateway_id: str) -> GatewayConfig | None:
        """Devices and port states; None for a gateway never heard of. Raises: UpstreamFailure."""
        item = self._gateway_item(
            gateway_id,
            "devices, port_states, states_at, pending, cycle_started_at, gsi3sk, present_piles, "
            "offline_after_s, paid_ports",
        )
        if item is None:
            return None
        devices = _devices_of(item)
        states = {
            key: value["S"]
            for key, value in item.get("port_states", {}).get("M", {}).items()
            if "S" in value
        }
        states_at = text_of(item, "states_at")
        cycle_at = text_of(item, "cycle_started_at")
        due = text_of(item, "gsi3sk")
        return GatewayConfig(
            gateway_id,
            devices,
            states,
            from_wire(states_at) if states_at else None,
            pending=_pending_from(item.get("pending")),
            cycle_started_at=from_wire(cycle_at) if cycle_at else None,
            presence_due=from_wire(due) if due else None,
            present_piles=_strings(item, "present_piles"),
            offline_after_s=number_of(item, "offline_after_s"),
            paid_ports={
                key: value["S"]
                for key, value in item.get("paid_ports", {}).get("M", {}).items()
                if "S" in value
            },
        )

    def set_devices(self, gateway_id: str, devices: Sequence[BusDevice]) -> None:
        """Replace the gateway's bus devices (creates the item). Raises: UpstreamFailure."""
        self._update(
            gateway_id,
            ["gateway_id = :id", "devices = :devices"],
            {
                ":id": s(gateway_id),
                ":devices": {"M": {str(d.address): _device_value(d) for d in devices}},
            },
            condition=None,
        )

    def gateway(self, gateway_id: str) -> GatewayRecord | None:
        """The gateway as the operator API shows it (consistent read); None when never heard
        of nor configured. Raises: UpstreamFailure."""
        item = self._gateway_item(
            gateway_id,
            "devices, operator_id, devices_version, last_seen_at, last_seq, states_at, iccid, "
            "offline_after_s",
            consistent=True,
        )
        if item is None:
            return None
        devices = _devices_of(item)
        last_seen = text_of(item, "last_seen_at")
        states_at = text_of(item, "states_at")
        return GatewayRecord(
            gateway_id=gateway_id,
            devices=dict(sorted(devices.items())),
            operator_id=text_of(item, "operator_id"),
            devices_version=number_of(item, "devices_version") or 0,
            last_seen_at=from_wire(last_seen) if last_seen else None,
            last_seq=number_of(item, "last_seq"),
            states_at=from_wire(states_at) if states_at else None,
            iccid=text_of(item, "iccid"),
            offline_after_s=number_of(item, "offline_after_s"),
        )

    def replace_devices(
        self,
        gateway_id: str,
        operator_id: str,
        devices: Sequence[BusDevice],
        expected_version: int,
    ) -> int:
        """Replace the bus devices and stamp the owning operator, if the configuration is
        still at ``expected_version`` (0: never configured through this method); returns the
        new version.

        Raises:
            Conflict: the configuration changed since it was read.
            UpstreamFailure: the store failed.
        """
        if expected_version == 0:
            condition = "attribute_not_exists(devices_version)"
            values: dict[str, Any] = {}
        else:
            condition = "devices_version = :expected"
            values = {":expected": n(expected_version)}
        values.update(
            {
                ":id": s(gateway_id),
                ":op": s(operator_id),
                ":devices": {"M": {str(d.address): _device_value(d) for d in devices}},
                ":version": n(expected_version + 1),
            }
        )
        try:
            self._update(
                gateway_id,
                [
                    "gateway_id = :id",
                    "operator_id = :op",
                    "devices = :devices",
                    "devices_version = :version",
                ],
                values,
                condition=condition,
            )
        except ClientError as exc:
            raise Conflict(
                "the gateway's configuration changed meanwhile; read it and try again",
                field="gateway_id",
            ) from exc
        return expected_version + 1

    def record(self, seen: GatewaySeen) -> bool:
        """Stamp the gateway; False when the message is not newer than the stored one (by the
        gateway timestamp when it has one, else by ``seq``). Raises: UpstreamFailure."""
        sets = ["gateway_id = :id", "last_seen_at = :at"]
        values: dict[str, Any] = {":id": s(seen.gateway_id), ":at": s(to_wire(seen.seen_at))}
        removes: list[str] = []
        if seen.iccid is not None:
            sets.append("iccid = :iccid")
            values[":iccid"] = s(seen.iccid)
        if seen.presence is not None:
            sets.append("present_piles = :present")
            values[":present"] = {"L": [s(pile) for pile in sorted(seen.presence.present)]}
            if seen.presence.due is not None:
                sets.extend(["gsi3pk = :presence", "gsi3sk = :due"])
                values[":presence"] = s(PRESENCE_PARTITION)
                values[":due"] = s(to_wire(seen.presence.due))
        if seen.set_pending:
            if seen.pending is None:
                removes.append("pending")
            else:
                sets.append("pending = :pending")
                values[":pending"] = _pending_value(seen.pending)
                if seen.pending.index == 0:
                    sets.append("cycle_started_at = :cycle")
                    values[":cycle"] = s(to_wire(seen.pending.cycle_started_at))
        if seen.seq is None and seen.states_at is None:
            self._update(seen.gateway_id, sets, values, condition=None, removes=removes)
            return True
        newer_sets = list(sets)
        newer_values = dict(values)
        if seen.seq is not None:
            newer_sets.append("last_seq = :seq")
            newer_values[":seq"] = n(seen.seq)
        if seen.states_at is not None:
            newer_sets.append("states_at = :ts")
            newer_values[":ts"] = s(to_wire(seen.states_at))
            condition = "attribute_not_exists(states_at) OR states_at < :ts"
        else:
            condition = "attribute_not_exists(last_seq) OR last_seq < :seq"
        if seen.port_states is not None:
            newer_sets.append("port_states = :states")
            newer_values[":states"] = {"M": {k: s(v) for k, v in seen.port_states.items()}}
        # A late batch (store-and-forward) must not move the newest state backwards, but it
        # still shows the gateway is alive.
        try:
            self._update(
                seen.gateway_id, newer_sets, newer_values, condition=condition, removes=removes
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise upstream("UpdateItem") from exc
            self._update(seen.gateway_id, sets, values, condition=None, removes=removes)
            return False
        return True

    def record_sim(self, pile_id: str, iccid: str, vendor: str, model: str, at: datetime) -> bool:
        """The pile's SIM record (its ``boot`` map, as a 4G OCPP pile's BootNotification
        fills it) from its gateway's registration; False when the pile does not exist.

        Raises: UpstreamFailure."""
        boot = {
            "M": {
                "vendor": s(vendor),
                "model": s(model),
                "iccid": s(iccid),
                "booted_at": s(to_wire(at)),
            }
        }
        return conditional_update(
            self._client,
            TableName=self._table,
            Key={"pk": s(f"PILE#{pile_id}"), "sk": s("PILE")},
            UpdateExpression="SET boot = :boot",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":boot": boot},
        )

    # Paid ports (e-bike paid charging) ------------------------------------------------------

    def set_paid_port(self, gateway_id: str, pile_id: str, port_no: int, order_no: str) -> bool:
        """``paid_ports["{pile}#{port}"] = order_no`` (the map is created with the first);
        False when the gateway item does not exist. Raises: UpstreamFailure."""
        names = {"#k": paid_port_key(pile_id, port_no)}
        order = s(order_no)
        for _ in range(3):  # the map's first entry races another's: at most a retry or two
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=gateway_key(gateway_id),
                    UpdateExpression="SET paid_ports.#k = :order",
                    ConditionExpression="attribute_exists(paid_ports)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":order": order},
                )
                return True
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise upstream("UpdateItem") from exc
            except BotoCoreError as exc:
                raise upstream("UpdateItem") from exc
            if self._conditional(
                gateway_id,
                "SET paid_ports = :ports",
                "attribute_exists(pk) AND attribute_not_exists(paid_ports)",
                {":ports": {"M": {names["#k"]: order}}},
            ):
                return True
            if self.config(gateway_id) is None:
                return False
        raise upstream("UpdateItem")

    def clear_paid_port(self, gateway_id: str, pile_id: str, port_no: int, order_no: str) -> bool:
        """Remove the port's entry if it still names ``order_no``; False otherwise.

        Raises: UpstreamFailure."""
        return conditional_update(
            self._client,
            TableName=self._table,
            Key=gateway_key(gateway_id),
            UpdateExpression="REMOVE paid_ports.#k",
            ConditionExpression="paid_ports.#k = :order",
            ExpressionAttributeNames={"#k": paid_port_key(pile_id, port_no)},
            ExpressionAttributeValues={":order": s(order_no)},
        )

    # Presence sweep (housekeeping) ---------------------------------------------------------

    def due_for_presence(self, now: datetime, limit: int = 200) -> list[str]:
        """Gateways whose piles are held online and whose due time is ``<= now``, earliest
        first (1 Query of the sparse keys-only index). Raises: UpstreamFailure."""
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName=PRESENCE_INDEX,
                KeyConditionExpression="gsi3pk = :p AND gsi3sk <= :now",
                ExpressionAttributeValues={
                    ":p": s(PRESENCE_PARTITION),
                    ":now": s(to_wire(now)),
                },
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("Query") from exc
        found = []
        for item in response.get("Items", []):
            pk = text_of(item, "pk") or ""
            if pk.startswith(_GATEWAY_PREFIX):
                found.append(pk[len(_GATEWAY_PREFIX) :])
        return found

    def presence(self, gateway_id: str) -> GatewayPresence | None:
        """The gateway as the sweep judges it (consistent GetItem); None when it is gone.

        Raises: UpstreamFailure."""
        item = self._gateway_item(
            gateway_id,
            "devices, last_seen_at, gsi3sk, present_piles, offline_after_s",
            consistent=True,
        )
        if item is None:
            return None
        last_seen = text_of(item, "last_seen_at")
        due = text_of(item, "gsi3sk")
        return GatewayPresence(
            gateway_id=gateway_id,
            last_seen_at=from_wire(last_seen) if last_seen else None,
            presence_due=from_wire(due) if due else None,
            piles=bus_piles(_devices_of(item)) | _strings(item, "present_piles"),
            offline_after_s=number_of(item, "offline_after_s"),
        )

    def postpone_presence(self, presence: GatewayPresence, due: datetime) -> bool:
        """Move the due time of a gateway still heard from; False when it changed meanwhile
        (a message marked it, or another sweep moved it). Raises: UpstreamFailure."""
        assert presence.presence_due is not None
        return self._conditional(
            presence.gateway_id,
            "SET gsi3sk = :due",
            "gsi3sk = :was",
            {":due": s(to_wire(due)), ":was": s(to_wire(presence.presence_due))},
        )

    def release_presence(self, presence: GatewayPresence) -> bool:
        """First step of taking a silent gateway's piles offline: forget which piles are
        marked online (a message from now on marks them all online again), the gateway
        staying in the index until ``end_presence``; False when it spoke since ``presence``
        was read. Raises: UpstreamFailure."""
        condition, values = self._unchanged(presence)
        return self._conditional(presence.gateway_id, "REMOVE present_piles", condition, values)

    def end_presence(self, presence: GatewayPresence) -> bool:
        """Last step, after its piles were marked offline: out of the presence index; False
        when it spoke meanwhile (it stays indexed; the next sweep moves its due time).

        Raises: UpstreamFailure."""
        condition, values = self._unchanged(presence)
        return self._conditional(
            presence.gateway_id,
            "REMOVE gsi3pk, gsi3sk",
            condition + " AND attribute_not_exists(present_piles)",
            values,
        )

    @staticmethod
    def _unchanged(presence: GatewayPresence) -> tuple[str, dict[str, Any]]:
        assert presence.presence_due is not None
        values: dict[str, Any] = {":was": s(to_wire(presence.presence_due))}
        condition = "gsi3sk = :was"
        if presence.last_seen_at is None:
            condition += " AND attribute_not_exists(last_seen_at)"
        else:
            condition += " AND last_seen_at = :seen"
            values[":seen"] = s(to_wire(presence.last_seen_at))
        return condition, values

    def set_offline_after(self, gateway_id: str, seconds: int | None) -> None:
        """The gateway's own silence threshold (None: the default). Raises: UpstreamFailure."""
        if seconds is None:
            expression, values = "REMOVE offline_after_s", None
        else:
            expression, values = "SET offline_after_s = :s", {":s": n(seconds)}
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": gateway_key(gateway_id),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
        }
        if values is not None:
            request["ExpressionAttributeValues"] = values
        try:
            self._client.update_item(**request)
        except ClientError as exc:
            if is_condition_failure(exc):
                raise NotFound("no such gateway", field="gateway_id") from exc
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc

    def _gateway_item(
        self, gateway_id: str, projection: str, *, consistent: bool = False
    ) -> dict[str, Any] | None:
        """The gateway item's ``projection`` attributes, or None. Raises: UpstreamFailure."""
        try:
            item: dict[str, Any] | None = self._client.get_item(
                TableName=self._table,
                Key=gateway_key(gateway_id),
                ConsistentRead=consistent,
                ProjectionExpression=projection,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise upstream("GetItem") from exc
        return item

    def _conditional(
        self, gateway_id: str, expression: str, condition: str, values: dict[str, Any]
    ) -> bool:
        return conditional_update(
            self._client,
            TableName=self._table,
            Key=gateway_key(gateway_id),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )

    def count_frames(
        self, gateway_id: str, day: str, counts: Mapping[str, int], at: datetime
    ) -> None:
        """ADD each verdict's count to the day counter. Raises: UpstreamFailure."""
        if self._stats is None or not counts:
            return
        names = {f"#c{i}": name for i, name in enumerate(sorted(counts))}
        values: dict[str, Any] = {
            f":c{i}": n(counts[name]) for i, name in enumerate(sorted(counts))
        }
        values[":at"] = s(to_wire(at))
        values[":id"] = s(gateway_id)
        try:
            self._client.update_item(
                TableName=self._stats,
                Key={"pk": s(f"GATEWAY#{gateway_id}"), "sk": s(f"DAY#{day}")},
                UpdateExpression="ADD "
                + ", ".join(f"{name} :{name[1:]}" for name in names)
                + " SET updated_at = :at, gateway_id = :id",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("UpdateItem") from exc

    def frame_counts(self, gateway_id: str, day: str) -> dict[str, int]:
        """The day counter's numbers (verdict -> frames). Raises: UpstreamFailure."""
        if self._stats is None:
            return {}
        try:
            item = self._client.get_item(
                TableName=self._stats,
                Key={"pk": s(f"GATEWAY#{gateway_id}"), "sk": s(f"DAY#{day}")},
                ConsistentRead=True,
            ).get("Item", {})
        except (ClientError, BotoCoreError) as exc:
            raise upstream("GetItem") from exc
        return {name: int(value["N"]) for name, value in item.items() if "N" in value}

    def _update(
        self,
        gateway_id: str,
        sets: list[str],
        values: dict[str, Any],
        condition: str | None,
        removes: list[str] | None = None,
    ) -> None:
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": gateway_key(gateway_id),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if condition is not None:
            request["ConditionExpression"] = condition
        try:
            self._client.update_item(**request)
        except ClientError as exc:
            if condition is not None and is_condition_failure(exc):
                raise
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc


class DynamoSiteLoads:
    """``SiteLoads`` on SessionsTable: 1 UpdateItem per meter per message."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def record(self, load: SiteLoad) -> bool:
        """False when a newer load is stored already. Raises: UpstreamFailure."""
        sets = [
            "station_id = :station",
            "power_w = :power",
            "#at = :at",
            "received_at = :received",
            "gateway_id = :gw",
        ]
        values: dict[str, Any] = {
            ":station": s(load.station_id),
            ":power": n(load.power_w),
            ":at": s(to_wire(load.at)),
            ":received": s(to_wire(load.received_at)),
            ":gw": s(load.gateway_id),
        }
        if load.energy_import_wh is not None:
            sets.append("energy_import_wh = :energy")
            values[":energy"] = n(load.energy_import_wh)
        for name, triple in (("current_ma", load.current_ma), ("voltage_dv", load.voltage_dv)):
            if triple is not None:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = {"L": [n(v) for v in triple]}
        return conditional_update(
            self._client,
            TableName=self._table,
            Key=site_load_key(load.station_id),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_not_exists(#at) OR #at < :at",
            ExpressionAttributeNames={"#at": "at"},
            ExpressionAttributeValues=values,
        )

    def get(self, station_id: str) -> SiteLoad | None:
        """The station's live load, or None. Raises: UpstreamFailure."""
        try:
            item = self._client.get_item(TableName=self._table, Key=site_load_key(station_id)).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("GetItem") from exc
        if item is None:
            return None

        def triple(name: str) -> tuple[int, int, int] | None:
            found = [int(v["N"]) for v in item.get(name, {}).get("L", [])]
            return (found[0], found[1], found[2]) if len(found) == 3 else None

        return SiteLoad(
            station_id=station_id,
            at=from_wire(item["at"]["S"]),
            received_at=from_wire(item["received_at"]["S"]),
            gateway_id=item["gateway_id"]["S"],
            power_w=int(item["power_w"]["N"]),
            energy_import_wh=number_of(item, "energy_import_wh"),
            current_ma=triple("current_ma"),
            voltage_dv=triple("voltage_dv"),
        )
