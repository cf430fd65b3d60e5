"""Reuse the previous quadrupole's probe: same A–B, so the same loop, so no new probe pulses.

With the same A–B pair the contact resistances in the injection loop are the same, so the
loop resistance found by the previous quadrupole still holds: the current for any voltage is
known, and the limits it allows too. Over a (locally) homogeneous earth Vmn scales as 1/k, so
the voltage that reaches the Vmn aimed at (adaptive) and the ADC ranges that hold the signal —
with room for the new M–N's unknown self-potential — follow without probing. Another A–B,
other settings, a held relay released or a saturated record: probe afresh. If a reading
saturates all the same, the procedure throws the samples away and probes (``procedure``).

With several receiver channels the reference is the previous group's first dipole (its k and
Vmn): each new dipole's Vmn is predicted from it by the same 1/k scaling, each channel gets
its own range, the SP room is the largest SP the previous group saw, and the adaptive voltage
aims the strongest predicted dipole at the target (as the probe does).
"""

from __future__ import annotations

from dataclasses import dataclass

from ohmpi.measure.sampling import full_scale_for

SP_ROOM_MV = 50.0  # self-potential the new M–N may add on top of the previous one's


@dataclass(frozen=True)
class Ranges:
    """What the previous quadrupole found (and what the next one is planned with)."""

    ab: frozenset
    k: float  # of the first dipole (receiver channel 1)
    key: tuple  # the settings the choice depends on
    vab_V: float  # the supply's setting (or the battery)
    vab_measured_V: float
    current_mA: float
    vmn_mV: float  # |Vmn| of the first dipole's signal alone (SP removed)
    sp_peak_mV: float  # the largest over the channels
    current_fsr: float
    voltage_fsr: tuple  # per channel


def settings_key(settings) -> tuple:
    s = settings
    return (s.strategy, s.vab_V, s.vmn_target_mV, s.auto_gain, s.sampling_hz, s.mains_hz)


def plan(previous: Ranges | None, ab: frozenset, ks, settings, board) -> Ranges | None:
    """Voltage, current and ranges predicted for the next quadrupole (`ks`: the geometric
    factor of each dipole, channel 1 first), or None to probe."""
    if previous is None or previous.ab != ab or previous.key != settings_key(settings):
        return None
    if not (all(ks) and previous.k) or not settings.auto_gain or previous.current_mA <= 0:
        return None
    vmns = [previous.vmn_mV * abs(previous.k / k) for k in ks]
    vmn = max(vmns)
    vab, current = previous.vab_V, previous.current_mA
    if settings.strategy == "adaptive":
        supply = board.injector.supply
        loop_ohm = previous.vab_measured_V / (previous.current_mA / 1000)
        safe = board.limits.max_safe_voltage(loop_ohm)
        if safe < board.limits.max_voltage_V:  # as the probe does: 10 % under current and power limits
            safe *= 0.9
        v_max = min(safe, supply.max_voltage)
        target = previous.vab_V * settings.vmn_target_mV / vmn if vmn > 0 else v_max
        vab = round(max(0.1, min(target, v_max)), 2)
        scale = vab / previous.vab_V
        vmns, current = [v * scale for v in vmns], current * scale
    room = 2 * (previous.sp_peak_mV + SP_ROOM_MV)
    return Ranges(
        ab=ab,
        k=ks[0],
        key=previous.key,
        vab_V=vab,
        vab_measured_V=previous.vab_measured_V * vab / previous.vab_V,
        current_mA=current,
        vmn_mV=vmns[0],
        sp_peak_mV=previous.sp_peak_mV,
        current_fsr=full_scale_for(current * board.shunt_ohm * board.current_gain / 1000),
        voltage_fsr=tuple(full_scale_for((v + room) * board.vmn_gain / 1000) for v in vmns),
    )
