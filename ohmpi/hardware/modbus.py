"""Modbus RTU framing: the few functions a bench power supply needs.

Frame = unit address, function code, payload, CRC16 (poly 0xA001 reflected, init
0xFFFF, sent low byte first). Functions: 0x03 read holding registers, 0x06 write one.
"""

from __future__ import annotations

import struct

READ_HOLDING = 0x03
WRITE_SINGLE = 0x06


class ModbusError(OSError):
    """A bad, missing or exception reply."""


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def check_crc(frame: bytes) -> bytes:
    """The frame without its CRC; ModbusError if it is short or corrupt."""
    if len(frame) < 4:
        raise ModbusError(f"Modbus frame too short ({len(frame)} bytes)")
    body, (crc,) = frame[:-2], struct.unpack("<H", frame[-2:])
    if crc16(body) != crc:
        raise ModbusError("Modbus CRC mismatch")
    return body


def read_request(unit: int, start: int, count: int) -> bytes:
    return with_crc(struct.pack(">BBHH", unit, READ_HOLDING, start, count))


def write_request(unit: int, register: int, value: int) -> bytes:
    return with_crc(struct.pack(">BBHH", unit, WRITE_SINGLE, register, value & 0xFFFF))


class ModbusClient:
    """Request/response over any transport with ``write(bytes)`` and ``read(n) -> bytes``
    (a pyserial ``Serial`` on the Pi, the emulated supply in simulation)."""

    def __init__(self, transport, unit: int = 1):
        self.transport = transport
        self.unit = unit

    def _exchange(self, request: bytes, reply_length: int) -> bytes:
        self.transport.write(request)
        head = self.transport.read(2)
        if len(head) < 2:
            raise ModbusError("no reply from Modbus unit %d" % self.unit)
        if head[1] & 0x80:  # exception reply: unit, fc|0x80, code, crc
            rest = self.transport.read(3)
            body = check_crc(head + rest)
            raise ModbusError(f"Modbus exception code {body[2]} from unit {self.unit}")
        rest = self.transport.read(reply_length - 2)
        body = check_crc(head + rest)
        if body[0] != self.unit or body[1] != request[1]:
            raise ModbusError("Modbus reply from the wrong unit or function")
        return body

    def read_registers(self, start: int, count: int) -> list[int]:
        body = self._exchange(read_request(self.unit, start, count), 5 + 2 * count)
        if body[2] != 2 * count:
            raise ModbusError("Modbus reply byte count mismatch")
        return list(struct.unpack(f">{count}H", body[3:]))

    def write_register(self, register: int, value: int) -> None:
        request = write_request(self.unit, register, value)
        body = self._exchange(request, 8)
        if body != request[:-2]:
            raise ModbusError("Modbus write echo mismatch")
