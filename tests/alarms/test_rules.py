"""Rule parsing: every bad field is named; good rules round-trip through their table."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmpi.alarms import RuleError, parse_rule, parse_rules
from ohmpi.alarms.metrics import catalogue, metric_kind

GOOD = {
    "name": "low_battery",
    "when": "soh.controller.supply_V < 11.5",
    "for_s": 60,
    "severity": "warning",
    "actions": ["mqtt", "pause_survey"],
    "clear": 12.0,
}


def test_the_issue_example_parses():
    rule = parse_rule(GOOD)
    assert (rule.metric, rule.op, rule.threshold, rule.for_s, rule.clear) == (
        "soh.controller.supply_V",
        "<",
        11.5,
        60.0,
        12.0,
    )
    assert rule.holds(11.0) and not rule.holds(11.6) and rule.holds(None) is None
    assert not rule.clears(11.9) and rule.clears(12.0)
    assert parse_rule(rule.to_table()) == rule


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": "Bad Name"}, "alarms[0].name"),
        ({"name": None}, "alarms[0].name"),
        ({"when": "soh.controller.supply_V << 11"}, "alarms['low_battery'].when"),
        ({"when": "nosuch.metric > 1"}, "alarms['low_battery'].when"),
        ({"when": "survey.state < 3"}, "alarms['low_battery'].when"),
        ({"when": "soh.controller.supply_V < low"}, "alarms['low_battery'].when"),
        ({"when": "soh.controller.supply_V < nan"}, "alarms['low_battery'].when"),
        ({"when": "soh.controller.supply_V < inf"}, "alarms['low_battery'].when"),
        ({"when": 3}, "alarms['low_battery'].when"),
        ({"for_s": -1}, "alarms['low_battery'].for_s"),
        ({"for_s": True}, "alarms['low_battery'].for_s"),
        ({"for_s": "60"}, "alarms['low_battery'].for_s"),
        ({"severity": "fatal"}, "alarms['low_battery'].severity"),
        ({"actions": ["sms"]}, "alarms['low_battery'].actions"),
        ({"actions": "mqtt"}, "alarms['low_battery'].actions"),
        ({"actions": ["pause_survey", "stop_survey"]}, "alarms['low_battery'].actions"),
        ({"clear": 11.0}, "alarms['low_battery'].clear"),
        ({"actions": ["command"]}, "alarms['low_battery'].command"),
        ({"actions": ["command"], "command": "rm -rf /"}, "alarms['low_battery'].command"),
        ({"actions": ["command"], "command": ["a\0b"]}, "alarms['low_battery'].command"),
        ({"command": ["/bin/true"]}, "alarms['low_battery'].command"),
        ({"command_timeout_s": 0}, "alarms['low_battery'].command_timeout_s"),
        ({"baseline": "previous"}, "alarms['low_battery'].baseline"),
        ({"min_quadrupoles": 3}, "alarms['low_battery'].min_quadrupoles"),
        ({"colour": "red"}, "alarms['low_battery'].colour"),
    ],
)
def test_a_bad_field_is_named(change, field):
    with pytest.raises(RuleError) as err:
        parse_rule({**GOOD, **change})
    assert err.value.field == field and field in str(err.value)


def test_change_rules_take_a_baseline_and_a_count():
    rule = parse_rule({"name": "front", "when": "change.rhoa_pct > 10", "min_quadrupoles": 5})
    assert (rule.baseline, rule.min_quadrupoles) == ("previous", 5)
    rule = parse_rule({"name": "front", "when": "change.rhoa_pct > 10", "baseline": "S20261130T101010Z-ab12"})
    assert rule.baseline == "S20261130T101010Z-ab12"
    for bad in ({"baseline": "../etc"}, {"baseline": 3}, {"min_quadrupoles": 0}, {"min_quadrupoles": 2.5}):
        with pytest.raises(RuleError, match="front"):
            parse_rule({"name": "front", "when": "change.rhoa_pct > 10", **bad})


def test_words_compare_with_equality_only():
    rule = parse_rule({"name": "failed", "when": "survey.state == failed"})
    assert rule.holds("failed") and not rule.holds("running")
    assert parse_rule({"name": "x", "when": "survey.state != running"}).holds("paused")
    with pytest.raises(RuleError, match="clear"):
        parse_rule({"name": "failed", "when": "survey.state == failed", "clear": 1})


def test_a_rule_set_refuses_duplicates_and_non_lists():
    with pytest.raises(RuleError, match=r"alarms\[1\].name"):
        parse_rules([GOOD, GOOD])
    with pytest.raises(RuleError, match="list"):
        parse_rules({"name": "x"})
    with pytest.raises(RuleError, match=r"alarms\[1\]"):
        parse_rules([GOOD, "not a table"])


def test_the_catalogue_names_every_family():
    names = [m["metric"] for m in catalogue()]
    for family in (
        "soh.<process>.<field>",
        "process.<name>.dead_s",
        "survey.state",
        "survey.flagged_pct",
        "survey.reciprocal_error_pct",
        "rs_check.max_kohm",
        "change.rhoa_pct",
        "disk.free_mb",
    ):
        assert family in names
    assert metric_kind("process.sequencer.dead_s") == "number"
    with pytest.raises(ValueError, match="process.x.alive"):
        metric_kind("process.x.alive")


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "when",
                "for_s",
                "clear",
                "severity",
                "actions",
                "command",
                "baseline",
                "min_quadrupoles",
                "clear_for_s",
                "command_timeout_s",
                "zz",
            ]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=20),
            st.lists(st.text(max_size=8), max_size=3),
        ),
    )
)
def test_any_table_parses_or_names_a_field(table):
    try:
        rule = parse_rule(table)
    except RuleError as exc:
        assert exc.field.startswith("alarms[") and exc.reason
    else:
        assert parse_rule(rule.to_table()) == rule


def test_the_documented_examples_parse():
    """docs/alarms.md and the commented example of ohmpi.toml say what the code accepts."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    block = re.search(r"```toml\n(.*?)```", (root / "docs/alarms.md").read_text(), re.S).group(1)
    assert [r.name for r in parse_rules(tomllib.loads(block)["alarms"])] == ["low_battery", "infiltration_front"]
    toml = (root / "ohmpi.toml").read_text()
    lines = []
    for line in toml[toml.index("# [[alarms]]") :].splitlines():
        if not line.startswith("#"):
            break  # the end of the commented example
        lines.append(line[2:])
    example = "\n".join(lines)
    assert [r.name for r in parse_rules(tomllib.loads(example)["alarms"])] == ["low_battery", "ground_moved"]
