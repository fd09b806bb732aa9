"""The gateway messages as pydantic models (see ``shared/domain/gateways.py`` for the
topic scheme): loaded when the first message is parsed, never at import of the bridge or
the operator API. Import the names from ``shared.domain.gateways``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.domain.errors import InvalidInput
from shared.domain.gateways import (
    GATEWAY_ID_PATTERN,
    MAX_CYCLES_PER_MESSAGE,
    MAX_FRAME_TEXT,
    MAX_FRAMES_PER_MESSAGE,
)

GatewayId = Annotated[str, Field(pattern=GATEWAY_ID_PATTERN)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    gateway_id: GatewayId


FrameText = Annotated[str, Field(min_length=1, max_length=MAX_FRAME_TEXT)]


class FrameRef(BaseModel):
    """One RTU response with the read it answers: ``start`` + ``count`` (the device address
    and function code are in the frame), or the ``poll`` id of the device's register map."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    rtu: FrameText
    start: Annotated[int, Field(ge=0, le=65535)] | None = None
    count: Annotated[int, Field(ge=1, le=125)] | None = None
    poll: Annotated[str, Field(min_length=1, max_length=48)] | None = None
    fn: Annotated[int, Field(ge=1, le=127)] | None = None  # default: the map's read function


class DataMessage(_Message):
    """RTU responses the gateway relays, numbered by ``seq`` (resumed after an outage).

    A frame given as a bare base64 string carries no request: it is CRC-checked and
    counted but never written (an RTU response does not say which registers it holds).
    """

    type: Literal["data"] = "data"
    seq: Annotated[int, Field(ge=0, le=2**32 - 1)]
    ts: AwareDatetime
    frames: Annotated[
        list[FrameText | FrameRef],
        Field(max_length=MAX_FRAMES_PER_MESSAGE),
    ]


class Cycle(BaseModel):
    """One poll cycle inside a batch: the gateway's ``seq`` and timestamp, and its frames."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: Annotated[int, Field(ge=0, le=2**32 - 1)]
    ts: AwareDatetime
    frames: Annotated[list[FrameText | FrameRef], Field(max_length=MAX_FRAMES_PER_MESSAGE)]


class BatchMessage(_Message):
    """Several poll cycles in one message: a gateway that polls every minute and publishes
    every few minutes (what the cost target needs), or replays its backlog."""

    type: Literal["batch"] = "batch"
    cycles: Annotated[list[Cycle], Field(min_length=1, max_length=MAX_CYCLES_PER_MESSAGE)]


def cycles(message: DataMessage | BatchMessage) -> list[Cycle]:
    """The message's cycles in gateway-time order (one for a single-cycle envelope)."""
    if isinstance(message, BatchMessage):
        return sorted(message.cycles, key=lambda cycle: (cycle.ts, cycle.seq))
    return [Cycle(seq=message.seq, ts=message.ts, frames=message.frames)]


class RegistrationMessage(_Message):
    """The DTU's registration packet: its SIM card's ICCID."""

    type: Literal["register"]
    iccid: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{18,22}$")]


class HeartbeatMessage(_Message):
    type: Literal["heartbeat"]


class RawMessage(_Message):
    """What a transparent DTU sent on ``gw/{id}/raw``, base64 by the IoT rule: an RTU answer,
    its registration packet (the ICCID) or its heartbeat, told apart by content."""

    type: Literal["raw"] = "raw"
    raw: Annotated[str, Field(min_length=0, max_length=MAX_FRAME_TEXT)]


GatewayMessage = DataMessage | BatchMessage | RegistrationMessage | HeartbeatMessage | RawMessage

_MODELS: dict[
    str,
    type[DataMessage]
    | type[BatchMessage]
    | type[RegistrationMessage]
    | type[HeartbeatMessage]
    | type[RawMessage],
] = {
    "data": DataMessage,
    "batch": BatchMessage,
    "register": RegistrationMessage,
    "heartbeat": HeartbeatMessage,
    "raw": RawMessage,
}


def parse(raw: Mapping[str, Any]) -> GatewayMessage:
    """Validate the IoT rule's event.

    Raises:
        InvalidInput: unknown type, or a field missing or out of shape.
    """
    default = "raw" if "raw" in raw else "batch" if "cycles" in raw else "data"
    kind = raw.get("type", default)
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidInput("unknown gateway message type", field="type")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        fields = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise InvalidInput("invalid gateway message", fields=fields) from exc
