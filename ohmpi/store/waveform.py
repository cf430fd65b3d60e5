"""The waveform codec: a measurement's full time series as a compact blob (msgpack of numpy
columns, each in the narrowest dtype that holds it)."""

from __future__ import annotations

import msgpack
import numpy as np

WAVEFORM_FLOAT64 = frozenset({"t_s"})  # time keeps double precision; samples are float32


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def encode_waveform(waveform: dict) -> bytes:
    """A compact blob: per key, the smallest numpy dtype that holds its values (floats: float32,
    except t_s kept in float64; bools as bytes; ints in the narrowest width)."""
    cols = {}
    for name, values in waveform.items():
        if not isinstance(name, str) or not isinstance(values, list):
            raise ValueError(f"waveform[{name!r}] must be a list")
        if values and all(isinstance(v, bool) for v in values):
            dtype = "|b1"
        elif values and all(_is_int(v) for v in values):
            lo, hi = min(values), max(values)
            dtype = next(
                (d for d in ("|i1", "<i2", "<i4", "<i8") if np.iinfo(d).min <= lo and hi <= np.iinfo(d).max), None
            )
            if dtype is None:
                raise ValueError(f"waveform[{name!r}]: integer out of 64-bit range")
        elif all(_is_num(v) for v in values):
            dtype = "<f8" if name in WAVEFORM_FLOAT64 else "<f4"
        else:
            bad = next(v for v in values if not _is_num(v) and not isinstance(v, bool))
            raise ValueError(f"waveform[{name!r}] holds a non-number {bad!r}")
        cols[name] = [dtype, np.asarray(values, dtype=dtype).tobytes()]
    return msgpack.packb({"v": 1, "cols": cols}, use_bin_type=True)


def decode_waveform(blob: bytes) -> dict:
    """The dict of lists `encode_waveform` was given (floats rounded to float32 where stored so)."""
    data = msgpack.unpackb(blob, raw=False)
    out = {}
    for name, (dtype, raw) in data["cols"].items():
        values = np.frombuffer(raw, dtype=dtype)
        # float32 back as the shortest decimal that rounds to it (3.3, not 3.299999952316284)
        out[name] = [float(t) for t in values.astype(str)] if dtype == "<f4" else values.tolist()
    return out
