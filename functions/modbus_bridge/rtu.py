"""pymodbus as the RTU decoder of the bridge (the adapter of the ``RtuDecoder`` port).

``FramerRTU(DecodePDU(is_server=False))`` decodes responses, as a Modbus client would;
the caller has checked the CRC already. pymodbus is imported when the first frame needs
decoding, so heartbeats and registrations never pay for it.
"""

from __future__ import annotations

from typing import Any

from shared.domain.gateways import RtuReading


class PymodbusRtuDecoder:
    def __init__(self) -> None:
        self._framer: Any = None

    def decode(self, frame: bytes) -> RtuReading | None:
        from pymodbus.exceptions import ModbusException

        try:
            _, pdu = self._rtu_framer().handleFrame(frame, 0, 0)
        except (ModbusException, IndexError, ValueError):
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
        return RtuReading(
            device_address=int(pdu.dev_id),
            function_code=function_code,
            registers=tuple(int(value) for value in (getattr(pdu, "registers", None) or [])),
            bits=tuple(bool(bit) for bit in (getattr(pdu, "bits", None) or [])),
        )

    def _rtu_framer(self) -> Any:
        if self._framer is None:
            from pymodbus.framer import FramerRTU
            from pymodbus.pdu import DecodePDU

            self._framer = FramerRTU(DecodePDU(is_server=False))
        return self._framer
