"""The alarm state machine: debounce, hysteresis, acknowledgement, no flapping."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.alarms import AckError, Alarm, parse_rule

BATTERY = {"name": "low_battery", "when": "soh.controller.supply_V < 11.5", "clear": 12.0}

samples = st.lists(st.tuples(st.floats(0.0, 5.0), st.one_of(st.none(), st.floats(10.0, 13.0))), min_size=1, max_size=80)


def run(alarm, seq):
    """Feed (dt, value) samples; [(index, transition)]."""
    now, out, times = 0.0, [], []
    for i, (dt, value) in enumerate(seq):
        now += dt
        times.append(now)
        t = alarm.update(value, now, 1000.0 + now)
        if t is not None:
            out.append((i, t))
    return out, times


def held_back(seq, times, i, ok, span):
    """Was `ok(value)` true at every sample from some j to i with times[i] - times[j] >= span?"""
    j = i
    while j >= 0 and seq[j][1] is not None and ok(seq[j][1]):
        if times[i] - times[j] >= span:
            return True
        j -= 1
    return False


@settings(max_examples=300)
@given(samples, st.floats(0.0, 6.0), st.floats(0.0, 6.0))
def test_raises_and_clears_only_after_holding(seq, for_s, clear_for_s):
    rule = parse_rule({**BATTERY, "for_s": for_s, "clear_for_s": clear_for_s})
    alarm = Alarm(rule)
    transitions, times = run(alarm, seq)
    states = [t.state for _, t in transitions]
    assert all(a != b for a, b in zip(states, states[1:])), "alternates: no raise twice, no clear twice"
    assert all(s in ("active", "cleared") for s in states)
    for i, t in transitions:
        if t.state == "active":
            assert held_back(seq, times, i, lambda v: v < 11.5, for_s)
        else:
            assert held_back(seq, times, i, lambda v: v >= 12.0, clear_for_s)


@given(st.lists(st.floats(11.5, 11.999), min_size=1, max_size=50))
def test_inside_the_hysteresis_band_an_active_alarm_never_clears(band):
    alarm = Alarm(parse_rule(BATTERY))
    assert alarm.update(11.0, 0.0, 0.0).state == "active"
    assert all(alarm.update(v, 1.0 + i, 1.0 + i) is None for i, v in enumerate(band))
    assert alarm.state == "active"


@given(st.lists(st.floats(11.0, 12.5), min_size=2, max_size=60))
def test_noise_around_the_threshold_does_not_flap(noise):
    """A supply wandering around 11.5 V raises once and never clears while it stays below 12 V."""
    alarm = Alarm(parse_rule({**BATTERY, "for_s": 2, "clear_for_s": 2}))
    transitions, _ = run(alarm, [(1.0, v) for v in noise])
    crossings = sum(1 for a, b in zip(noise, noise[1:]) if (a >= 12.0) != (b >= 12.0))
    assert len(transitions) <= crossings + 1


def test_acknowledge_then_clear_then_raise_again():
    alarm = Alarm(parse_rule({**BATTERY, "for_s": 10}))
    assert alarm.update(11.0, 0.0, 100.0) is None and alarm.state == "ok"
    assert alarm.update(11.0, 9.9, 109.9) is None
    raised = alarm.update(11.0, 10.0, 110.0)
    assert (raised.state, raised.previous, raised.since, raised.value) == ("active", "ok", 110.0, 11.0)
    with pytest.raises(AckError):
        Alarm(parse_rule(BATTERY)).acknowledge("ann", "seen", 0.0)
    ack = alarm.acknowledge("ann", "going there", 111.0)
    assert (ack.state, ack.user, ack.comment) == ("acknowledged", "ann", "going there")
    with pytest.raises(AckError, match="acknowledged"):
        alarm.acknowledge("bob", "again", 112.0)
    assert alarm.update(11.8, 20.0, 120.0) is None  # in the band
    assert alarm.update(12.1, 21.0, 121.0) is None  # clearing must hold for_s too (clear_for_s defaults to it)
    assert alarm.update(12.1, 31.0, 131.0).state == "cleared"
    assert alarm.summary()["user"] is None
    assert alarm.update(11.0, 32.0, 132.0) is None
    assert alarm.update(11.0, 42.0, 142.0).previous == "cleared"


def test_an_unknown_value_moves_nothing():
    alarm = Alarm(parse_rule({**BATTERY, "for_s": 5}))
    alarm.update(11.0, 0.0, 0.0)
    alarm.update(None, 3.0, 3.0)  # the heartbeat was missing: the debounce starts again
    assert alarm.update(11.0, 6.0, 6.0) is None
    assert alarm.update(11.0, 11.0, 11.0).state == "active"
    assert alarm.update(None, 100.0, 100.0) is None and alarm.state == "active"


def test_retire_clears_a_raised_alarm_with_the_reason():
    alarm = Alarm(parse_rule(BATTERY))
    alarm.update(10.0, 0.0, 0.0)
    t = alarm.retire(5.0, "rule removed")
    assert (t.state, t.comment) == ("cleared", "rule removed")
    assert alarm.retire(6.0, "again") is None


def test_infinite_values_are_plain_in_events():
    rule = parse_rule({"name": "open", "when": "rs_check.max_kohm > 50"})
    t = Alarm(rule).update(float("inf"), 0.0, 0.0)
    assert t.event()["value"] == "inf" and t.event()["mqtt"] is False
