"""The controller's deferred commit, in process: a real Node (no hub needed), the simulated
instrument, the real SQLite outbox. A repeated id whose commit is still queued is answered
from that commit (never measured again); a fence refuses what an abort left behind."""

from __future__ import annotations

import pytest

from bus.commands import Later
from bus.errors import Aborted, BadRequest, Unavailable
from bus.node import Node
from ohmpi.survey import measurement_id


@pytest.fixture
def controller(tmp_path, monkeypatch):
    config = tmp_path / "ohmpi.toml"
    config.write_text(f'[bus]\naddress = "ipc://{tmp_path}/bus"\n\n[instrument]\nn_electrodes = 8\ntime_scale = 0.0\n')
    monkeypatch.setenv("OHMPI_CONFIG", str(config))
    monkeypatch.setenv("OHMPI_VAR", str(tmp_path))
    from workers.controller import Controller

    node = Node("controller")
    ctl = Controller(node)
    yield ctl
    node.close()


def _quad(index: int, survey_id: str = "S20260101T000000Z-00000001") -> dict:
    return dict(
        a=1,
        b=4,
        m=2,
        n=3,
        measurement_id=measurement_id(survey_id, 0, index),
        survey_id=survey_id,
        pass_index=0,
        seq_index=index,
    )


def test_a_repeated_id_whose_commit_is_queued_is_answered_from_that_commit(controller):
    first = controller.measure(**_quad(0))
    assert isinstance(first, Later)  # measured; its commit not yet run
    clock = controller.instrument.board.clock.monotonic()  # simulated time: it moves when measuring
    again = controller.measure(**_quad(0))
    assert isinstance(again, Later)
    assert controller.instrument.board.clock.monotonic() == clock  # not measured a second time
    done = first.finish()
    assert done["repeated"] is False
    repeated = again.finish()
    assert repeated["repeated"] is True and repeated["record"] == done["record"]
    assert controller.measure(**_quad(0))["repeated"] is True  # committed: answered at once


def test_a_commit_that_failed_is_not_answered_as_stored(controller):
    first = controller.measure(**_quad(1))
    again = controller.measure(**_quad(1))
    controller.outbox._db.execute("PRAGMA query_only = ON")  # the outbox cannot be written
    with pytest.raises(Unavailable, match="could not be stored"):
        first.finish()
    with pytest.raises(Unavailable, match="was not stored"):
        again.finish()
    controller.outbox._db.execute("PRAGMA query_only = OFF")
    assert controller.measure(**_quad(1)).finish()["repeated"] is False  # measured again, once


def test_a_fence_refuses_quadrupoles_past_the_aborted_one_until_the_survey_comes_back(controller):
    controller._fence("S20260101T000000Z-00000002", (0, 5))
    with pytest.raises(Aborted, match="aborted at quadrupole 5"):
        controller.measure(**_quad(6, "S20260101T000000Z-00000002"))
    controller.measure(**_quad(5, "S20260101T000000Z-00000002")).finish()  # the resume lifts it
    controller.measure(**_quad(6, "S20260101T000000Z-00000002")).finish()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "12", 10**8])
def test_a_bad_survey_total_is_refused_by_name_before_anything_is_measured(controller, bad):
    clock = controller.instrument.board.clock.monotonic()
    with pytest.raises(BadRequest) as info:
        controller.measure(**_quad(7), survey_total=bad)
    assert info.value.details["arg"] == "survey_total"
    assert controller.instrument.board.clock.monotonic() == clock  # nothing measured


def test_the_battery_estimate_counts_passes_of_the_survey_from_the_first_quadrupole(controller):
    """Before any pass has finished, surveys left rests on the running pass: its energy per
    quadrupole times the pass's length (`survey_total`); each pass is one survey for the battery."""
    controller.measure(**_quad(0), survey_total=40).finish()
    soh = controller.instrument.soh()
    assert soh["surveys_left"] is not None and soh["surveys_left"] > 0
    assert "x 40" in soh["surveys_left_basis"]
    energy = controller.instrument.survey_energy
    assert list(energy.surveys) == ["S20260101T000000Z-00000001#0"]
    assert energy.surveys["S20260101T000000Z-00000001#0"]["quadrupoles"] == 1
