"""The inverter's saved queue: whatever bytes are on disk, loading never raises — a bad file is
set aside (kept, never deleted) and the queue starts empty; a good one comes back running first,
with ids that keep increasing."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.inversion.queue_file import NAME, QueueFile

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def job(job_id, state="queued", **extra):
    return {
        "job_id": job_id,
        "survey_id": "S-1",
        "pass_index": 1,
        "baseline": 0,
        "lambda": 20.0,
        "auto": False,
        "by": "ana",
        "state": state,
        "restarts": 0,
        **extra,
    }


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | JSONISH.map(lambda v: json.dumps(v).encode()))
def test_any_file_loads_or_is_set_aside(tmp_path_factory, data):
    var = tmp_path_factory.mktemp("var")
    (var / NAME).write_bytes(data)
    next_id, jobs, aside = QueueFile(var).load()
    assert next_id >= 1
    if aside:
        assert jobs == [] and not (var / NAME).exists()
        assert [p.read_bytes() for p in var.glob(f"{NAME}.corrupt-*")] == [data]


def test_a_good_file_comes_back_running_first_and_ids_go_on(tmp_path):
    store = QueueFile(tmp_path)
    store.save(5, [job(3), job(4, "running")])
    next_id, jobs, aside = store.load()
    assert (
        aside is None and next_id == 5 and [(j["job_id"], j["state"]) for j in jobs] == [(4, "running"), (3, "queued")]
    )
    (tmp_path / NAME).write_text(json.dumps({"next_id": 2, "jobs": [job(9)]}))
    assert store.load()[0] == 10  # never below a saved job's id


def test_one_bad_field_sets_the_file_aside_naming_it(tmp_path):
    for bad in ({"lambda": float("nan")}, {"pass_index": True}, {"state": "done"}, {"survey_id": "x" * 200}):
        (tmp_path / NAME).write_text(json.dumps({"next_id": 2, "jobs": [job(1, **bad)]}))
        _, jobs, aside = QueueFile(tmp_path).load()
        assert jobs == [] and repr(next(iter(bad)))[1:-1] in aside, aside
