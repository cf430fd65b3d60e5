"""Items as the producers make them (a measurement, a survey description), for the store's tests
and the recorder's."""

from __future__ import annotations

from ohmpi.record import make_record


def record(i: int, *, r="default", flags=(), n_el=32) -> dict:
    a = i % (n_el - 3) + 1
    r_ohm = (1.0 + i * 0.25) if r == "default" else r
    return make_record(
        a=a,
        b=a + 1,
        m=a + 2,
        n=a + 3,
        time=f"2026-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        vab_V=12.0,
        iab_mA=10.0 + i,
        iab_std_pct=0.1,
        vmn_mV=r_ohm * (10.0 + i) if r_ohm else None,
        vmn_std_pct=0.2,
        sp_mV=-3.5,
        r_ohm=r_ohm,
        r_std_pct=0.5,
        k_m=-18.85,
        rhoa_ohmm=-18.85 * r_ohm if r_ohm else None,
        rab_kohm=1.2,
        n_stacks=2,
        injection_ms=250.0,
        duty_cycle=0.5,
        sampling_hz=860.0,
        n_samples=3,
        strategy="fixed",
        flags=list(flags),
    )


def meas(i: int, survey="S1", pass_index=0, seq_index=None, *, waveform=True, **kw) -> dict:
    mid = f"{survey}:{pass_index}:{i}"
    wf = (
        {
            "t_s": [0.0, 0.00116, 0.00233],
            "polarity": [1, 1, -1],
            "current_mA": [10.5, 10.25, -10.5],
            "voltage_mV": [12.5, 12.375, -3.3],
            "counted": [False, True, True],
        }
        if waveform
        else None
    )
    return {
        "key": mid,
        "kind": "measurement",
        "body": {
            "measurement_id": mid,
            "survey_id": survey,
            "pass_index": pass_index,
            "seq_index": i if seq_index is None else seq_index,
            "instrument": "sim",
            "record": record(i, **kw),
            "waveform": wf,
        },
    }


def survey_item(sid="S1", n=1, *, state="running", updated=None, positions=True, n_el=32, total=10) -> dict:
    return {
        "key": f"survey:{sid}:{n}",
        "kind": "survey",
        "body": {
            "survey_id": sid,
            "name": f"line {sid}",
            "created": "2026-03-01T10:00:00Z",
            "state": state,
            "array": "wenner",
            "n_electrodes": n_el,
            "total": total,
            "repeat": 2,
            "every_s": 0.0,
            "settings": {"nb_stack": 2},
            "positions": [[i * 0.5, 0.0, 0.0] for i in range(n_el)] if positions else None,
            "sequence": [[1, 2, 3, 4]] * total,
            "updated": updated or f"2026-03-01T10:00:{n:02d}Z",
        },
    }
