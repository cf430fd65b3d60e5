"""The measurement procedure on a Board: connect, probe, choose gains (and voltage for
the adaptive strategy), run the stacked square wave, analyse, always leave the board
safe. Abort is checked before every sample and every wait of at most one sample step.

One A–B injection serves up to k M–N dipoles at once, one per receiver channel
(``measure_group``): one record per dipole. One quadrupole (``measure``) is the group of one.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from ohmpi import geometry
from ohmpi.measure import ranges as gain_memory
from ohmpi.measure.analysis import Context, analyse
from ohmpi.measure.sampling import Sampler, full_scale_for, plan_window
from ohmpi.measure.settings import Settings, validate_settings
from ohmpi.measure.stacking import enough
from ohmpi.record import make_record
from ohmpi.relay_plan import orient_group
from ohmpi.safety import SafetyError, SafetyTrip, group_state, receiver_roles

OPEN_CURRENT_MA = 0.005  # below this no current flows: A or B is not in the ground


class Aborted(RuntimeError):
    """The measurement was aborted; the injection is off and every relay released."""


def _abort_check(abort):
    if abort is None:
        return lambda: False
    if hasattr(abort, "is_set"):
        return abort.is_set
    if callable(abort):
        return abort
    raise TypeError("abort must be a threading.Event, a callable or None")


class _Run:
    """State of one measurement: the board, the sampler, the samples taken so far
    (Vmn and its saturation: one column per receiver channel)."""

    def __init__(self, board, settings: Settings, abort, channels: int = 1):
        self.board = board
        self.settings = settings
        self.clock = board.clock
        self.aborted = _abort_check(abort)
        self.channels = channels
        self.sampler = Sampler(board, channels)
        self.columns = self._empty()
        self.segment = 0
        self.segment_starts: dict[int, float] = {}  # recorded segment -> its switching time
        self.ab_sign = 1  # -1 when A and B are wired the other way round (ohmpi.relay_plan)

    def _empty(self) -> dict:
        columns = {k: [] for k in ("t", "polarity", "segment", "counted", "current_mA", "current_saturated")}
        return columns | {k: [[] for _ in range(self.channels)] for k in ("vmn_mV", "saturated")}

    def restart(self) -> None:
        """Forget the samples taken (they were taken with ranges that did not fit)."""
        self.columns = self._empty()
        self.segment = 0
        self.segment_starts = {}

    def check_abort(self) -> None:
        if self.aborted():
            raise Aborted("measurement aborted")

    def wait_until(self, deadline: float, step: float) -> None:
        """Sleep until `deadline` in slices of at most one step, checking abort."""
        while True:
            self.check_abort()
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return
            self.clock.sleep(min(remaining, step))

    def segment_samples(self, polarity: int, duration: float, record: bool = True):
        """Sample one segment (injection on with `polarity`, or off when 0)."""
        s = self.settings
        injector = self.board.injector
        if polarity and record:
            # start each half-cycle at another mains phase (golden-ratio steps of one
            # sample step): the hum then dithers the ADC codes differently every time
            # and quantization errors average out instead of adding up
            phase = (self.segment * 0.6180339887) % 1.0
            self.wait_until(self.clock.monotonic() + phase / s.sampling_hz, 1 / s.sampling_hz)
        if polarity:
            injector.set_polarity(polarity * self.ab_sign)
            self.check_abort()
            injector.on()
        start = self.clock.monotonic()
        if record:
            self.segment_starts[self.segment] = start
        window = plan_window(duration, s.settling_ms / 1000, s.sampling_hz, s.mains_hz)
        step = (window.offsets[1] - window.offsets[0]) if len(window.offsets) > 1 else 1 / s.sampling_hz
        taken = []
        for offset, counted in zip(window.offsets, window.counted):
            self.wait_until(start + offset, step)
            t, i_mA, v_mV, sat_i, sat_v = self.sampler.sample()
            if polarity:
                self._check_current(i_mA, sat_i)
            taken.append((t, i_mA, v_mV, sat_i, sat_v, bool(counted)))
        self.wait_until(start + duration, step)
        if polarity:
            injector.off()
        if record:
            c = self.columns
            for t, i_mA, v_mV, sat_i, sat_v, counted in taken:
                c["t"].append(t), c["polarity"].append(polarity), c["segment"].append(self.segment)
                c["counted"].append(counted), c["current_mA"].append(i_mA), c["current_saturated"].append(sat_i)
                for channel in range(self.channels):
                    c["vmn_mV"][channel].append(v_mV[channel])
                    c["saturated"][channel].append(sat_i or sat_v[channel])
            self.segment += 1
        return taken

    def _check_current(self, i_mA: float, saturated: bool) -> None:
        if saturated and self.sampler.current_fsr == 6.144:
            raise SafetyTrip("injection current beyond the measurable range")
        try:
            self.board.limits.check_current(i_mA, self.board.injector.voltage)
        except SafetyError as exc:
            raise SafetyTrip(str(exc)) from None


def _values(samples, index, channel=None) -> list[float]:
    """Field `index` of each sample (of receiver channel `channel` for a per-channel field)."""
    return [x[index] if channel is None else x[index][channel] for x in samples]


def _peak(taken, index, channel=None) -> float:
    return max(map(abs, _values(taken, index, channel)), default=0.0)


def _mean(samples, index, channel=None) -> float:
    return float(np.mean(_values(samples, index, channel))) if samples else 0.0


def _probe(run: _Run):
    """One mains period off, then one + half-cycle, both ADCs at full scale.
    Returns (off samples, counted on samples, mean current mA or None if no current)."""
    s, sampler = run.settings, run.sampler
    sampler.current_fsr = 6.144
    sampler.voltage_fsr = [6.144] * run.channels
    period = 1.0 / s.mains_hz
    off = run.segment_samples(0, period, record=False)
    on = run.segment_samples(1, s.settling_ms / 1000 + period, record=False)
    on = [x for x in on if x[5]] or on[-1:]
    current = _mean(on, 1)
    return off, on, (current if current >= OPEN_CURRENT_MA else None)


def _prepare(run: _Run, reuse: "gain_memory.Ranges | None" = None) -> float | None:
    """Probe with one short + half-cycle at full scale; set the voltage (adaptive) and
    the ADC gains. Returns the probe current in mA, or None if there is none.
    With `reuse` (the previous quadrupole's, still fitting) nothing is probed."""
    s, board, sampler = run.settings, run.board, run.sampler
    injector = board.injector
    if reuse is not None:
        if injector.adjustable and reuse.vab_V != injector.voltage:
            injector.set_voltage(reuse.vab_V)
        sampler.rate = sampler.rate_for(s.sampling_hz)
        sampler.current_fsr, sampler.voltage_fsr = reuse.current_fsr, list(reuse.voltage_fsr)
        return reuse.current_mA
    if s.strategy == "adaptive":
        if not injector.adjustable:
            raise ValueError("strategy: 'adaptive' needs the dps5005 programmable supply")
        injector.set_voltage(min(5.0, board.limits.max_voltage_V))
    elif s.vab_V is not None:
        injector.set_voltage(s.vab_V)
    elif injector.adjustable:  # the output may have been switched off since: set it (and on) again
        injector.set_voltage(injector.voltage or min(12.0, board.limits.max_voltage_V))
    sampler.rate = sampler.rate_for(s.sampling_hz)
    off, on, current = _probe(run)
    if current is None:
        return None
    if s.strategy == "adaptive":
        # the strongest dipole at the target: none saturates, the others get what the earth gives
        vmn = max(abs(_mean(on, 2, ch) - _mean(off, 2, ch)) for ch in range(run.channels))
        loop_ohm = injector.voltage / (current / 1000)
        # aim 10 % under the current and power limits so noise on the measured current
        # never trips them (the voltage itself is regulated by the supply)
        safe = board.limits.max_safe_voltage(loop_ohm)
        if safe < board.limits.max_voltage_V:  # held by the current or power limit
            safe *= 0.9
        v_max = min(safe, injector.supply.max_voltage)
        target = injector.voltage * s.vmn_target_mV / vmn if vmn > 0 else v_max
        injector.set_voltage(round(max(0.1, min(target, v_max)), 2))
        off, on, current = _probe(run)  # what the supply really gives (it may limit)
        if current is None:
            return None
    if s.auto_gain:
        sampler.current_fsr = full_scale_for(_peak(on, 1) * board.shunt_ohm * board.current_gain / 1000)
        for ch in range(run.channels):
            v_peak = _peak(on, 2, ch) + 2 * _peak(off, 2, ch)  # the − half-cycle: |−signal + SP|
            sampler.voltage_fsr[ch] = full_scale_for(v_peak * board.vmn_gain / 1000)
    return current


class RangeMemory:
    """The gains and voltage the last held quadrupole used (None once anything was released)."""

    last: "gain_memory.Ranges | None" = None


def measure(
    board,
    positions,
    quadrupole,
    settings=None,
    *,
    abort=None,
    hold_relays: bool = False,
    memory: RangeMemory | None = None,
) -> tuple[dict, dict]:
    """Measure one quadrupole (a, b, m, n, 1-based); returns (record, waveform).
    The group of one dipole: see ``measure_group``."""
    a, b, m, n = quadrupole
    return measure_group(
        board, positions, (a, b), [(m, n)], settings, abort=abort, hold_relays=hold_relays, memory=memory
    )[0]


def measure_group(
    board,
    positions,
    ab,
    dipoles,
    settings=None,
    *,
    abort=None,
    hold_relays: bool = False,
    memory: RangeMemory | None = None,
) -> list[tuple[dict, dict]]:
    """Inject between A and B (`ab`) and measure each M–N of `dipoles` (1-based) on its own
    receiver channel, dipole i on channel i; returns one (record, waveform) per dipole.

    Raises SafetyError/ValueError for refused commands, Aborted when `abort` fires;
    in every case the injection is off and all relays are open on return — except with
    `hold_relays` after a measurement that succeeded: the relays then stay for the next
    group, which moves only those that differ (wired the way round that moves fewest),
    and with `memory` its gains and voltage are reused when they still fit (``ranges``).
    Stacking stops when every channel may stop (``stacking.enough``).
    """
    s = settings if isinstance(settings, Settings) else validate_settings(settings)
    dipoles = list(dipoles)
    state = group_state(*ab, dipoles, board.relays.n_electrodes, board.relays.channels)
    a, b = next(iter(state["A"])), next(iter(state["B"]))
    dipoles = [tuple(next(iter(state[role])) for role in receiver_roles(ch)) for ch in range(1, len(dipoles) + 1)]
    ks = [geometry.geometric_factor(positions, a, b, m, n) for m, n in dipoles]
    run = _Run(board, s, abort, len(dipoles))
    wiring = (a, b, dipoles)
    previous, memory = (memory.last if memory else None), memory or RangeMemory()
    memory.last = None
    reuse = (
        gain_memory.plan(previous, frozenset((a, b)), ks, s, board) if hold_relays and board.relays.state["A"] else None
    )
    if hold_relays:
        roles, run.ab_sign, run.sampler.v_sign = orient_group(a, b, dipoles, board.relays.state)
        wiring = (
            roles["A"],
            roles["B"],
            [(roles[m], roles[n]) for m, n in map(receiver_roles, range(1, len(dipoles) + 1))],
        )
    try:
        run.check_abort()
        board.relays.connect_group(*wiring)
        probe = _prepare(run, reuse)
        stacks = 0
        if probe is not None:
            on_s = s.injection_ms / 1000
            off_s = on_s * (1 / s.duty_cycle - 1)
            channels = range(run.channels)
            while not enough(s, stacks, lambda: [_analyse(run, ch).r_std_pct for ch in channels]):
                for polarity in (1, -1):
                    run.segment_samples(polarity, on_s)
                    if off_s > 1e-9:
                        run.segment_samples(0, off_s)
                stacks += 1
                c = run.columns
                if reuse is not None and any(x and y for sat in c["saturated"] for x, y in zip(sat, c["counted"])):
                    # the prediction missed: these samples are lost, probe as usual
                    run.restart()
                    reuse, stacks = None, 0
                    probe = _prepare(run)
                    if probe is None:
                        break
            vab = board.injector.voltage
            if reuse is not None:
                vab = reuse.vab_measured_V  # same supply setting into the same A–B loop
            elif board.injector.adjustable:
                board.injector.set_polarity(1)
                board.injector.on()
                vab = board.injector.supply.measured_voltage()  # constant-current may lower it
                board.injector.off()
    except BaseException:
        board.safe_state()
        raise
    if hold_relays:
        try:
            board.injector.off()  # the supply stays set (and on) behind the open injection relay
        except BaseException:
            board.safe_state()
            raise
    else:
        board.safe_state()
    c = run.columns
    time = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    common = dict(
        a=a,
        b=b,
        n_stacks=stacks,
        injection_ms=s.injection_ms,
        duty_cycle=s.duty_cycle,
        sampling_hz=s.sampling_hz,
        n_samples=len(c["t"]),
        strategy=s.strategy,
        time=time,
    )
    if probe is None:
        return [
            (
                make_record(
                    **common,
                    m=m,
                    n=n,
                    k_m=k,
                    channel=ch + 1,
                    vab_V=board.injector.voltage,
                    iab_mA=0.0,
                    flags=["open_electrode", "low_current"],
                ),
                _waveform(c, ch),
            )
            for ch, ((m, n), k) in enumerate(zip(dipoles, ks))
        ]
    results = [_analyse(run, ch, ip=True) for ch in range(run.channels)]
    out = []
    for ch, ((m, n), k, res) in enumerate(zip(dipoles, ks, results)):
        out.append((_record(common, board, s, c, ch, m, n, k, res, vab), _waveform(c, ch)))
    if hold_relays and all(r.iab_mA > 0 and math.isfinite(r.vmn_mV) for r in results):
        if not any("saturated" in record["flags"] for record, _ in out):
            first = results[0]
            memory.last = gain_memory.Ranges(
                ab=frozenset((a, b)),
                k=ks[0],
                key=gain_memory.settings_key(s),
                vab_V=board.injector.voltage,
                vab_measured_V=vab,
                current_mA=first.iab_mA,
                vmn_mV=abs(first.vmn_mV),
                sp_peak_mV=max(abs(r.sp_mV) for r in results),
                current_fsr=run.sampler.current_fsr,
                voltage_fsr=tuple(run.sampler.voltage_fsr),
            )
    return out


def _record(common: dict, board, s: Settings, c: dict, ch: int, m: int, n: int, k: float, res, vab: float) -> dict:
    """The record of receiver channel `ch` (0-based) from its analysis."""
    flags = []
    counted = np.asarray(c["counted"])
    if np.asarray(c["saturated"][ch])[counted].any():
        flags.append("saturated")
    if res.iab_mA < s.min_current_mA:
        flags.append("low_current")
    if res.r_std_pct > s.max_std_pct:
        flags.append("high_std")
    rab_ohm = vab / (res.iab_mA / 1000) - board.shunt_ohm if res.iab_mA > 0 else math.inf
    ip = {}
    if res.ip is not None:
        flags.extend(res.ip.flags)
        ip = dict(
            ip_mvv=res.ip.ip_mvv,
            ip_std_mvv=res.ip.ip_std_mvv,
            ip_windows_mvv=res.ip.windows_mvv,
            ip_delay_ms=res.ip.delay_ms,
            ip_windows_ms=res.ip.windows_ms,
        )
    return make_record(
        **common,
        m=m,
        n=n,
        k_m=k,
        channel=ch + 1,
        vab_V=vab,
        iab_mA=res.iab_mA,
        iab_std_pct=res.iab_std_pct,
        vmn_mV=res.vmn_mV,
        vmn_std_pct=res.vmn_std_pct,
        sp_mV=res.sp_mV,
        r_ohm=res.r_ohm,
        r_std_pct=res.r_std_pct,
        r_stack_std_pct=res.r_stack_std_pct,
        r_budget_pct=res.r_budget_pct,
        rhoa_ohmm=k * res.r_ohm,
        rab_kohm=rab_ohm / 1000,
        flags=flags,
        **ip,
    )


def _analyse(run: _Run, channel: int = 0, ip: bool = False):
    """R and its calibrated uncertainty on receiver channel `channel` (0-based) from the
    samples taken so far (IP only at the end)."""
    s, board, sampler, c = run.settings, run.board, run.sampler, run.columns
    context = Context(
        mains_hz=s.mains_hz,
        conversion_s=1.0 / sampler.rate,
        v_lsb_mV=sampler.voltage_fsr[channel] / 32768 / board.vmn_gain * 1000,
        i_lsb_mA=sampler.current_fsr / 32768 / (board.shunt_ohm * board.current_gain) * 1000,
        segment_starts=run.segment_starts,
        ip_delay_ms=s.ip_delay_ms,
        ip_windows_ms=s.ip_windows_ms if ip and s.duty_cycle < 1 else (),
    )
    offset = sampler.offset_s(channel)  # its turn on a shared ADC
    t = [x + offset for x in c["t"]] if offset else c["t"]
    vmn = c["vmn_mV"][channel]
    return analyse(t, c["polarity"], c["segment"], c["counted"], c["current_mA"], vmn, context)


def _waveform(c: dict, channel: int = 0) -> dict:
    t0 = c["t"][0] if c["t"] else 0.0
    return {
        "t_s": [t - t0 for t in c["t"]],
        "polarity": list(c["polarity"]),
        "current_mA": [p * i if p else i for p, i in zip(c["polarity"], c["current_mA"])],
        "voltage_mV": list(c["vmn_mV"][channel]),
        "counted": list(c["counted"]),
    }
