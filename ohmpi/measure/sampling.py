"""When to sample, and taking one sample of current and voltage.

Mains rejection: the samples that count in a half-cycle are equally spaced and span a
whole number of mains periods, so the hum sums to zero over them (each conversion is
itself a mean over its window, which keeps the sum zero). The sample count is nudged
to be coprime with the number of periods: the samples then fall on as many distinct
hum phases as there are samples, so the hum never aliases to DC and it dithers the
ADC quantization evenly instead of hitting the same two codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ohmpi.hardware.ads1115 import DATA_RATES, FULL_SCALES

WIRE_OVERHEAD_S = 0.002  # I2C transfers per sample on a real Pi


@dataclass(frozen=True)
class Window:
    offsets: np.ndarray  # sample times from the switching instant, s
    counted: np.ndarray  # bool: inside the whole-mains-period window


def plan_window(duration: float, settle: float, sampling_hz: float, mains_hz: float) -> Window:
    """Sample times for one segment (injection half-cycle or off time)."""
    period = 1.0 / mains_hz
    periods = math.floor((duration - settle) / period + 1e-9)
    if periods < 1:  # too short to reject mains: sample, but nothing counts
        step = 1.0 / sampling_hz
        offsets = np.arange(0.0, max(duration - 1e-9, 0.0), step)
        return Window(offsets, np.zeros(len(offsets), bool))
    width = periods * period
    target = max(3, round(width * sampling_hz))
    # the nearest count sharing no factor with the number of periods; one always lies within
    # `periods` steps above the target (one of any `periods` consecutive integers is 1 mod
    # periods): e.g. 30 periods at 5 Hz wants 3 samples; 3, 4, 5 and 2 fail, 7 fits
    n = next(
        c for d in range(target + periods + 2) for c in (target + d, target - d) if c >= 3 and math.gcd(c, periods) == 1
    )
    step = width / n
    k_first = -math.floor(settle / step + 1e-9)
    k_last = math.ceil((duration - settle) / step - 1e-9)
    k = np.arange(k_first, k_last)
    return Window(settle + k * step, (k >= 0) & (k < n))


def data_rate_for(step: float, turns: int = 1) -> int:
    """The slowest ADC rate (most averaging) whose `turns` conversions in a row (channels
    sharing one ADS1115 convert in turn) fit in one step."""
    budget = 0.8 * step / turns - WIRE_OVERHEAD_S
    for rate in DATA_RATES:
        if 1.0 / rate <= budget:
            return rate
    return DATA_RATES[-1]


def full_scale_for(peak_volts: float, margin: float = 1.3) -> float:
    """The smallest PGA full scale that holds `peak_volts` with a margin."""
    for fsr in sorted(FULL_SCALES):
        if peak_volts * margin <= fsr:
            return fsr
    return max(FULL_SCALES)


class Sampler:
    """The current ADC and every active receiver channel's converting at once; channels on
    one ADS1115 convert in turn (its first pair in the first turn, the second in the next),
    each at the same offset in every sample, so each channel's samples stay equally spaced."""

    def __init__(self, board, channels: int = 1):
        self.board = board
        self.clock = board.clock
        self.current_fsr = 6.144
        self.voltage_fsr = [6.144] * channels  # per channel
        self.rate = 128
        self.v_sign = [1] * channels  # -1 when M and N are wired the other way round (ohmpi.relay_plan)
        self.turns: list[list[tuple[int, object, tuple]]] = []  # per turn: (channel index, adc, mux)
        for index, (adc, mux) in enumerate(board.receivers[:channels]):
            turn = sum(1 for other, _ in board.receivers[:index] if other is adc)
            if turn == len(self.turns):
                self.turns.append([])
            self.turns[turn].append((index, adc, mux))

    def rate_for(self, sampling_hz: float) -> int:
        """The data rate for one sample step, every turn included."""
        return data_rate_for(1.0 / sampling_hz, len(self.turns))

    def offset_s(self, channel: int) -> float:
        """When channel `channel` (0-based) converts, after the sample's time (its turn)."""
        turn = next(i for i, turn in enumerate(self.turns) if any(c == channel for c, _, _ in turn))
        return turn / self.rate

    def sample(self) -> tuple[float, float, list[float], bool, list[bool]]:
        """(time, current mA (magnitude), Vmn mV per channel, current saturated, voltage
        saturated per channel)."""
        b = self.board
        t = self.clock.monotonic()
        codes = [0] * len(self.voltage_fsr)
        b.current_adc.start_single(b.current_mux, self.current_fsr, self.rate)
        for number, turn in enumerate(self.turns):
            for channel, adc, mux in turn:
                adc.start_single(mux, self.voltage_fsr[channel], self.rate)
            if not number:
                b.current_adc.wait_done(self.rate)
            for position, (_, adc, _) in enumerate(turn):
                adc.wait_done(self.rate, initial_wait=bool(number) and not position)
            if not number:
                ci = b.current_adc.read_raw()
            for channel, adc, _ in turn:
                codes[channel] = adc.read_raw()
        current_mA = ci * self.current_fsr / 32768.0 / (b.shunt_ohm * b.current_gain) * 1000.0
        vmn_mV = [
            sign * code * fsr / 32768.0 / b.vmn_gain * 1000.0
            for sign, code, fsr in zip(self.v_sign, codes, self.voltage_fsr)
        ]
        return t, current_mA, vmn_mV, ci >= 32767 or ci <= -32768, [cv >= 32767 or cv <= -32768 for cv in codes]
