"""Relays and LEDs wired straight to Raspberry Pi GPIO, as gpiozero output devices.

The pin factory is passed in, never global: the real board uses gpiozero's default
factory, the simulated one a ``MockFactory`` whose pin states the physics reads.
"""

from __future__ import annotations

from gpiozero import LED, DigitalOutputDevice


def relay(pin: int, *, pin_factory=None, active_high: bool = True) -> DigitalOutputDevice:
    """A relay driver on one GPIO pin, created switched off."""
    return DigitalOutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)


def led(pin: int, *, pin_factory=None) -> LED:
    return LED(pin, initial_value=False, pin_factory=pin_factory)
