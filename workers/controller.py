"""The controller process: the only one that touches the hardware. `python -m workers.controller`.

At start, before anything else, it puts the instrument in its safe state (injection off,
every relay released). Every measurement is committed to a durable outbox before the
command is answered, then delivered to the recorder with acknowledgement; the events it
publishes on `data.<instrument>.*` are for watching, not for storage. A measurement id
it already has is answered from the outbox, never measured twice.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from datetime import datetime, timezone

from bus.config import check_table, load_file
from bus.errors import Aborted, BadRequest, Fault
from bus.node import Node
from bus.outbox import Outbox
from bus.rpc import Client
from ohmpi.instrument import Instrument
from ohmpi.measure.procedure import Aborted as MeasurementAborted
from ohmpi.safety import SafetyTrip
from ohmpi.measure.settings import SETTINGS_SPEC, validate_settings

from .common import instrument, positions, var_path

CONTROLLER_KEYS = {"instrument_name": str, "simulated": bool}


def controller_config() -> dict:
    """The `[controller]` table, checked; errors name the key."""
    table = check_table("controller", dict(load_file().get("controller", {})), CONTROLLER_KEYS)
    return {"instrument_name": "sim", "simulated": True, **table}


def _bad_setting(exc: ValueError) -> BadRequest:
    text = str(exc)
    field = text.split(":", 1)[0]
    spec = SETTINGS_SPEC.get(field)
    allowed = None
    if spec is not None:
        allowed = list(spec[1]) if spec[0] == "choice" else ([spec[1], spec[2]] if spec[1] is not None else None)
    return BadRequest(f"settings: {text}", arg=field, reason=text, allowed=allowed)


class Controller:
    def __init__(self, node: Node):
        self.node = node
        opts = controller_config()
        self.name = opts["instrument_name"]
        self.cfg = instrument()
        self.instrument = Instrument.from_config(self.cfg, simulated=opts["simulated"])
        self.instrument.safe_state()  # first thing: nothing injects, no relay is closed
        self.positions = positions(self.cfg)
        self.settings_path = var_path("controller-settings.json")
        self.settings = self._load_settings()
        self.abort_event = threading.Event()
        self.activity: str | None = None
        self.outbox = Outbox(var_path("controller-outbox.db"), "recorder", "ingest",
                             client_factory=lambda: Client(node.address, cfg=node.cfg, name="controller-out"),
                             stats=node.stats)
        node.command(self.measure, role="operator", background=True, lane="hardware")
        node.command(self.rs_check, role="operator", background=True, lane="hardware")
        node.command(self.self_test, role="operator", background=True, lane="hardware")
        node.command(self.abort, role="operator")  # anyone operating may stop any injection
        node.command(self.set_settings, role="operator")
        node.command(self.get_settings, role="viewer")
        node.command(self.geometry, role="viewer")
        node.status_providers.append(self._status)
        node.soh_providers.append(self._soh)
        node.stop_hooks.append(self.close)

    # ---- settings -------------------------------------------------------------------------
    def _load_settings(self) -> dict:
        try:
            saved = json.loads(self.settings_path.read_text())
            return validate_settings(saved).as_dict()
        except (OSError, ValueError):
            return validate_settings({"mains_hz": self.cfg["mains_hz"]}).as_dict()

    def get_settings(self) -> dict:
        """The measurement settings, with the allowed range of each."""
        spec = {name: {"kind": kind, "allowed": list(low) if kind == "choice" else None,
                       "min": None if kind in ("choice", "bool") else low,
                       "max": None if kind in ("choice", "bool") else high, "help": text}
                for name, (kind, low, high, text) in SETTINGS_SPEC.items()}
        return {"settings": self.settings, "spec": spec}

    def set_settings(self, settings: dict) -> dict:
        """Change some settings (validated all together; nothing changes on error)."""
        try:
            merged = validate_settings({**self.settings, **settings}).as_dict()
        except ValueError as exc:
            raise _bad_setting(exc) from None
        tmp = self.settings_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(merged))
        os.replace(tmp, self.settings_path)
        self.settings = merged
        self.node.log("info", f"settings changed: {settings}")
        return merged

    def geometry(self) -> dict:
        """Electrode count and positions [x, y, z] in metres."""
        return {"instrument": self.name, "n_electrodes": self.cfg["n_electrodes"], "positions": self.positions}

    # ---- hardware commands ------------------------------------------------------------------
    def _run(self, activity: str, fn):
        self.abort_event.clear()
        self.activity = activity
        try:
            return fn()
        except MeasurementAborted as exc:
            raise Aborted(f"{activity} aborted: {exc}") from None
        except SafetyTrip as exc:
            self.node.log("error", f"{activity}: safety trip: {exc}")
            raise Fault(f"{activity} stopped for safety: {exc} (injection off, relays released)") from None
        finally:
            self.activity = None

    def measure(self, a: int, b: int, m: int, n: int, settings: dict | None = None,
                measurement_id: str | None = None, survey_id: str | None = None,
                pass_index: int | None = None, seq_index: int | None = None) -> dict:
        """Measure one quadrupole (1-based electrodes); stored durably before answering."""
        if measurement_id is not None:
            if not 1 <= len(measurement_id) <= 200:
                raise BadRequest("measurement_id must be 1..200 characters", arg="measurement_id",
                                 reason="bad length")
            stored = self.outbox.get(measurement_id)
            if stored is not None:
                return {"measurement_id": measurement_id, "record": stored["record"], "repeated": True}
        try:
            merged = validate_settings({**self.settings, **(settings or {})}).as_dict()
        except ValueError as exc:
            raise _bad_setting(exc) from None
        try:
            record, waveform = self._run(f"measure {a} {b} {m} {n}", lambda: self.instrument.measure(
                a, b, m, n, **merged, abort=self.abort_event))
        except (ValueError,) as exc:  # SafetyError is a ValueError: refused before any relay moved
            raise BadRequest(f"measure {a} {b} {m} {n} refused: {exc}", arg="quadrupole", reason=str(exc)) from None
        mid = measurement_id or "M" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + secrets.token_hex(2)
        body = {"measurement_id": mid, "survey_id": survey_id, "pass_index": pass_index, "seq_index": seq_index,
                "instrument": self.name, "record": record, "waveform": waveform}
        self.outbox.put(mid, "measurement", body)  # durable before anyone hears of it
        event = {k: body[k] for k in ("measurement_id", "survey_id", "pass_index", "seq_index")} | record
        self.node.publish(f"data.{self.name}.measurement", event)
        self.node.publish(f"data.{self.name}.waveform", {"measurement_id": mid, **waveform})
        return {"measurement_id": mid, "record": record, "repeated": False}

    def rs_check(self, survey_id: str | None = None) -> dict:
        """Contact resistance of each adjacent electrode pair, and which electrodes are bad."""
        result = self._run("rs_check", lambda: self.instrument.rs_check(abort=self.abort_event))
        check_id = "C" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + secrets.token_hex(2)
        time = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.outbox.put(check_id, "rs_check", {"id": check_id, "time": time, "survey_id": survey_id,
                                               "instrument": self.name, "result": result})
        self.node.publish(f"data.{self.name}.rs_check", {"id": check_id, "time": time, **result})
        return {"id": check_id, **result}

    def self_test(self) -> dict:
        """Check every chip answers and the relays and injection switch as commanded."""
        return self._run("self_test", self.instrument.self_test)

    def abort(self) -> dict:
        """Stop the measurement in progress now (within one sampling period): injection off, relays open."""
        running = self.activity
        self.abort_event.set()
        if running is None:
            self.instrument.safe_state()
        self.node.log("warning", f"abort requested ({running or 'nothing running'})")
        return {"aborted": running}

    # ---- health ---------------------------------------------------------------------------
    def _soh(self) -> dict:
        return {"instrument": self.name, "activity": self.activity, "outbox_pending": self.outbox.pending(),
                **self.instrument.soh()}

    def _status(self) -> dict:
        return {**self._soh(), "settings": self.settings, "n_electrodes": self.cfg["n_electrodes"],
                "outbox_error": self.outbox.last_error}

    def close(self) -> None:
        self.abort_event.set()
        try:
            self.instrument.safe_state()
        finally:
            self.outbox.close()
            self.instrument.close()


def main() -> None:
    node = Node("controller")
    controller = Controller(node)
    controller.outbox.start()
    node.run()


if __name__ == "__main__":
    main()
