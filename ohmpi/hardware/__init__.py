"""Chip drivers over the smbus2 ``SMBus`` interface and gpiozero output devices.

The same classes drive the real board (``smbus2.SMBus(1)``, real GPIO pins) and the
simulated one (``ohmpi.sim.FakeSMBus``, gpiozero's ``MockFactory``): a driver only
ever sees an object with smbus2's method names, as gpiozero devices only see a pin.
"""

from ohmpi.hardware.ads1115 import ADS1115
from ohmpi.hardware.clock import Clock, SystemClock
from ohmpi.hardware.dps5005 import DPS5005
from ohmpi.hardware.mcp230xx import MCP23008, MCP23017
from ohmpi.hardware.tca9548a import TCA9548A, MuxedBus

__all__ = [
    "ADS1115",
    "Clock",
    "DPS5005",
    "MCP23008",
    "MCP23017",
    "MuxedBus",
    "SystemClock",
    "TCA9548A",
]
