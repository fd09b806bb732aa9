"""Fuzzing the OCPP router: malformed and schema-invalid frames through its lambda_handler.

A seeded generator builds frames that must all be refused: broken JSON, RPC arrays of the
wrong shape, unknown message types, unreadable ids, oversized CALLs, unknown and
CSMS-only actions, single schema violations of every action the router handles, any
CALL on a connection whose pile is not Accepted, and CALLRESULT/CALLERROR frames that
match no pending call. Each frame carries the answer the spec requires for the pile's
version (code and message id, or no answer), so the run counts:

- ``crashes``: an exception out of ``lambda_handler``, a status other than 200, or an
  ``InternalError`` answer (the handler's last resort);
- ``wrong_answers``: any other answer than the one expected (a wrong code for the
  version, a wrong id, a CALLRESULT, an answer where none is due or none where one is);
- ``state_changes``: checkpoints (every ``CHECKPOINT_EVERY`` frames and at the end)
  at which a scan of every table differs from the scan taken before the first frame.

Runs on in-process moto with the tables of template.yaml (``tests/support/aws.py``) and
the pile-side builders of the integration tests; frames per second count the handler
only, not the checkpoint scans.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHECKPOINT_EVERY = 2_000
VERSIONS = ("ocpp1.6", "ocpp2.0.1")
ACCEPTED = {"ocpp1.6": "fz-conn-16", "ocpp2.0.1": "fz-conn-201"}
NOT_ACCEPTED = {"ocpp1.6": "fz-new-16", "ocpp2.0.1": "fz-new-201"}

# Valid payloads of the actions the router handles, for single schema mutations:
# (path to a field, replacement, violated keyword) per mutation.
TEMPLATES: dict[tuple[str, str], dict[str, Any]] = {
    ("ocpp1.6", "BootNotification"): {"chargePointVendor": "V", "chargePointModel": "M"},
    ("ocpp1.6", "Heartbeat"): {},
    ("ocpp1.6", "StatusNotification"): {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": "2026-11-01T01:00:00Z",
    },
    ("ocpp1.6", "Authorize"): {"idTag": "FUZZ-CARD"},
    ("ocpp2.0.1", "BootNotification"): {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "V", "model": "M"},
    },
    ("ocpp2.0.1", "Heartbeat"): {},
    ("ocpp2.0.1", "StatusNotification"): {
        "timestamp": "2026-11-01T01:00:00Z",
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
    },
    ("ocpp2.0.1", "Authorize"): {"idToken": {"idToken": "FUZZ-CARD", "type": "ISO14443"}},
    ("ocpp1.6", "StartTransaction"): {
        "connectorId": 1,
        "idTag": "FUZZ-CARD",
        "meterStart": 0,
        "timestamp": "2026-11-01T01:00:00Z",
    },
    ("ocpp1.6", "StopTransaction"): {
        "transactionId": 1,
        "meterStop": 10,
        "timestamp": "2026-11-01T02:00:00Z",
    },
    ("ocpp1.6", "MeterValues"): {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2026-11-01T01:30:00Z", "sampledValue": [{"value": "5"}]}],
    },
    ("ocpp1.6", "DataTransfer"): {"vendorId": "fuzz.example"},
    ("ocpp1.6", "FirmwareStatusNotification"): {"status": "Idle"},
    ("ocpp1.6", "DiagnosticsStatusNotification"): {"status": "Idle"},
    ("ocpp2.0.1", "TransactionEvent"): {
        "eventType": "Started",
        "timestamp": "2026-11-01T01:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "fuzz-tx"},
    },
    ("ocpp2.0.1", "MeterValues"): {
        "evseId": 1,
        "meterValue": [{"timestamp": "2026-11-01T01:30:00Z", "sampledValue": [{"value": 5}]}],
    },
    ("ocpp2.0.1", "DataTransfer"): {"vendorId": "fuzz.example"},
    ("ocpp2.0.1", "FirmwareStatusNotification"): {"status": "Idle"},
    ("ocpp2.0.1", "LogStatusNotification"): {"status": "Idle"},
    ("ocpp2.0.1", "SecurityEventNotification"): {
        "type": "FirmwareUpdated",
        "timestamp": "2026-11-01T01:00:00Z",
    },
}
MUTATIONS: dict[tuple[str, str], list[tuple[tuple[str, ...], Any, str]]] = {
    ("ocpp1.6", "BootNotification"): [
        (("chargePointVendor",), None, "required"),
        (("chargePointModel",), 7, "type"),
        (("chargePointVendor",), "V" * 21, "property"),
        (("firmwareVersion",), "F" * 51, "property"),
    ],
    ("ocpp1.6", "Heartbeat"): [],
    ("ocpp1.6", "StatusNotification"): [
        (("status",), None, "required"),
        (("connectorId",), "1", "type"),
        (("connectorId",), 1.5, "type"),
        (("status",), "Exploded", "property"),
        (("errorCode",), "Meltdown", "property"),
        (("timestamp",), "yesterday", "property"),
        (("timestamp",), "2026-02-30T01:00:00Z", "property"),
    ],
    ("ocpp1.6", "Authorize"): [
        (("idTag",), None, "required"),
        (("idTag",), 5, "type"),
        (("idTag",), "X" * 21, "property"),
    ],
    ("ocpp2.0.1", "BootNotification"): [
        (("reason",), None, "required"),
        (("chargingStation", "model"), None, "required"),
        (("chargingStation",), "station", "type"),
        (("reason",), "Bored", "property"),
        (("chargingStation", "vendorName"), "V" * 51, "property"),
        (("chargingStation", "surprise"), 1, "additional"),
    ],
    ("ocpp2.0.1", "Heartbeat"): [],
    ("ocpp2.0.1", "StatusNotification"): [
        (("evseId",), None, "required"),
        (("timestamp",), None, "required"),
        (("evseId",), "1", "type"),
        (("connectorStatus",), "Exploded", "property"),
        (("timestamp",), "2026-13-01T01:00:00Z", "property"),
    ],
    ("ocpp2.0.1", "Authorize"): [
        (("idToken",), None, "required"),
        (("idToken", "type"), "Fingerprint", "property"),
        (("idToken", "idToken"), "X" * 37, "property"),
        (("idToken", "idToken"), ["X"], "type"),
    ],
    ("ocpp1.6", "StartTransaction"): [
        (("meterStart",), None, "required"),
        (("meterStart",), "0", "type"),
        (("idTag",), "X" * 21, "property"),
        (("timestamp",), "2026-11-01", "property"),
    ],
    ("ocpp1.6", "StopTransaction"): [
        (("transactionId",), None, "required"),
        (("meterStop",), 1.5, "type"),
        (("reason",), "Bored", "property"),
    ],
    ("ocpp1.6", "MeterValues"): [
        (("meterValue",), None, "required"),
        (("meterValue",), [], "required"),
        (("connectorId",), "1", "type"),
        (("transactionId",), "1", "type"),
    ],
    ("ocpp1.6", "DataTransfer"): [
        (("vendorId",), None, "required"),
        (("vendorId",), "V" * 256, "property"),
        (("messageId",), 7, "type"),
    ],
    ("ocpp1.6", "FirmwareStatusNotification"): [
        (("status",), None, "required"),
        (("status",), "Exploded", "property"),
    ],
    ("ocpp1.6", "DiagnosticsStatusNotification"): [
        (("status",), None, "required"),
        (("status",), 3, "type"),
    ],
    ("ocpp2.0.1", "TransactionEvent"): [
        (("seqNo",), None, "required"),
        (("transactionInfo", "transactionId"), None, "required"),
        (("seqNo",), "0", "type"),
        (("eventType",), "Paused", "property"),
        (("triggerReason",), "Boredom", "property"),
        (("transactionInfo", "transactionId"), "T" * 37, "property"),
    ],
    ("ocpp2.0.1", "MeterValues"): [
        (("evseId",), None, "required"),
        (("meterValue",), [], "required"),
        (("evseId",), "1", "type"),
    ],
    ("ocpp2.0.1", "DataTransfer"): [
        (("vendorId",), None, "required"),
        (("vendorId",), "V" * 256, "property"),
    ],
    ("ocpp2.0.1", "FirmwareStatusNotification"): [
        (("status",), None, "required"),
        (("status",), "Exploded", "property"),
    ],
    ("ocpp2.0.1", "LogStatusNotification"): [
        (("status",), None, "required"),
        (("requestId",), "1", "type"),
    ],
    ("ocpp2.0.1", "SecurityEventNotification"): [
        (("type",), None, "required"),
        (("type",), "X" * 51, "property"),
    ],
}
FAULT_OF_KEYWORD = {
    "required": "OCCURRENCE_CONSTRAINT_VIOLATION",
    "type": "TYPE_CONSTRAINT_VIOLATION",
    "property": "PROPERTY_CONSTRAINT_VIOLATION",
    "additional": "FORMAT_VIOLATION",
}


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame to send and the answer it must get: ``(message id, fault)``, or None."""

    category: str
    version: str
    connection_id: str
    body: str
    is_base64: bool = False
    expected: tuple[str, str] | None = None


class FrameMaker:
    """Seeded frames, each refused for a known reason."""

    def __init__(self, seed: int) -> None:
        from shared.domain.ocpp.actions import FROM_PILE, TO_PILE
        from shared.domain.ocpp.versions import OcppVersion
        from shared.services.ocpp.dispatch import handler_for

        self.rng = random.Random(seed)
        self.from_pile = {v.value: sorted(FROM_PILE[v]) for v in OcppVersion}
        self.to_pile_only = {v.value: sorted(TO_PILE[v] - FROM_PILE[v]) for v in OcppVersion}
        self.unhandled = {
            v.value: sorted(a for a in FROM_PILE[v] if handler_for(v, a) is None)
            for v in OcppVersion
        }
        self.mutable = {
            version: [
                (action, mutation)
                for (of_version, action), mutations in MUTATIONS.items()
                if of_version == version and handler_for(OcppVersion(version), action)
                for mutation in [*mutations, (("surprise",), True, "additional")]
            ]
            for version in VERSIONS
        }
        self.makers: list[tuple[int, Callable[[str], Frame]]] = [
            (8, self.not_json),
            (4, self.not_an_array),
            (4, self.unreadable_id),
            (4, self.type_not_an_integer),
            (4, self.unknown_message_type),
            (4, self.call_of_wrong_length),
            (3, self.action_not_a_string),
            (4, self.payload_not_an_object),
            (5, self.unknown_action),
            (5, self.csms_only_action),
            (3, self.unhandled_action),
            (20, self.schema_violation),
            (8, self.not_accepted),
            (6, self.unmatched_answer),
            (3, self.malformed_answer),
            (2, self.binary),
            (1, self.oversized),
        ]
        self.weights = [weight for weight, _ in self.makers]

    def __call__(self) -> Frame:
        (maker,) = self.rng.choices([m for _, m in self.makers], weights=self.weights)
        return maker(self.rng.choice(VERSIONS))

    # -- pieces
    def message_id(self) -> str:
        return "".join(self.rng.choices(string.ascii_letters + string.digits + "-_", k=12))

    def junk(self) -> Any:
        return self.rng.choice(
            [None, True, 0, -1, 2.5, "", "text", [], [1, 2], {}, {"a": [None]}, 10**20]
        )

    @staticmethod
    def call(message_id: str, action: Any, payload: Any) -> str:
        return json.dumps([2, message_id, action, payload])

    def refused(
        self, category: str, version: str, body: str, message_id: str, fault: str, **kw: Any
    ) -> Frame:
        return Frame(category, version, ACCEPTED[version], body, expected=(message_id, fault), **kw)

    # -- the kinds of frames
    def not_json(self, version: str) -> Frame:
        valid = self.call(self.message_id(), "Heartbeat", {})
        body = self.rng.choice(
            [
                valid[: self.rng.randrange(len(valid) - 1)],  # a proper prefix: never JSON
                valid.replace('"', "'"),
                "[2, NaN, 1]",
                "[" * 5_000 + "]" * 5_000,
                "".join(self.rng.choices(string.printable, k=self.rng.randrange(1, 60))) + "{",
            ]
        )
        return self.refused("not JSON", version, body, "-1", "RPC_FRAMEWORK_ERROR")

    def not_an_array(self, version: str) -> Frame:
        body = json.dumps(self.rng.choice([{"a": 1}, "frame", 42, None, [], {}]))
        return self.refused("not an array", version, body, "-1", "RPC_FRAMEWORK_ERROR")

    def unreadable_id(self, version: str) -> Frame:
        message_id = self.rng.choice([None, 7, "", "x" * 37, ["id"], {"id": 1}])
        body = json.dumps([2, message_id, "Heartbeat", {}])
        return self.refused("unreadable id", version, body, "-1", "RPC_FRAMEWORK_ERROR")

    def type_not_an_integer(self, version: str) -> Frame:
        message_id = self.message_id()
        body = json.dumps(
            [self.rng.choice(["2", 2.0, None, True, [2]]), message_id, "Heartbeat", {}]
        )
        return self.refused("type not an integer", version, body, message_id, "RPC_FRAMEWORK_ERROR")

    def unknown_message_type(self, version: str) -> Frame:
        message_id = self.message_id()
        body = json.dumps([self.rng.choice([0, 1, 5, 6, 99, -2]), message_id, "Heartbeat", {}])
        return self.refused(
            "unknown message type", version, body, message_id, "MESSAGE_TYPE_NOT_SUPPORTED"
        )

    def call_of_wrong_length(self, version: str) -> Frame:
        message_id = self.message_id()
        frame: list[Any] = [2, message_id, "Heartbeat", {}]
        frame = frame[:3] if self.rng.random() < 0.5 else [*frame, self.junk()]
        return self.refused(
            "CALL of wrong length", version, json.dumps(frame), message_id, "RPC_FRAMEWORK_ERROR"
        )

    def action_not_a_string(self, version: str) -> Frame:
        message_id = self.message_id()
        action = self.rng.choice([None, 3, "", ["Heartbeat"], {"a": 1}])
        body = self.call(message_id, action, {})
        return self.refused("action not a string", version, body, message_id, "RPC_FRAMEWORK_ERROR")

    def payload_not_an_object(self, version: str) -> Frame:
        message_id = self.message_id()
        payload: Any = self.rng.choice([None, [], [{}], "{}", 0, True])
        action = self.rng.choice(self.from_pile[version])
        body = self.call(message_id, action, payload)
        return self.refused("payload not an object", version, body, message_id, "FORMAT_VIOLATION")

    def unknown_action(self, version: str) -> Frame:
        message_id = self.message_id()
        action = self.rng.choice(
            [
                "FlyToTheMoon",
                "heartbeat",
                "BOOTNOTIFICATION",
                "Heartbeat ",
                "X" * 300,
                "".join(self.rng.choices(string.ascii_letters, k=self.rng.randrange(1, 30))),
            ]
        )
        if action in self.from_pile[version] or action in self.to_pile_only[version]:
            action += "Z"
        body = self.call(message_id, action, {"any": self.junk()})
        return self.refused("unknown action", version, body, message_id, "NOT_IMPLEMENTED")

    def csms_only_action(self, version: str) -> Frame:
        message_id = self.message_id()
        action = self.rng.choice(self.to_pile_only[version])
        body = self.call(message_id, action, {"any": self.junk()})
        return self.refused("CSMS-only action", version, body, message_id, "NOT_SUPPORTED")

    def unhandled_action(self, version: str) -> Frame:
        if not self.unhandled[version]:
            return self.schema_violation(version)
        message_id = self.message_id()
        action = self.rng.choice(self.unhandled[version])
        body = self.call(message_id, action, {})
        return self.refused(
            "action without a handler", version, body, message_id, "NOT_IMPLEMENTED"
        )

    def schema_violation(self, version: str) -> Frame:
        message_id = self.message_id()
        action, (path, value, keyword) = self.rng.choice(self.mutable[version])
        payload = copy.deepcopy(TEMPLATES[(version, action)])
        target = payload
        for key in path[:-1]:
            target = target[key]
        if value is None:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
        body = self.call(message_id, action, payload)
        return self.refused(
            f"schema: {keyword}", version, body, message_id, FAULT_OF_KEYWORD[keyword]
        )

    def not_accepted(self, version: str) -> Frame:
        message_id = self.message_id()
        action = self.rng.choice(
            [a for a in self.from_pile[version] if a != "BootNotification"]
            + self.to_pile_only[version][:3]
            + ["FlyToTheMoon"]
        )
        payload: dict[str, Any] = TEMPLATES.get((version, action), {"any": 1})
        body = self.call(message_id, action, payload)
        return Frame(
            "CALL before an accepted boot",
            version,
            NOT_ACCEPTED[version],
            body,
            expected=(message_id, "SECURITY_ERROR"),
        )

    def unmatched_answer(self, version: str) -> Frame:
        message_id = self.message_id()
        frame = self.rng.choice(
            [
                [3, message_id, {"status": "Accepted"}],
                [3, message_id, {}],
                [4, message_id, "NotSupported", "no", {}],
                [4, message_id, "InternalError", ""],
            ]
        )
        return Frame("answer to no pending call", version, ACCEPTED[version], json.dumps(frame))

    def malformed_answer(self, version: str) -> Frame:
        message_id = self.message_id()
        frame = self.rng.choice(
            [[3, message_id], [3, message_id, []], [4, message_id, 1, "d", {}], [4, message_id]]
        )
        return Frame("malformed answer", version, ACCEPTED[version], json.dumps(frame))

    def binary(self, version: str) -> Frame:
        body = self.rng.choice(["WzIsImEiLCJIZWFydGJlYXQiLHt9XQ==", "AAEC"])
        return Frame(
            "binary frame",
            version,
            ACCEPTED[version],
            body,
            is_base64=True,
            expected=("-1", "RPC_FRAMEWORK_ERROR"),
        )

    def oversized(self, version: str) -> Frame:
        message_id = self.message_id()
        if self.rng.random() < 0.5:  # a CALL above 64 KiB: answered under its id
            body = self.call(message_id, "Heartbeat", {"pad": "p" * 70_000})
            return self.refused("CALL above 64 KiB", version, body, message_id, "FORMAT_VIOLATION")
        body = self.call(message_id, "Heartbeat", {"pad": "p" * 140_000})
        return self.refused("frame above 128 KiB", version, body, "-1", "FORMAT_VIOLATION")


def run(frames: int, *, seed: int = 20_261_101) -> dict[str, Any]:
    """Throw ``frames`` refused frames at the router; crashes, wrong answers, state changes."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from tests.conftest import FixedClock
    from tests.integration.test_ocpp_router_support import (
        CallCounter,
        PileSide,
        frame_event,
        lambda_context,
    )
    from tests.support.aws import aws_with_tables

    with aws_with_tables() as tables:
        from functions.ocpp_router import handler as router_handler
        from functions.ocpp_router import wiring as router_wiring
        from functions.ws_connect import wiring as connect_wiring
        from shared.domain.ocpp.rpc_errors import RpcFault, wire_code
        from shared.domain.ocpp.versions import OcppVersion

        clock = FixedClock()
        router_wiring.clock = clock
        connect_wiring.clock = clock
        router_wiring.reset()
        connect_wiring.reset()
        side = PileSide(tables, CallCounter())
        for version in VERSIONS:
            side.online(f"FZ-{version}", version, connection_id=ACCEPTED[version])
            side.put_pile(f"FZ-NEW-{version}", protocol=version)
            assert (
                side.connect(f"FZ-NEW-{version}", connection_id=NOT_ACCEPTED[version])["statusCode"]
                == 200
            )
        side.put_card("FUZZ-CARD", "active")
        before = side.snapshot()
        make = FrameMaker(seed)
        crashes = wrong = changes = 0
        by_category: Counter[str] = Counter()
        examples: list[dict[str, Any]] = []
        handler_s = 0.0
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            for count in range(1, frames + 1):
                frame = make()
                by_category[frame.category] += 1
                event = frame_event(frame.connection_id, frame.body, is_base64=frame.is_base64)
                started = time.perf_counter()
                try:
                    response = router_handler.lambda_handler(event, lambda_context())
                except Exception as exc:  # a crash is what the bench counts
                    response = {"statusCode": 500, "body": repr(exc)}
                handler_s += time.perf_counter() - started
                verdict = _judge(frame, response, wire_code, RpcFault, OcppVersion)
                if verdict == "crash":
                    crashes += 1
                elif verdict == "wrong":
                    wrong += 1
                if verdict != "ok" and len(examples) < 10:
                    examples.append(
                        {
                            "category": frame.category,
                            "frame": frame.body[:200],
                            "answer": str(response.get("body"))[:200],
                        }
                    )
                if count % CHECKPOINT_EVERY == 0 or count == frames:
                    changes += side.snapshot() != before
        router_wiring.reset()
        connect_wiring.reset()
    result = {
        "frames": frames,
        "seed": seed,
        "frames_per_s": round(frames / handler_s, 1) if handler_s else None,
        "crashes": crashes,
        "wrong_answers": wrong,
        "state_changes": changes,
        "checkpoints": -(-frames // CHECKPOINT_EVERY),
        "by_category": dict(sorted(by_category.items())),
        "examples": examples,
    }
    print(
        f"ocpp fuzz: {frames} frames, {result['frames_per_s']} frames/s through the handler; "
        f"crashes {crashes}, wrong answers {wrong}, state changes {changes}"
    )
    return result


def _judge(frame: Frame, response: Any, wire_code: Any, fault_type: Any, version_type: Any) -> str:
    """``ok``, ``crash`` or ``wrong`` for one frame's lambda response."""
    if not isinstance(response, dict) or response.get("statusCode") != 200:
        return "crash"
    body = response.get("body")
    if body is None:
        return "ok" if frame.expected is None else "wrong"
    answer = json.loads(body)
    if isinstance(answer, list) and len(answer) == 5 and answer[2] == "InternalError":
        return "crash"
    if frame.expected is None:
        return "wrong"
    message_id, fault = frame.expected
    code = wire_code(fault_type[fault], version_type(frame.version))
    well_formed = (
        isinstance(answer, list)
        and len(answer) == 5
        and isinstance(answer[3], str)
        and len(answer[3]) <= 255
        and isinstance(answer[4], dict)
    )
    return "ok" if well_formed and answer[:3] == [4, message_id, code] else "wrong"


if __name__ == "__main__":
    print(json.dumps(run(int(os.environ.get("FUZZ_FRAMES", "40000"))), indent=2))
