"""ADS1115 driver against the emulated chip: config word bits per the datasheet,
two's complement results, OS bit and conversion timing on the simulated clock."""

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.hardware import ads1115 as spec
from ohmpi.hardware.ads1115 import ADS1115, Config
from ohmpi.sim import FakeSMBus, SimClock
from ohmpi.sim.ads1115 import EmulatedADS1115


def make(pins=(0.0, 0.0, 0.0, 0.0)):
    clock = SimClock(0)
    bus = FakeSMBus(clock, bit_rate=0)  # no time on the wire: exact conversion timing
    state = {"pins": list(pins)}
    chip = bus.attach(0x48, EmulatedADS1115(clock, lambda t0, t1: state["pins"]))
    return ADS1115(bus, 0x48, clock=clock), chip, bus, clock, state


def test_reset_value_reads_back_0x8583():
    adc, *_ = make()
    assert adc.read_register(spec.REG_CONFIG) == 0x8583
    assert adc.read_register(spec.REG_LO_THRESH) == 0x8000
    assert adc.read_register(spec.REG_HI_THRESH) == 0x7FFF


def test_config_word_examples_from_datasheet_fields():
    # OS=1, AIN0-AIN1, ±2.048 V, single-shot, 128 SPS, comparator disabled = reset value
    assert Config().word() == 0x8583
    # AIN3 vs GND (111), ±0.256 V (101), continuous (0), 860 SPS (111), comparator off (11)
    word = Config(os=0, mux=(3, None), fsr=0.256, single_shot=False, data_rate=860).word()
    assert word == 0b0_111_101_0_111_0_0_0_11


@given(
    mux=st.sampled_from(list(spec.MUX_CODES)),
    fsr=st.sampled_from(spec.FULL_SCALES),
    rate=st.sampled_from(spec.DATA_RATES),
    single=st.booleans(),
    que=st.integers(0, 3),
)
def test_config_round_trips(mux, fsr, rate, single, que):
    config = Config(os=1, mux=mux, fsr=fsr, single_shot=single, data_rate=rate, comp_que=que)
    assert Config.from_word(config.word()) == config
    assert config.word() >> 12 & 0b111 == spec.MUX_CODES[mux]
    assert config.word() >> 9 & 0b111 == spec.PGA_CODES[fsr]
    assert config.word() >> 5 & 0b111 == spec.DR_CODES[rate]


def test_bad_settings_name_allowed_values():
    with pytest.raises(ValueError, match="allowed"):
        spec.parse_mux("AIN1-AIN2")
    with pytest.raises(ValueError, match="860"):
        spec.check_rate(1000)
    with pytest.raises(ValueError, match="6.144"):
        spec.check_fsr(3.3)


@settings(max_examples=60)
@given(volts=st.floats(-5.0, 5.0), fsr=st.sampled_from(spec.FULL_SCALES))
def test_differential_conversion_is_twos_complement_and_saturates(volts, fsr):
    adc, chip, bus, clock, state = make((2.5 + volts / 2, 2.5 - volts / 2, 0, 0))
    adc.start_single("AIN0-AIN1", fsr, 860)
    adc.wait_done(860)
    msb, lsb = bus.read_i2c_block_data(0x48, spec.REG_CONVERSION, 2)
    raw = msb << 8 | lsb
    code = adc.read_raw()
    assert code == (raw - 0x10000 if raw >= 0x8000 else raw)
    expected = min(max(round(volts / fsr * 32768), -32768), 32767)
    assert abs(code - expected) <= 1
    if volts >= fsr:
        assert raw == 0x7FFF
    if volts <= -fsr - fsr / 32768:
        assert raw == 0x8000


def test_single_ended_against_ground():
    adc, *_ = make((0.1, 0.2, 0.3, 1.5))
    assert adc.read("AIN3", 2.048, 475) == pytest.approx(1.5, abs=1e-4)
    assert adc.read("AIN1", 0.256, 475) == pytest.approx(0.2, abs=1e-5)
    assert adc.read("AIN0-AIN3", 2.048, 475) == pytest.approx(-1.4, abs=1e-4)


@pytest.mark.parametrize("rate", spec.DATA_RATES)
def test_os_bit_clear_during_conversion_set_after_one_period(rate):
    adc, chip, bus, clock, state = make((1.0, 0, 0, 0))
    t0 = clock.monotonic()
    adc.start_single("AIN0", 4.096, rate)
    assert not adc.conversion_done()
    clock.sleep(0.9 / rate)
    assert not adc.conversion_done()
    assert adc.read_raw() == 0  # the result of the previous (none) conversion
    clock.sleep(0.2 / rate)
    assert adc.conversion_done()
    assert clock.monotonic() - t0 >= 1 / rate
    assert adc.read_volts(4.096) == pytest.approx(1.0, abs=2e-4)


def test_os_write_ignored_while_converting():
    adc, chip, bus, clock, state = make((1.0, 0, 0, 0))
    adc.start_single("AIN0", 4.096, 8)
    clock.sleep(0.1)
    adc.start_single("AIN0", 4.096, 8)  # must not restart the conversion
    clock.sleep(0.03)
    assert adc.conversion_done() and chip.conversions == 1


def test_continuous_mode_converts_back_to_back_at_the_data_rate():
    adc, chip, bus, clock, state = make((0.5, 0, 0, 0))
    adc.start_continuous("AIN0", 1.024, 250)
    assert not adc.conversion_done()  # always converting in continuous mode
    clock.sleep(10.5 / 250)
    assert chip.conversions == 10
    state["pins"][0] = 0.25
    clock.sleep(1 / 250)
    assert adc.read_volts(1.024) == pytest.approx(0.25, abs=1e-4)
    adc.power_down()
    assert adc.conversion_done()


def test_analog_value_is_the_mean_over_the_conversion_window():
    clock = SimClock(0)
    bus = FakeSMBus(clock, bit_rate=0)
    windows = []

    def analog(t0, t1):
        windows.append((t0, t1))
        return (0.0, 0.0, 0.0, 0.0)

    bus.attach(0x49, EmulatedADS1115(clock, analog))
    adc = ADS1115(bus, 0x49, clock=clock)
    adc.read("AIN0", 2.048, 64)
    assert windows == [(0.0, pytest.approx(1 / 64))]


def test_alert_rdy_as_conversion_ready_pin():
    adc, chip, bus, clock, state = make((1.0, 0, 0, 0))
    assert not chip.ready_pin_mode
    adc.enable_ready_pin()
    assert adc.read_register(spec.REG_HI_THRESH) >> 15 == 1
    assert adc.read_register(spec.REG_LO_THRESH) >> 15 == 0
    adc.start_single("AIN0", 2.048, 128)
    assert chip.ready_pin_mode and not chip.alert_rdy_asserted
    clock.sleep(1.01 / 128)
    assert chip.alert_rdy_asserted
    adc.disable_ready_pin()
    assert not chip.ready_pin_mode


def test_wrong_address_is_remote_io_error():
    adc, chip, bus, clock, state = make()
    with pytest.raises(OSError) as err:
        ADS1115(bus, 0x4A, clock=clock).read()
    assert err.value.errno == errno.EREMOTEIO == 121
    assert bus.errors == 1
