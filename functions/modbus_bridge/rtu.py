"""pymodbus as the RTU decoder of the bridge (the adapter of the ``RtuDecoder`` port).

``FramerRTU(DecodePDU(is_server=False))`` decodes responses, as a Modbus client would;
the caller has checked the CRC already. pymodbus is imported when the first frame needs
decoding, so heartbeats and registrations never pay for it.
"""

from __future__ import annotations

from typing import Any

from shared.domain.gateways import RtuReading

WRITE_FUNCTIONS = (5, 6, 15, 16)


class PymodbusRtuDecoder:
    def __init__(self) -> None:
        self._framer: Any = None
        self._client_framer: Any = None

    def decode(self, frame: bytes) -> RtuReading | None:
        from pymodbus.exceptions import ModbusException

        try:
            _, pdu = self._rtu_framer().handleFrame(frame, 0, 0)
        except (ModbusException, IndexError, ValueError, AttributeError, TypeError):
            return None
        if pdu is None:
            return None
        function_code = int(pdu.function_code)
        if function_code & 0x80:
            return RtuReading(
                device_address=int(pdu.dev_id),
                function_code=function_code & 0x7F,
                exception_code=int(pdu.exception_code),
            )
        registers = tuple(int(value) for value in (getattr(pdu, "registers", None) or []))
        address = value = None
        if function_code in WRITE_FUNCTIONS:
            address = int(pdu.address)
            if function_code in (5, 15):
                bits = getattr(pdu, "bits", None) or []
                value = int(pdu.count) if function_code == 15 else int(bool(bits and bits[0]))
            else:
                value = int(pdu.count) if function_code == 16 else registers[0]
            registers = ()
        return RtuReading(
            device_address=int(pdu.dev_id),
            function_code=function_code,
            registers=registers,
            bits=()
            if address is not None
            else tuple(bool(bit) for bit in (getattr(pdu, "bits", None) or [])),
            address=address,
            value=value,
        )

    def read_request(self, address: int, function: int, start: int, count: int) -> bytes:
        """A read request (03 holding / 04 input registers) as an RTU frame with its CRC."""
        from pymodbus.pdu.register_message import (
            ReadHoldingRegistersRequest,
            ReadInputRegistersRequest,
        )

        request_type = ReadInputRegistersRequest if function == 4 else ReadHoldingRegistersRequest
        request = request_type(address=start, count=count, dev_id=address)
        frame: bytes = self._request_framer().buildFrame(request)
        return frame

    def _request_framer(self) -> Any:
        if self._client_framer is None:
            from pymodbus.framer import FramerRTU
            from pymodbus.pdu import DecodePDU

            self._client_framer = FramerRTU(DecodePDU(is_server=False))
        return self._client_framer

    def _rtu_framer(self) -> Any:
        if self._framer is None:
            from pymodbus.framer import FramerRTU
            from pymodbus.pdu import DecodePDU

            self._framer = FramerRTU(DecodePDU(is_server=False))
        return self._framer
