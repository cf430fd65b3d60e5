"""What the ADC pins see, computed from the relay and injection states.

Electrodes sit in an earth model (``ohmpi.earth``) with a contact resistance each
(infinite = open); the supply drives a current through shunt + contacts; the voltage
between M and N is the earth's transfer resistance times that current, plus the
electrodes' self-potential (with drift), mains hum and random noise. The ADS1115
emulation then clamps, saturates and quantizes.

A chargeable earth (Cole–Cole layers, ``ohmpi.colecole``) remembers the current history:
every switching of the current is a step whose polarization decays as the layer's
relaxation, summed over all steps since the electrodes were connected. Each layer counts
with its sensitivity ∂ln R/∂ln ρ_i for the quadrupole (Seigel's apparent chargeability:
exact for a homogeneous earth, first order in m for layers).
"""

from __future__ import annotations

import math
import random
from typing import Callable

import numpy as np

from ohmpi import colecole
from ohmpi.safety import receiver_roles

SENSITIVITY_STEP = 1e-3  # relative change of a layer's resistivity for ∂ln R/∂ln ρ


def parallel(resistances) -> float:
    conductance = sum(1.0 / r for r in resistances if r > 0 and math.isfinite(r))
    return 1.0 / conductance if conductance > 0 else math.inf


class Physics:
    def __init__(
        self,
        positions,
        earth,
        contact_ohm,
        *,
        relay_state: Callable[[], dict],
        supply_voltage: Callable[[], float],
        polarity: Callable[[], int],
        sp_V=None,
        sp_drift_V_per_s=None,
        noise: float = 0.0,
        current_noise: float = 0.0,
        noise_floor_V: float = 0.0,
        hum_V: float = 0.0,
        mains_hz: float = 50.0,
        shunt_ohm: float = 1.0,
        current_gain: float = 20.0,
        vmn_gain: float = 1.0,
        vdd: float = 5.0,
        seed: int = 0,
    ):
        self.positions = np.asarray(positions, dtype=float)
        self.earth = earth
        self.contact_ohm = np.asarray(contact_ohm, dtype=float)
        n = len(self.positions)
        self.sp_V = np.zeros(n) if sp_V is None else np.asarray(sp_V, dtype=float)
        self.sp_drift = np.zeros(n) if sp_drift_V_per_s is None else np.asarray(sp_drift_V_per_s, float)
        self.relay_state = relay_state
        self.supply_voltage = supply_voltage
        self.polarity = polarity
        self.noise = noise
        self.current_noise = current_noise
        self.noise_floor_V = noise_floor_V
        self.hum_V = hum_V
        self.mains_hz = mains_hz
        self.hum_phase = 0.7
        self.shunt_ohm = shunt_ohm
        self.current_gain = current_gain
        self.vmn_gain = vmn_gain
        self.vdd = vdd
        self.rng = random.Random(seed)
        self._circuits: dict = {}
        self._last_circuit: dict[int, tuple] = {}  # channel -> (state object, circuit)
        self._sp_terms: dict = {}
        self.chargeable = bool(getattr(earth, "chargeable", False))
        if self.chargeable:
            self._spectra = [colecole.spectrum(layer.tau, layer.c) for layer in earth.ip]
            self._ip_weights: dict = {}  # relay key -> per-layer m·S (fraction)
            self._reset_history(None)

    # -- induced polarization: the current history and its decaying polarization ------------------
    def _reset_history(self, state) -> None:
        self._history_state = state
        self._history_t = None
        self._history_current = 0.0
        self._history = [np.zeros(len(s.rates)) for s in self._spectra]
        self.steps: list[tuple[float, float]] = []  # (time, ΔI in A) since the electrodes were connected

    def _propagate(self, t: float) -> None:
        if self._history_t is not None and t != self._history_t:
            dt = t - self._history_t
            for i, spec in enumerate(self._spectra):
                self._history[i] = self._history[i] * np.exp(-spec.rates * dt)
        self._history_t = t

    def observe(self, t: float) -> None:
        """Note the current flowing at time t (called before the clock leaves t)."""
        if not self.chargeable:
            return
        state = self.relay_state()
        if state is not self._history_state:
            self._reset_history(state)
        current = self.current_A() * self.polarity()
        if current != self._history_current:
            self._propagate(t)
            delta = current - self._history_current
            for vector in self._history:
                vector += delta
            self._history_current = current
            self.steps.append((t, delta))

    def polarization_V(self, t0: float, t1: float, transfer: float, state: dict, channel: int = 1) -> float:
        """Mean over [t0, t1] of the voltage the earth's polarization subtracts from R·I."""
        self.observe(t0)
        weights = self._ip_weights.get(self._key(state, channel))
        if weights is None or not self.steps:
            return 0.0
        self._propagate(t0)
        total = 0.0
        for weight, spec, vector in zip(weights, self._spectra, self._history):
            if weight:
                total += weight * float(vector @ (spec.weights * spec.window_mean_factors(t1 - t0)))
        return transfer * total

    # -- the circuit for one relay state ------------------------------------------------------
    def circuit(self, state: dict, channel: int = 1) -> tuple[float, float | None]:
        """(contact resistance A+B in ohm, earth transfer resistance V_MN/I of receiver
        channel `channel` or None if its M or N is floating), cached per relay state."""
        last = self._last_circuit.get(channel)
        if last is not None and last[0] is state:  # relay_state() returns one object per relay state
            return last[1]
        key = self._key(state, channel)
        if key not in self._circuits:
            self._circuits[key] = self._solve(*key)
            if self.chargeable:
                self._ip_weights[key] = self._sensitivities(key, self._circuits[key][1])
        self._last_circuit[channel] = (state, self._circuits[key])
        return self._circuits[key]

    @staticmethod
    def _key(state: dict, channel: int = 1) -> tuple:
        return tuple(state.get(role, frozenset()) for role in ("A", "B", *receiver_roles(channel)))

    def _sensitivities(self, key, transfer) -> list[float] | None:
        """m_i · ∂ln R/∂ln ρ_i per layer (fractions), by central differences; None without current."""
        if not transfer:
            return None
        out = []
        for i, layer in enumerate(self.earth.ip):
            if layer.m <= 0:
                out.append(0.0)
                continue
            up = self._solve(*key, earth=self.earth.with_resistivity_scaled(i, 1 + SENSITIVITY_STEP))[1]
            down = self._solve(*key, earth=self.earth.with_resistivity_scaled(i, 1 - SENSITIVITY_STEP))[1]
            out.append(layer.m / 1000.0 * (up - down) / (2 * SENSITIVITY_STEP * transfer))
        return out

    def _solve(self, a_set, b_set, m_set, n_set, earth=None):
        earth = earth or self.earth
        ra = parallel(self.contact_ohm[e - 1] for e in a_set)
        rb = parallel(self.contact_ohm[e - 1] for e in b_set)
        floating = not m_set or not n_set or not all(math.isfinite(self.contact_ohm[e - 1]) for e in m_set | n_set)
        if floating:
            return ra + rb, None
        if not math.isfinite(ra + rb):
            return math.inf, 0.0  # no current can flow: only SP, hum and noise remain
        m_list, n_list = sorted(m_set), sorted(n_set)
        points = self.positions[[e - 1 for e in m_list + n_list]]
        potential = np.zeros(len(points))
        for sources, r_role, sign in ((a_set, ra, 1.0), (b_set, rb, -1.0)):
            for e in sources:
                share = r_role / self.contact_ohm[e - 1]  # current divides by conductance
                potential += sign * share * earth.potential(self.positions[e - 1], points)
        vm = potential[: len(m_list)].mean()
        vn = potential[len(m_list) :].mean()
        return ra + rb, float(vm - vn)

    def load_ohm(self) -> float:
        """What the supply sees when the injection relay is closed."""
        contact, _ = self.circuit(self.relay_state())
        return self.shunt_ohm + contact

    def current_A(self) -> float:
        volts = self.supply_voltage()
        if volts <= 0:
            return 0.0
        load = self.load_ohm()
        return volts / load if math.isfinite(load) else 0.0

    # -- time-dependent parts, averaged over a conversion window ----------------------------
    def _hum_mean(self, t0: float, t1: float) -> float:
        if not self.hum_V:
            return 0.0
        w = 2 * math.pi * self.mains_hz
        if t1 - t0 < 1e-9:
            return self.hum_V * math.sin(w * t0 + self.hum_phase)
        return self.hum_V * (math.cos(w * t0 + self.hum_phase) - math.cos(w * t1 + self.hum_phase)) / (w * (t1 - t0))

    def _sp(self, state: dict, t: float, channel: int = 1) -> float:
        key = tuple(state.get(role) for role in receiver_roles(channel))
        terms = self._sp_terms.get(key)
        if terms is None:
            m_set, n_set = key
            if not m_set or not n_set:
                terms = (0.0, 0.0)
            else:
                m_idx, n_idx = [e - 1 for e in m_set], [e - 1 for e in n_set]
                terms = (
                    float(self.sp_V[m_idx].mean() - self.sp_V[n_idx].mean()),
                    float(self.sp_drift[m_idx].mean() - self.sp_drift[n_idx].mean()),
                )
            self._sp_terms[key] = terms
        return terms[0] + terms[1] * t

    def vmn(self, t0: float, t1: float, channel: int = 1) -> float:
        """Mean potential difference at receiver channel `channel`'s front-end input over [t0, t1]."""
        state = self.relay_state()
        _, transfer = self.circuit(state, channel)
        if transfer is None:  # a floating input picks up hum and wanders
            return 20 * self._hum_mean(t0, t1) + self.rng.gauss(0.0, 0.05)
        signal = transfer * self.current_A() * self.polarity()
        if self.chargeable:
            signal -= self.polarization_V(t0, t1, transfer, state, channel)
        sigma = self.noise * abs(signal) + self.noise_floor_V
        return signal + self._sp(state, 0.5 * (t0 + t1), channel) + self._hum_mean(t0, t1) + self.rng.gauss(0.0, sigma)

    def current_pins(self, t0: float, t1: float):
        """Shunt amplifier output on AIN0 (the shunt sits before the polarity relay)."""
        amp = self.current_A() * self.shunt_ohm * self.current_gain
        amp *= 1.0 + self.rng.gauss(0.0, self.current_noise)
        amp += self.rng.gauss(0.0, self.noise_floor_V)
        return (amp, 0.0, 0.0, 0.0)

    def voltage_pins(self, t0: float, t1: float):
        """Fully differential front end around mid-supply: AIN0 − AIN1 = gain · Vmn."""
        return self.receiver_pins(((0, 1, 1),))(t0, t1)

    def receiver_pins(self, pairs):
        """Pin voltages of one ADS1115 whose differential pairs (pos, neg, channel) carry the
        front ends of those receiver channels: AINpos − AINneg = gain · Vmn of the channel."""
        mid = self.vdd / 2

        def pins(t0: float, t1: float):
            out = [0.0, 0.0, 0.0, 0.0]
            for pos, neg, channel in pairs:
                v = self.vmn_gain * self.vmn(t0, t1, channel)
                out[pos] = mid + v / 2
                if neg is not None:
                    out[neg] = mid - v / 2
            return tuple(out)

        return pins
