"""The official OCPP JSON schemas (shipped in the ``ocpp`` package), compiled with
fastjsonschema lazily, once per (version, action, direction) and cached for the life of
the Lambda container.

The schema files are read straight from the package folder: importing ``ocpp.v16`` or
``ocpp.v201`` (or ``ocpp.charge_point``) costs about as much as importing boto3 and is
not needed to validate. A violation becomes an ``OcppFault`` whose fault follows the
violated keyword:

| keyword | fault (1.6 / 2.0.1 spelling) |
| --- | --- |
| ``type`` | TypeConstraintViolation |
| ``required``, ``minItems``, ``maxItems`` | Occur(r)enceConstraintViolation |
| ``additionalProperties`` | FormationViolation / FormatViolation (not the PDU's structure) |
| anything else (``enum``, lengths, bounds, ``format``, ``pattern``) | PropertyConstraintViolation |
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema

from shared.domain.ocpp.actions import Direction
from shared.domain.ocpp.rpc_errors import OcppFault, RpcFault
from shared.domain.ocpp.versions import OcppVersion

Validator = Callable[[Any], Any]

_ACTION_NAME = re.compile(r"[A-Za-z0-9]{1,64}")
_OCCURRENCE_RULES = frozenset(
    {"required", "minItems", "maxItems", "minProperties", "maxProperties"}
)
_STRUCTURE_RULES = frozenset({"additionalProperties", "additionalItems"})


def ocpp_package_root() -> Path:
    """The installed ``ocpp`` package folder, found without importing the package."""
    spec = importlib.util.find_spec("ocpp")
    if spec is None or spec.origin is None:
        raise RuntimeError("the ocpp package is not installed")
    return Path(spec.origin).parent


def schema_file(root: Path, version: OcppVersion, action: str, direction: Direction) -> Path:
    """1.6 names files ``Action.json`` / ``ActionResponse.json``; 2.0.1 ``ActionRequest.json``
    / ``ActionResponse.json``."""
    if direction is Direction.RESPONSE:
        suffix = "Response"
    else:
        suffix = "" if version is OcppVersion.V16 else "Request"
    return root / version.schema_folder / "schemas" / f"{action}{suffix}.json"


def fault_for(rule: str | None) -> RpcFault:
    if rule == "type":
        return RpcFault.TYPE_CONSTRAINT_VIOLATION
    if rule in _OCCURRENCE_RULES:
        return RpcFault.OCCURRENCE_CONSTRAINT_VIOLATION
    if rule in _STRUCTURE_RULES:
        return RpcFault.FORMAT_VIOLATION
    return RpcFault.PROPERTY_CONSTRAINT_VIOLATION


class OcppSchemas:
    """Validates payloads against the official schemas; compiled validators are cached."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._validators: dict[tuple[OcppVersion, str, Direction], Validator] = {}

    def validate(
        self, version: OcppVersion, action: str, direction: Direction, payload: dict[str, Any]
    ) -> None:
        """Raises: OcppFault (the violation's fault; NotImplemented when no schema exists)."""
        validator = self._validator(version, action, direction)
        try:
            validator(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise OcppFault(fault_for(exc.rule), exc.message, rule=exc.rule) from exc

    def has_schema(self, version: OcppVersion, action: str, direction: Direction) -> bool:
        if not _ACTION_NAME.fullmatch(action):
            return False
        return schema_file(self._package_root(), version, action, direction).is_file()

    def _package_root(self) -> Path:
        if self._root is None:
            self._root = ocpp_package_root()
        return self._root

    def _validator(self, version: OcppVersion, action: str, direction: Direction) -> Validator:
        key = (version, action, direction)
        validator = self._validators.get(key)
        if validator is not None:
            return validator
        if not self.has_schema(version, action, direction):
            raise OcppFault(RpcFault.NOT_IMPLEMENTED, f"no {version} schema for {action[:64]}")
        path = schema_file(self._package_root(), version, action, direction)
        # 2.0.1 schema files start with a byte order mark.
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
        validator = fastjsonschema.compile(schema)
        self._validators[key] = validator
        return validator
