"""One home for shared constants, per layer: bus/constants.py (log levels, log limits) and the
domain's own modules (ohmpi/survey_machine.py survey states and limits, ohmpi/store export
formats, ohmpi/measure/settings.py ranges). The layering forbids some imports (ohmpi may not import
bus, the web may not import ohmpi), so a few copies must stay: this test pins each one."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from bus.constants import LEVEL_NUMBERS, LOG_LEVELS
from ohmpi.measure.settings import SETTINGS_SPEC
from ohmpi.store import EXPORT_FORMATS
from ohmpi.store import LEVELS as STORE_LEVELS
from ohmpi.survey_machine import MAX_REPEAT, STATES
from web.api import ROUTES

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "web" / "static"


class Inputs(HTMLParser):
    """The page's form controls: <input name> attributes and <select id> option values."""

    def __init__(self):
        super().__init__()
        self.inputs: dict[str, dict] = {}
        self.options: dict[str, list[str]] = {}
        self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.inputs.setdefault(a["name"], a)
        elif tag == "select":
            self._select = a.get("id")
        elif tag == "option" and self._select:
            self.options.setdefault(self._select, []).append(a.get("value"))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def page() -> Inputs:
    parser = Inputs()
    parser.feed((STATIC / "index.html").read_text())
    return parser


def query_field(path: str, name: str):
    route = next(r for r in ROUTES if r.path == path)
    return next(f for f in route.query if f.name == name)


def test_the_store_numbers_log_levels_as_the_bus_does():
    assert list(STORE_LEVELS.items()) == list(LEVEL_NUMBERS.items())


def test_the_gateway_checks_with_the_homes():
    assert query_field("/api/logs", "level").enum == LOG_LEVELS
    export = next(r.path for r in ROUTES if r.path.endswith("/export"))
    assert tuple(query_field(export, "format").enum) == tuple(EXPORT_FORMATS)  # the web may not import ohmpi


def test_the_page_form_limits_are_the_domain_ones():
    inputs = page().inputs
    assert int(inputs["repeat"]["max"]) == MAX_REPEAT
    for name, setting in (("stacks", "nb_stack"), ("injection_ms", "injection_ms")):
        spec = SETTINGS_SPEC[setting]
        assert (float(inputs[name]["min"]), float(inputs[name]["max"])) == (spec.low, spec.high), name


def test_the_page_log_filter_offers_levels_in_their_order():
    offered = page().options["log-level"]
    assert offered == [level for level in LOG_LEVELS if level in offered]


def test_the_page_keeps_no_copy_of_levels_or_state_lists():
    for path in STATIC.glob("*.js"):
        text = path.read_text()
        assert not re.search(r"\bdebug\s*:\s*10\b", text), f"{path.name}: a copy of the log levels"
        assert not re.search(r"\[\s*\"running\"\s*,\s*\"paused\"", text), f"{path.name}: a copy of the active states"
        for state in re.findall(r"\b(?:s|survey)\.state\s*===?\s*\"(\w+)\"", text):  # a survey's state
            assert state in STATES, f"{path.name}: unknown survey state {state!r}"


def test_the_page_offers_only_formats_the_store_exports():
    text = (STATIC / "app.js").read_text()
    offered = set(re.findall(r"\blink\(\"(\w+)\"", text))
    assert offered and offered <= set(EXPORT_FORMATS), offered


def test_the_gateway_describes_an_inversion_summary_as_the_store_keeps_it():
    from ohmpi.store.inversions import SUMMARY as STORED
    from web.inversion_routes import SUMMARY as DESCRIBED

    assert tuple(DESCRIBED["properties"]) == STORED  # the web may not import ohmpi
