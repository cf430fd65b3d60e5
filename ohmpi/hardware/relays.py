"""The relay matrix: (electrode, role) → (expander pin), with the safety rules applied
before any register is written.

Switching is done in two passes — first every relay that must open, then every relay
that must close — so no intermediate state on the wire is ever outside the old or the
new (both checked) state. Relays never move while the injection is on.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from ohmpi.safety import ALL_ROLES, SafetyError, check_relay_state, group_state


class _Cabling(dict):
    """(electrode, role) → (chip, pin); a role this board does not cable is refused (SafetyError)."""

    def __missing__(self, key):
        raise SafetyError(f"electrode {key[0]}: no relay for role {key[1]} on this instrument")


class RelayMatrix:
    def __init__(
        self,
        chips: list,
        cabling: Mapping[tuple[int, str], tuple[int, int]],
        n_electrodes: int,
        injecting: Callable[[], bool] = lambda: False,
        *,
        clock=None,
        settle_s: float = 0.0,
    ):
        """`chips`: expander drivers; `cabling`: (electrode, role) → (chip index, pin)."""
        self.chips = chips
        self.cabling = _Cabling(cabling)
        self.roles = tuple(role for role in ALL_ROLES if any(r == role for _, r in self.cabling))
        self.channels = max(1, len(self.roles) // 2 - 1)  # receiver channels: A, B, then an M–N pair each
        self.n_electrodes = n_electrodes
        self.injecting = injecting
        self.clock = clock  # the board's: the settle wait counts in simulated seconds too
        self.settle_s = settle_s  # contacts follow their coils late: wait this long after any relay moved
        self._latches = [0] * len(chips)
        self._state = {role: frozenset() for role in self.roles}
        self.on_switch: Callable[[int, int, int], None] | None = None  # (chip, old, new): wear counting

    def setup(self) -> None:
        """Every chip pin an output, every relay open."""
        for chip in self.chips:
            chip.setup_outputs(0)
        self._latches = [0] * len(self.chips)
        self._state = {role: frozenset() for role in self.roles}

    @property
    def state(self) -> dict[str, frozenset]:
        return dict(self._state)

    def _latches_for(self, state: Mapping[str, Iterable[int]]) -> list[int]:
        latches = [0] * len(self.chips)
        for role, electrodes in state.items():
            for electrode in electrodes:
                chip, pin = self.cabling[(electrode, role)]
                latches[chip] |= 1 << pin
        return latches

    def connect(self, state: Mapping[str, Iterable[int]]) -> None:
        """Switch to exactly `state` ({role: electrodes}); SafetyError changes nothing."""
        norm = check_relay_state(state, self.n_electrodes)
        if self.injecting():
            raise SafetyError("relays cannot switch while the injection is on")
        new = self._latches_for(norm)
        moved = False
        for phase in ("open", "close"):
            for i, chip in enumerate(self.chips):
                target = self._latches[i] & new[i] if phase == "open" else new[i]
                if target != self._latches[i]:
                    chip.write_latch(target)
                    self._switched(i, target)
                    moved = True
        self._state = norm
        if moved and self.settle_s > 0 and self.clock is not None:
            # a contact closes an operate time after its coil, then bounces; an opened one lifts a
            # release time later: nothing is sampled or injected before they rest (held relays: no wait)
            self.clock.sleep(self.settle_s)

    def connect_quadrupole(self, a: int, b: int, m: int, n: int) -> None:
        self.connect({"A": [a], "B": [b], "M": [m], "N": [n]})

    def connect_group(self, a: int, b: int, dipoles) -> None:
        """A–B injecting, dipole i on receiver channel i (M, N; M2, N2; ...); every other relay open."""
        self.connect(group_state(a, b, dipoles, self.n_electrodes, self.channels))

    def _switched(self, chip: int, latch: int) -> None:
        old, self._latches[chip] = self._latches[chip], latch
        if self.on_switch is not None and old != latch:
            try:
                self.on_switch(chip, old, latch)
            except Exception:  # counting wear never stands in the way of switching (or releasing)
                pass

    def release_all(self) -> None:
        """Open every relay on every chip, whatever we believe their state is.

        Every chip is attempted even if one fails; the first error is raised after.
        """
        first_error = None
        for i, chip in enumerate(self.chips):
            try:
                chip.release()
                self._switched(i, 0)
            except Exception as exc:  # keep releasing the others
                first_error = first_error or exc
        self._state = {role: frozenset() for role in self.roles}
        if first_error is not None:
            raise first_error
