"""TI ADS1115 16-bit delta-sigma ADC (datasheet SBAS444).

Registers (pointer byte): 0 conversion, 1 config, 2 Lo_thresh, 3 Hi_thresh; 16-bit,
sent most significant byte first (so we use I2C block transfers, not SMBus words,
which are little-endian).

Config register bits: OS[15] MUX[14:12] PGA[11:9] MODE[8] DR[7:5] COMP_MODE[4]
COMP_POL[3] COMP_LAT[2] COMP_QUE[1:0]; reset value 0x8583.
"""

from __future__ import annotations

from dataclasses import dataclass

from ohmpi.hardware.clock import Clock, SystemClock

REG_CONVERSION = 0x00
REG_CONFIG = 0x01
REG_LO_THRESH = 0x02
REG_HI_THRESH = 0x03

CONFIG_RESET = 0x8583
LO_THRESH_RESET = 0x8000
HI_THRESH_RESET = 0x7FFF

OS_BIT = 1 << 15
MODE_SINGLE = 1 << 8

# Input multiplexer: (positive, negative) with None = GND.
MUX_CODES: dict[tuple[int, int | None], int] = {
    (0, 1): 0b000,
    (0, 3): 0b001,
    (1, 3): 0b010,
    (2, 3): 0b011,
    (0, None): 0b100,
    (1, None): 0b101,
    (2, None): 0b110,
    (3, None): 0b111,
}
MUX_INPUTS = {code: pair for pair, code in MUX_CODES.items()}

# Programmable gain amplifier: full-scale range in volts (codes 6 and 7 repeat 0.256 V).
PGA_CODES: dict[float, int] = {6.144: 0, 4.096: 1, 2.048: 2, 1.024: 3, 0.512: 4, 0.256: 5}
PGA_FSR = {code: fsr for fsr, code in PGA_CODES.items()} | {6: 0.256, 7: 0.256}
FULL_SCALES = tuple(sorted(PGA_CODES, reverse=True))

# Data rate in samples per second.
DR_CODES: dict[int, int] = {8: 0, 16: 1, 32: 2, 64: 3, 128: 4, 250: 5, 475: 6, 860: 7}
DR_SPS = {code: sps for sps, code in DR_CODES.items()}
DATA_RATES = tuple(sorted(DR_CODES))

COMP_QUE_DISABLE = 0b11


def parse_mux(mux) -> tuple[int, int | None]:
    """'AIN0-AIN1', 'AIN2' (against GND), (0, 1) or (2, None) → (positive, negative)."""
    if isinstance(mux, str):
        text = mux.strip().upper().replace(" ", "")
        parts = text.split("-")
        try:
            pos = int(parts[0].removeprefix("AIN"))
            neg = None if len(parts) == 1 or parts[1] == "GND" else int(parts[1].removeprefix("AIN"))
        except ValueError:
            raise ValueError(f"ADS1115 mux {mux!r}: expected e.g. 'AIN0-AIN1' or 'AIN3'") from None
        pair = (pos, neg)
    else:
        pair = (int(mux[0]), None if mux[1] is None else int(mux[1]))
    if pair not in MUX_CODES:
        allowed = ", ".join(format_mux(p) for p in MUX_CODES)
        raise ValueError(f"ADS1115 mux {mux!r} not available; allowed: {allowed}")
    return pair


def format_mux(pair: tuple[int, int | None]) -> str:
    return f"AIN{pair[0]}" + ("" if pair[1] is None else f"-AIN{pair[1]}")


def check_fsr(fsr: float) -> float:
    for value in PGA_CODES:
        if abs(value - float(fsr)) < 1e-9:
            return value
    raise ValueError(f"ADS1115 full-scale range {fsr!r} V not available; allowed: {FULL_SCALES}")


def check_rate(sps: int) -> int:
    if int(sps) not in DR_CODES:
        raise ValueError(f"ADS1115 data rate {sps!r} SPS not available; allowed: {DATA_RATES}")
    return int(sps)


@dataclass(frozen=True)
class Config:
    """The decoded config register."""

    os: int = 1
    mux: tuple[int, int | None] = (0, 1)
    fsr: float = 2.048
    single_shot: bool = True
    data_rate: int = 128
    comp_mode: int = 0
    comp_pol: int = 0
    comp_lat: int = 0
    comp_que: int = COMP_QUE_DISABLE

    def word(self) -> int:
        return (
            (self.os & 1) << 15
            | MUX_CODES[parse_mux(self.mux)] << 12
            | PGA_CODES[check_fsr(self.fsr)] << 9
            | int(self.single_shot) << 8
            | DR_CODES[check_rate(self.data_rate)] << 5
            | (self.comp_mode & 1) << 4
            | (self.comp_pol & 1) << 3
            | (self.comp_lat & 1) << 2
            | (self.comp_que & 0b11)
        )

    @classmethod
    def from_word(cls, word: int) -> "Config":
        return cls(
            os=word >> 15 & 1,
            mux=MUX_INPUTS[word >> 12 & 0b111],
            fsr=PGA_FSR[word >> 9 & 0b111],
            single_shot=bool(word >> 8 & 1),
            data_rate=DR_SPS[word >> 5 & 0b111],
            comp_mode=word >> 4 & 1,
            comp_pol=word >> 3 & 1,
            comp_lat=word >> 2 & 1,
            comp_que=word & 0b11,
        )


def code_to_volts(code: int, fsr: float) -> float:
    """One LSB is FSR / 2**15."""
    return code * fsr / 32768.0


def to_signed16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


class ConversionTimeout(OSError):
    """The ADC never reported the end of a conversion."""


# (mux, fsr, data_rate, comp_que) → (Config, word) of a single-shot start: Config is frozen
_SINGLE_SHOT: dict = {}


class ADS1115:
    """One ADS1115 on an SMBus-like object; conversions wait on the given clock."""

    def __init__(self, bus, address: int = 0x48, *, clock: Clock | None = None):
        self.bus = bus
        self.address = address
        self.clock = clock or SystemClock()
        self._comp_que = COMP_QUE_DISABLE

    # -- raw register access -------------------------------------------------
    def write_register(self, register: int, value: int) -> None:
        self.bus.write_i2c_block_data(self.address, register, [value >> 8 & 0xFF, value & 0xFF])

    def read_register(self, register: int) -> int:
        msb, lsb = self.bus.read_i2c_block_data(self.address, register, 2)
        return msb << 8 | lsb

    def read_config(self) -> Config:
        return Config.from_word(self.read_register(REG_CONFIG))

    # -- conversions ---------------------------------------------------------
    def start_single(self, mux="AIN0-AIN1", fsr: float = 2.048, data_rate: int = 128) -> Config:
        """Write the config with OS=1 in single-shot mode: one conversion starts now."""
        key = (mux, fsr, data_rate, self._comp_que)
        try:
            config, word = _SINGLE_SHOT[key]
        except (KeyError, TypeError) as miss:  # validated and encoded once per distinct request (invalid: raises)
            config = Config(
                os=1,
                mux=parse_mux(mux),
                fsr=check_fsr(fsr),
                single_shot=True,
                data_rate=check_rate(data_rate),
                comp_que=self._comp_que,
            )
            word = config.word()
            if isinstance(miss, KeyError) and len(_SINGLE_SHOT) < 4096:  # an unhashable mux (a list): not cached
                _SINGLE_SHOT[key] = (config, word)
        self.write_register(REG_CONFIG, word)
        return config

    def start_continuous(self, mux="AIN0-AIN1", fsr: float = 2.048, data_rate: int = 128) -> Config:
        config = Config(
            os=0,
            mux=parse_mux(mux),
            fsr=check_fsr(fsr),
            single_shot=False,
            data_rate=check_rate(data_rate),
            comp_que=self._comp_que,
        )
        self.write_register(REG_CONFIG, config.word())
        return config

    def power_down(self) -> None:
        """Back to single-shot mode (power-down between conversions), no conversion started."""
        self.write_register(REG_CONFIG, CONFIG_RESET & ~OS_BIT)

    def conversion_done(self) -> bool:
        """OS bit read as 1: the device is not performing a conversion."""
        return bool(self.read_register(REG_CONFIG) & OS_BIT)

    def wait_done(self, data_rate: int, timeout_conversions: int = 20, initial_wait: bool = True) -> None:
        """Sleep one conversion period (unless another ADC's wait already covered it),
        then poll the OS bit every tenth of a period."""
        period = 1.0 / data_rate
        if initial_wait:
            self.clock.sleep(period)
        for _ in range(timeout_conversions * 10):
            if self.conversion_done():
                return
            self.clock.sleep(period / 10)
        raise ConversionTimeout(f"ADS1115 at 0x{self.address:02x}: conversion never finished")

    def read_raw(self) -> int:
        """The last conversion result, two's complement."""
        return to_signed16(self.read_register(REG_CONVERSION))

    def read_volts(self, fsr: float) -> float:
        return code_to_volts(self.read_raw(), fsr)

    def read(self, mux="AIN0-AIN1", fsr: float = 2.048, data_rate: int = 128) -> float:
        """One single-shot conversion, in volts."""
        self.start_single(mux, fsr, data_rate)
        self.wait_done(data_rate)
        return self.read_volts(fsr)

    # -- ALERT/RDY pin as conversion-ready signal ------------------------------
    def enable_ready_pin(self) -> None:
        """Hi_thresh MSB = 1 and Lo_thresh MSB = 0 turn ALERT/RDY into a ready signal.

        COMP_QUE must also differ from 11 (disabled); we assert after one conversion.
        """
        self.write_register(REG_LO_THRESH, 0x0000)
        self.write_register(REG_HI_THRESH, 0x8000)
        self._comp_que = 0b00

    def disable_ready_pin(self) -> None:
        self.write_register(REG_LO_THRESH, LO_THRESH_RESET)
        self.write_register(REG_HI_THRESH, HI_THRESH_RESET)
        self._comp_que = COMP_QUE_DISABLE
