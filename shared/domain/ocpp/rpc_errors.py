"""RPC framework error codes (CALLERROR ``errorCode``), one semantic set, two spellings.

OCPP-J 1.6 §4.2.3 lists NotImplemented, NotSupported, InternalError, ProtocolError,
SecurityError, FormationViolation, PropertyConstraintViolation,
OccurenceConstraintViolation (sic, kept by the 1.6 errata), TypeConstraintViolation and
GenericError. OCPP-J 2.0.1 Part 4 §4.3 renames FormationViolation to FormatViolation,
fixes OccurrenceConstraintViolation and adds MessageTypeNotSupported and
RpcFrameworkError. A code that one version lacks is sent as that version's nearest code
(``_V16_FALLBACK``), never as a string the pile's parser would reject.
"""

from __future__ import annotations

from enum import Enum

from shared.domain.errors import ChargingError
from shared.domain.ocpp.versions import OcppVersion

# CALLERROR errorDescription is a string of at most 255 characters (2.0.1 Part 4 §4.2.3).
MAX_DESCRIPTION_LENGTH = 255


class RpcFault(Enum):
    """What went wrong with a CALL, independent of the version's spelling."""

    NOT_IMPLEMENTED = "not_implemented"  # action not known / not handled by us
    NOT_SUPPORTED = "not_supported"  # action known but not one a pile may send
    INTERNAL_ERROR = "internal_error"
    PROTOCOL_ERROR = "protocol_error"
    SECURITY_ERROR = "security_error"
    FORMAT_VIOLATION = "format_violation"
    PROPERTY_CONSTRAINT_VIOLATION = "property_constraint_violation"
    OCCURRENCE_CONSTRAINT_VIOLATION = "occurrence_constraint_violation"
    TYPE_CONSTRAINT_VIOLATION = "type_constraint_violation"
    GENERIC_ERROR = "generic_error"
    RPC_FRAMEWORK_ERROR = "rpc_framework_error"  # 2.0.1 only
    MESSAGE_TYPE_NOT_SUPPORTED = "message_type_not_supported"  # 2.0.1 only


_V16_CODES = {
    RpcFault.NOT_IMPLEMENTED: "NotImplemented",
    RpcFault.NOT_SUPPORTED: "NotSupported",
    RpcFault.INTERNAL_ERROR: "InternalError",
    RpcFault.PROTOCOL_ERROR: "ProtocolError",
    RpcFault.SECURITY_ERROR: "SecurityError",
    RpcFault.FORMAT_VIOLATION: "FormationViolation",
    RpcFault.PROPERTY_CONSTRAINT_VIOLATION: "PropertyConstraintViolation",
    RpcFault.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    RpcFault.TYPE_CONSTRAINT_VIOLATION: "TypeConstraintViolation",
    RpcFault.GENERIC_ERROR: "GenericError",
}

# 1.6 has no RpcFrameworkError: a frame that is not a valid RPC message breaks "the PDU
# structure", which 1.6 calls FormationViolation. 1.6 has no code for an unknown message
# type number either; GenericError is its "any other error".
_V16_FALLBACK = {
    RpcFault.RPC_FRAMEWORK_ERROR: RpcFault.FORMAT_VIOLATION,
    RpcFault.MESSAGE_TYPE_NOT_SUPPORTED: RpcFault.GENERIC_ERROR,
}

_V201_CODES = {
    RpcFault.NOT_IMPLEMENTED: "NotImplemented",
    RpcFault.NOT_SUPPORTED: "NotSupported",
    RpcFault.INTERNAL_ERROR: "InternalError",
    RpcFault.PROTOCOL_ERROR: "ProtocolError",
    RpcFault.SECURITY_ERROR: "SecurityError",
    RpcFault.FORMAT_VIOLATION: "FormatViolation",
    RpcFault.PROPERTY_CONSTRAINT_VIOLATION: "PropertyConstraintViolation",
    RpcFault.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurrenceConstraintViolation",
    RpcFault.TYPE_CONSTRAINT_VIOLATION: "TypeConstraintViolation",
    RpcFault.GENERIC_ERROR: "GenericError",
    RpcFault.RPC_FRAMEWORK_ERROR: "RpcFrameworkError",
    RpcFault.MESSAGE_TYPE_NOT_SUPPORTED: "MessageTypeNotSupported",
}

V16_ERROR_CODES = frozenset(_V16_CODES.values())
V201_ERROR_CODES = frozenset(_V201_CODES.values())


def wire_code(fault: RpcFault, version: OcppVersion) -> str:
    """The ``errorCode`` string for ``fault`` in ``version``'s table."""
    if version is OcppVersion.V16:
        return _V16_CODES[_V16_FALLBACK.get(fault, fault)]
    return _V201_CODES[fault]


def error_codes(version: OcppVersion) -> frozenset[str]:
    """Every errorCode the version's CALLERROR may carry."""
    return V16_ERROR_CODES if version is OcppVersion.V16 else V201_ERROR_CODES


class OcppFault(ChargingError):
    """A CALL must be answered with a CALLERROR; ``fault`` picks the code."""

    code = "ocpp_fault"

    def __init__(self, fault: RpcFault, message: str, **fields: object) -> None:
        super().__init__(message, **fields)
        self.fault = fault
