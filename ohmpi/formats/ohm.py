"""pyGIMLi / BERT unified data format (``.ohm``).

Layout: the electrode count, ``# x y z``, one position per line; the data count,
``# a b m n r rhoa k err i u``, one quadrupole per line; optionally a
topography block (count 0 here). Electrodes are 1-based and 0 is "at
infinity". Units are those of pyGIMLi's DataContainerERT: r in Ω, rhoa in Ω·m,
k in m, err as a fraction of r (the calibrated 1σ uncertainty, or an error model's), i in A,
u in V, ip the apparent integral chargeability in mV/V. Every value is written with a
decimal point (``1.0e-05``, never ``1e-05``: ResIPy's reader stops silently at such a token).

The writer keeps a data column only when every record has its value, because
pyGIMLi discards any datum holding NaN. The reader follows the token line,
whatever its order, ignores unknown tokens and extra values, accepts comment
lines, and honours unit suffixes (``u/mV``, ``i/mA``, ``err/%``, ``x/mm``).
"""

from __future__ import annotations

import math

import numpy as np

from ohmpi.formats._io import FormatError, complete, electrode_numbers, number_text, open_text, source_name
from ohmpi.record import make_record

# token: (record field, factor from the record's unit to the file's SI unit)
DATA_TOKENS: dict[str, tuple[str, float]] = {
    "r": ("r_ohm", 1.0),
    "rhoa": ("rhoa_ohmm", 1.0),
    "k": ("k_m", 1.0),
    "err": ("r_std_pct", 0.01),
    "i": ("iab_mA", 1e-3),
    "u": ("vmn_mV", 1e-3),
    "ip": ("ip_mvv", 1.0),
}
TOKEN_ORDER = ("r", "rhoa", "k", "err", "i", "u", "ip")
ALIASES = {
    "c1": "a",
    "c2": "b",
    "p1": "m",
    "p2": "n",
    "ra": "rhoa",
    "rho_a": "rhoa",
    "rho": "rhoa",
    "error": "err",
    "v": "u",
    "voltage": "u",
    "current": "i",
    "res": "r",
}
UNIT_SCALE = {"mv": 1e-3, "ma": 1e-3, "ms": 1e-3, "mm": 1e-3, "%": 1e-2, "ua": 1e-6, "uv": 1e-6}
DIGITS = 14


def decimal_text(value) -> str:
    """A number with DIGITS significant digits that always holds a decimal point."""
    text = number_text(float(value), DIGITS)
    if text in ("nan", "inf", "-inf"):
        return text
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


def write(records, positions, target) -> None:
    """Write positions (n, 3) and records; electrode numbers must fit the positions."""
    records = complete(records)
    quads = electrode_numbers(records)
    if positions is None:
        raise ValueError(".ohm needs electrode positions")
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (n, 3), got {pos.shape}")
    for index, quad in enumerate(quads):
        if max(quad) > len(pos):
            raise ValueError(f"record {index + 1}: electrode {max(quad)} but only {len(pos)} positions")
    tokens = [t for t in TOKEN_ORDER if records and all(r[DATA_TOKENS[t][0]] is not None for r in records)]
    with open_text(target, "w") as stream:
        stream.write(f"{len(pos)}\n# x y z\n")
        for x, y, z in pos.tolist():
            stream.write(f"{decimal_text(x)}\t{decimal_text(y)}\t{decimal_text(z)}\n")
        stream.write(f"{len(records)}\n# {' '.join(['a', 'b', 'm', 'n', *tokens])}\n")
        for quad, record in zip(quads, records):
            values = [str(e) for e in quad]
            for token in tokens:
                field, factor = DATA_TOKENS[token]
                values.append(decimal_text(float(record[field]) * factor))
            stream.write("\t".join(values) + "\n")
        stream.write("0\n")


def _split_token(token: str) -> tuple[str, float]:
    """Name and scale to SI of a header token such as 'u/mV' or 'err/%'."""
    name, _, unit = token.partition("/")
    name = name.strip().lower()
    name = ALIASES.get(name, name)
    return name, UNIT_SCALE.get(unit.strip().lower(), 1.0)


class _Lines:
    """Non-blank lines with their numbers; '#' lines are comments or token lines."""

    def __init__(self, text: str, source: str):
        self.items = [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
        self.position = 0
        self.source = source

    def error(self, line, reason):
        return FormatError(self.source, line, reason)

    def comments_then_line(self, what: str):
        """The '#' lines before the next content line, and that line."""
        comments = []
        while self.position < len(self.items):
            number, line = self.items[self.position]
            self.position += 1
            if line.startswith("#"):
                comments.append(line.lstrip("#").split())
            else:
                return comments, (number, line.split("#", 1)[0].split())
        raise self.error(None, f"file ends before {what}")

    def count(self, what: str):
        comments, (number, fields) = self.comments_then_line(what)
        if len(fields) != 1:
            raise self.error(number, f"expected {what} (one integer), got {' '.join(fields)!r}")
        try:
            value = int(fields[0])
        except ValueError:
            raise self.error(number, f"{what} must be an integer, got {fields[0]!r}") from None
        if value < 0:
            raise self.error(number, f"{what} must not be negative")
        return value


def _token_line(comments, known: set[str], default):
    """The last comment line naming a known token, else the default."""
    for tokens in reversed(comments):
        if any(_split_token(t)[0] in known for t in tokens):
            return tokens
    return default


def _floats(fields, number, lines, count):
    if len(fields) < count:
        raise lines.error(number, f"expected {count} values, got {len(fields)}")
    try:
        return [float(f) for f in fields[:count]]
    except ValueError as err:
        raise lines.error(number, f"not a number ({err})") from None


def read(target):
    """(records, positions) from a unified data file."""
    source = source_name(target)
    with open_text(target, "r") as stream:
        lines = _Lines(stream.read(), source)

    n_sensors = lines.count("the number of electrodes")
    sensor_tokens = None
    positions = np.zeros((n_sensors, 3))
    for index in range(n_sensors):
        comments, (number, fields) = lines.comments_then_line(f"electrode {index + 1} of {n_sensors}")
        if sensor_tokens is None:
            sensor_tokens = [_split_token(t) for t in _token_line(comments, {"x", "y", "z"}, ["x", "y", "z"])]
        values = _floats(fields, number, lines, min(len(fields), len(sensor_tokens)))
        if not values:
            raise lines.error(number, "empty electrode line")
        for (name, scale), value in zip(sensor_tokens, values):
            if name in ("x", "y", "z"):
                positions[index, "xyz".index(name)] = value * scale

    n_data = lines.count("the number of data")
    records = []
    data_tokens = None
    for index in range(n_data):
        comments, (number, fields) = lines.comments_then_line(f"datum {index + 1} of {n_data}")
        if data_tokens is None:
            tokens = _token_line(comments, {"a", "b", "m", "n"}, None)
            if tokens is None:
                raise lines.error(number, "no '# a b m n ...' token line before the data")
            data_tokens = [_split_token(t) for t in tokens]
            names = [name for name, _ in data_tokens]
            missing = [k for k in "abmn" if k not in names]
            if missing:
                raise lines.error(number, f"token line lacks {', '.join(missing)}")
        values = _floats(fields, number, lines, len(data_tokens))
        fields_out = {}
        for (name, scale), value in zip(data_tokens, values):
            if name in ("a", "b", "m", "n"):
                if not value.is_integer() or not 0 <= value <= n_sensors:
                    raise lines.error(number, f"electrode {name}={value:g} is not in 0..{n_sensors}")
                fields_out[name] = int(value)
            elif name in DATA_TOKENS:
                field, factor = DATA_TOKENS[name]
                fields_out[field] = None if math.isnan(value) else value * scale / factor
        records.append(make_record(**fields_out))
    return records, positions
