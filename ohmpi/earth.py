"""Earth models for the simulated instrument: potentials of a surface point current.

Every model gives the potential (V per A) at surface points for a point current
source on the surface, and from it the transfer resistance R = (V_M − V_N) / I of
a quadrupole. Electrodes are 1-based; number 0 for B or N is "at infinity".

- ``HomogeneousEarth``: half-space, V = ρ / (2π r).
- Every layer may be chargeable (induced polarization): Cole–Cole parameters m (mV/V),
  tau (s) and c per layer (``ohmpi.colecole``); the defaults (m = 0) make an earth without IP.
- ``LayeredEarth``: horizontal layers. Two layers use the exact image series
  (accelerated so that strong contrasts converge); three or more layers
  evaluate the Hankel integral of the Koefoed resistivity transform by
  Gauss–Legendre quadrature (validated against the image series).
- ``ContactEarth``: a vertical contact between two quarter-spaces (exact by one image).
- Two-dimensional models on a mesh ("mesh:FILE", "block:…", "circle:…") are computed with
  pyGIMLi when it is installed (``ohmpi.inversion.mesh_earth``); this module stays numpy only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ohmpi import colecole
from ohmpi.geometry import SIGNS, pole_distances

TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class ColeCole:
    """Chargeability of one layer: m in mV/V, tau in s, c in (0, 1]."""

    m: float = 0.0
    tau: float = 1.0
    c: float = 0.5

    def __post_init__(self):
        colecole.check_parameters(self.m, self.tau, self.c)


class EarthModel:
    """A 1-D earth: the potential depends only on the source-receiver distance."""

    ip: tuple[ColeCole, ...] = ()  # one per layer (top first); empty or all m = 0: no IP

    @property
    def chargeable(self) -> bool:
        return any(layer.m > 0 for layer in self.ip)

    def with_resistivity_scaled(self, layer: int, factor: float) -> "EarthModel":
        """The same earth with one layer's resistivity times `factor` (for IP sensitivities)."""
        raise NotImplementedError

    def at_electrodes(self, positions) -> "EarthModel":
        """Prepare for these electrode positions (a mesh model computes them all in one forward run)."""
        return self

    def potential_at_distance(self, r: np.ndarray) -> np.ndarray:
        """Potential (V/A) at distances r > 0 from a surface point source."""
        raise NotImplementedError

    def potential(self, source_xyz, points_xyz) -> np.ndarray:
        """Potential (V/A) at each point for +1 A injected at source_xyz.

        A point on the source itself gets +inf (the potential is singular there).
        """
        source = np.asarray(source_xyz, dtype=float).reshape(3)
        points = np.atleast_2d(np.asarray(points_xyz, dtype=float))
        r = np.linalg.norm(points - source, axis=1)
        out = np.full(r.shape, np.inf)
        away = r > 0
        out[away] = self.potential_at_distance(r[away])
        return out

    def transfer_resistances(self, positions, abmn) -> np.ndarray:
        """R = (V_M − V_N) / I for +I at A and −I at B, for each row of abmn (k, 4)."""
        distances, present = pole_distances(positions, abmn)
        needed = distances[present]
        unique, inverse = np.unique(needed, return_inverse=True)
        potentials = np.zeros_like(distances)
        potentials[present] = self.potential_at_distance(unique)[inverse] if len(unique) else needed
        return (potentials * SIGNS).sum(axis=1)

    def transfer_resistance(self, positions, a: int, b: int, m: int, n: int) -> float:
        """R (Ω) of one quadrupole; see transfer_resistances."""
        return float(self.transfer_resistances(positions, [[a, b, m, n]])[0])


class ContactEarth(EarthModel):
    """A vertical contact across the line at x = x_contact: rho_left for x < x_contact, rho_right beyond.

    Exact by images: for a source in medium 1 and K = (ρ2 − ρ1)/(ρ2 + ρ1), the potential in
    medium 1 is ρ1/2π (1/r + K/r') with r' the distance to the source mirrored in the contact,
    and in medium 2 it is ρ1 (1 + K)/2π r = ρ1ρ2/(π (ρ1 + ρ2) r).
    """

    def __init__(self, rho_left: float, rho_right: float, x_contact: float, ip=None):
        self.rhos = (
            _check_resistivity(rho_left, "resistivity left of the contact"),
            _check_resistivity(rho_right, "resistivity right of the contact"),
        )
        x_contact = float(x_contact)
        if not math.isfinite(x_contact):
            raise ValueError(f"contact position x must be a finite number (m), got {x_contact!r}")
        self.x_contact = x_contact
        layers = tuple(ip) if ip else (ColeCole(), ColeCole())
        if len(layers) != 2:
            raise ValueError(f"a contact has 2 sides needing 2 Cole–Cole parameter sets, got {len(layers)}")
        self.ip = layers

    def with_resistivity_scaled(self, layer, factor):
        rhos = list(self.rhos)
        rhos[layer] *= factor
        return ContactEarth(*rhos, self.x_contact, self.ip)

    def __repr__(self):
        return f"ContactEarth(rho={list(self.rhos)}, x={self.x_contact:g})"

    def potential_at_distance(self, r):
        raise TypeError("a contact earth is 2-D: its potential depends on where source and receiver are")

    def potential(self, source_xyz, points_xyz) -> np.ndarray:
        source = np.asarray(source_xyz, dtype=float).reshape(3)
        points = np.atleast_2d(np.asarray(points_xyz, dtype=float))
        out = np.full(len(points), np.inf)
        r = np.linalg.norm(points - source, axis=1)
        away = r > 0
        out[away] = self._potentials(np.broadcast_to(source, points.shape)[away], points[away], r[away])
        return out

    def _potentials(self, sources: np.ndarray, points: np.ndarray, r: np.ndarray) -> np.ndarray:
        """V (V/A) at each point for +1 A at the matching source (rows pair up, r > 0)."""
        x0 = self.x_contact
        src_right = sources[:, 0] >= x0
        rec_right = points[:, 0] >= x0
        rho_src = np.where(src_right, self.rhos[1], self.rhos[0])
        rho_other = np.where(src_right, self.rhos[0], self.rhos[1])
        k = (rho_other - rho_src) / (rho_other + rho_src)
        mirrored = sources.copy()
        mirrored[:, 0] = 2 * x0 - sources[:, 0]
        r_image = np.linalg.norm(points - mirrored, axis=1)
        same = src_right == rec_right
        with np.errstate(divide="ignore", invalid="ignore"):  # r' = 0 only across the contact (unused there)
            same_side = rho_src / TWO_PI * (1.0 / r + k / r_image)
        across = rho_src * rho_other / (np.pi * (rho_src + rho_other) * r)  # = ρ1 (1 + K)/2πr, without cancelling
        return np.where(same, same_side, across)

    def transfer_resistances(self, positions, abmn) -> np.ndarray:
        distances, present = pole_distances(positions, abmn)  # checks the quadrupoles
        pos = np.vstack([np.zeros((1, 3)), np.asarray(positions, dtype=float)])  # 0 = infinity (masked)
        quads = np.atleast_2d(np.asarray(abmn, dtype=int))
        a, b, m, n = quads.T
        sources, receivers = np.stack([a, b, a, b], axis=1), np.stack([m, m, n, n], axis=1)
        potentials = np.zeros(distances.shape)
        potentials[present] = self._potentials(pos[sources[present]], pos[receivers[present]], distances[present])
        return (potentials * SIGNS).sum(axis=1)


def _check_resistivity(value, what="resistivity") -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive finite number (Ω·m), got {value!r}")
    return value


class HomogeneousEarth(EarthModel):
    """Uniform half-space of resistivity rho (Ω·m)."""

    def __init__(self, rho: float, ip: ColeCole | None = None):
        self.rho = _check_resistivity(rho)
        self.ip = (ip or ColeCole(),)

    def with_resistivity_scaled(self, layer, factor):
        return HomogeneousEarth(self.rho * factor, self.ip[0])

    def potential_at_distance(self, r):
        return self.rho / (TWO_PI * np.asarray(r, dtype=float))

    def __repr__(self):
        return f"HomogeneousEarth(rho={self.rho:g})"


class LayeredEarth(EarthModel):
    """Horizontal layers: resistivities (top first, Ω·m) over thicknesses (m).

    The last layer is the infinite basement, so len(thicknesses) == len(resistivities) − 1.
    """

    def __init__(self, resistivities, thicknesses=(), ip=None):
        rhos = [_check_resistivity(r, f"resistivity of layer {i + 1}") for i, r in enumerate(resistivities)]
        hs = [float(h) for h in thicknesses]
        if not rhos:
            raise ValueError("a layered earth needs at least one resistivity")
        if len(hs) != len(rhos) - 1:
            raise ValueError(
                f"{len(rhos)} resistivities need {len(rhos) - 1} thicknesses "
                f"(the last layer is the basement), got {len(hs)}"
            )
        for i, h in enumerate(hs):
            if not math.isfinite(h) or h <= 0:
                raise ValueError(f"thickness of layer {i + 1} must be a positive number (m), got {h!r}")
        self.resistivities = tuple(rhos)
        self.thicknesses = tuple(hs)
        layers = tuple(ip) if ip else tuple(ColeCole() for _ in rhos)
        if len(layers) != len(rhos):
            raise ValueError(f"{len(rhos)} layers need {len(rhos)} Cole–Cole parameter sets, got {len(layers)}")
        self.ip = layers

    def with_resistivity_scaled(self, layer, factor):
        rhos = list(self.resistivities)
        rhos[layer] *= factor
        return LayeredEarth(rhos, self.thicknesses, self.ip)

    def __repr__(self):
        return f"LayeredEarth(resistivities={list(self.resistivities)}, thicknesses={list(self.thicknesses)})"

    _CACHE_LIMIT = 200_000

    def potential_at_distance(self, r):
        """Memoised per distance: a fixed electrode layout repeats the same few distances."""
        r = np.asarray(r, dtype=float)
        cache = self.__dict__.setdefault("_cache", {})
        flat = r.ravel().tolist()
        missing = sorted({d for d in flat if d not in cache})
        if missing:
            if len(cache) + len(missing) > self._CACHE_LIMIT:
                cache.clear()
            cache.update(zip(missing, self._compute(np.array(missing)).tolist()))
        return np.array([cache[d] for d in flat]).reshape(r.shape)

    def _compute(self, r: np.ndarray) -> np.ndarray:
        rho1 = self.resistivities[0]
        direct = rho1 / (TWO_PI * r)
        if len(self.resistivities) == 1:
            return direct
        if len(self.resistivities) == 2:
            return direct + rho1 / TWO_PI * _two_layer_images(r, self.resistivities, self.thicknesses[0])
        return direct + _layer_hankel_term(r, self.resistivities, self.thicknesses) / TWO_PI


def _two_layer_images(r: np.ndarray, rhos, h: float, tol: float = 1e-13) -> np.ndarray:
    """2 Σ_{n≥1} K^n / sqrt(r² + (2nh)²), K = (ρ2 − ρ1)/(ρ2 + ρ1).

    The far-field part Σ K^n / (2nh) = −ln(1 − K) / (2h) is summed exactly; the
    remainder decays like K^n r² / n³, so even |K| → 1 needs few thousand terms.
    """
    rho1, rho2 = rhos
    k = (rho2 - rho1) / (rho2 + rho1)
    if k == 0:
        return np.zeros_like(r)
    scale = max(float(np.max(r, initial=0.0)) / (2 * h), 1.0)
    # terms ~ |K|^n (r/2h)^2 / n^3: stop when both factors make them negligible
    geometric = math.log(tol) / math.log(abs(k)) if abs(k) < 1 else math.inf
    algebraic = scale * (1 / tol) ** (1 / 3) if abs(k) > 0.5 else math.inf
    n_terms = int(min(geometric, algebraic, 200_000)) + 2
    total = np.zeros_like(r)
    chunk = 4096
    for start in range(1, n_terms + 1, chunk):
        n = np.arange(start, min(start + chunk, n_terms + 1), dtype=float)
        depth = 2.0 * n * h
        weights = k**n
        diff = 1.0 / np.sqrt(r[:, None] ** 2 + depth**2) - 1.0 / depth
        total += diff @ weights
    return 2.0 * (total - math.log1p(-k) / (2.0 * h))


def resistivity_transform(lam: np.ndarray, rhos, hs) -> np.ndarray:
    """Koefoed's resistivity transform T(λ) at the surface (Pekeris recurrence).

    T = ρ_N in the basement; upward, T_i = (T_{i+1} + ρ_i t) / (1 + T_{i+1} t / ρ_i)
    with t = tanh(λ h_i). The surface potential is (1/2π) ∫ T(λ) J0(λr) dλ.
    """
    t_value = np.full_like(lam, rhos[-1], dtype=float)
    for rho, h in zip(reversed(rhos[:-1]), reversed(hs)):
        t = np.tanh(lam * h)
        t_value = (t_value + rho * t) / (1.0 + t_value * t / rho)
    return t_value


def bessel_j0(x: np.ndarray) -> np.ndarray:
    """J0(x): power series below 12, Hankel's asymptotic expansion above."""
    x = np.abs(np.asarray(x, dtype=float))
    out = np.empty_like(x)
    small = x < 12.0
    xs = x[small]
    term = np.ones_like(xs)
    total = np.ones_like(xs)
    q = -(xs**2) / 4.0
    for k in range(1, 60):
        term = term * q / (k * k)
        total += term
    out[small] = total
    xl = x[~small]
    # P, Q series in 1/(8x): coefficients from the product (4ν² − (2j−1)²), ν = 0
    p = np.ones_like(xl)
    qq = np.zeros_like(xl)
    coeff = 1.0
    inv = 1.0 / (8.0 * xl)
    power = np.ones_like(xl)
    for j in range(1, 24):
        coeff *= -((2 * j - 1) ** 2) / j
        power = power * inv
        if j % 2 == 1:
            qq += (-1) ** ((j - 1) // 2) * coeff * power
        else:
            p += (-1) ** (j // 2) * coeff * power
    phase = xl - np.pi / 4
    out[~small] = np.sqrt(2.0 / (np.pi * xl)) * (p * np.cos(phase) - qq * np.sin(phase))
    return out


def _layer_hankel_term(r: np.ndarray, rhos, hs, tol: float = 1e-12) -> np.ndarray:
    """∫_0^∞ (T(λ) − ρ1) J0(λr) dλ by composite Gauss–Legendre quadrature.

    T − ρ1 decays like exp(−2λ h1), so the integral is cut where that reaches tol;
    panels are narrow enough to follow both the oscillation of J0 at the largest
    r and the variation of T at the scale of the shallowest layer.
    """
    h1 = hs[0]
    lam_max = -math.log(tol) / (2.0 * h1)
    r_max = float(np.max(r, initial=0.0))
    panel = min(np.pi / max(r_max, 1e-12), 0.5 / h1, lam_max / 64)
    n_panels = int(math.ceil(lam_max / panel))
    nodes, weights = np.polynomial.legendre.leggauss(8)
    # T(λ) also turns over near λ ~ ρ_min / (ρ_max · depth), far below one panel
    # for strong contrasts: refine the first panel geometrically towards 0.
    first = panel * 0.5 ** np.arange(40, 0, -1)
    edges = np.concatenate([[0.0], first, np.linspace(panel, lam_max, n_panels)])
    half = np.diff(edges)[:, None] / 2.0
    centre = (edges[:-1] + edges[1:])[:, None] / 2.0
    lam = (centre + half * nodes).ravel()
    w = (half * weights).ravel()
    kernel = (resistivity_transform(lam, rhos, hs) - rhos[0]) * w
    out = np.empty_like(r)
    for start in range(0, len(r), 64):
        block = r[start : start + 64]
        out[start : start + 64] = bessel_j0(block[:, None] * lam) @ kernel
    return out


_NUMBER_LIST = re.compile(r"^\s*([a-zA-Z_]+)\s*=\s*(.*)$")


MESH_KINDS = ("mesh", "block", "circle")  # 2-D models computed with pyGIMLi (ohmpi.inversion.mesh_earth)


def parse_model(text: str) -> EarthModel:
    """An earth model from "homogeneous:rho=100", "layers:rho=100,10;h=5" or "contact:rho=100,10;x=20"
    (left, right of a vertical contact at x), each optionally
    chargeable: "homogeneous:rho=100;m=50;tau=1;c=0.5", "layers:rho=100,20;h=5;m=0,80"
    (m in mV/V, tau in s, c in 0..1, one value for every layer or one per layer).

    Raises ValueError saying what is wrong (unknown kind, key, or a bad number).
    """
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(
            f"earth model {text!r}: expected 'homogeneous:rho=R[;m=M;tau=T;c=C]' or "
            "'layers:rho=R1,R2,…;h=H1,…[;m=M1,M2,…]' or 'contact:rho=R1,R2;x=X'"
        )
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind in MESH_KINDS:
        try:
            from ohmpi.inversion import mesh_earth  # optional: pyGIMLi forward modelling
        except ImportError as exc:
            raise ValueError(
                f"earth model {text!r}: {kind} models need pyGIMLi (pip install -e '.[inversion]'): {exc}"
            ) from None
        return mesh_earth.parse(text)
    params: dict[str, list[float]] = {}
    for part in filter(None, (p.strip() for p in rest.split(";"))):
        match = _NUMBER_LIST.match(part)
        if not match:
            raise ValueError(f"earth model {text!r}: {part!r} is not key=value")
        key, values = match.group(1).lower(), match.group(2)
        if key in params:
            raise ValueError(f"earth model {text!r}: {key} given twice")
        try:
            params[key] = [float(v) for v in values.split(",")]
        except ValueError:
            raise ValueError(f"earth model {text!r}: {key}={values!r} is not a list of numbers") from None
    if kind == "homogeneous":
        allowed = {"rho", *IP_KEYS}
    elif kind in ("layers", "layered"):
        allowed = {"rho", "h", *IP_KEYS}
    elif kind == "contact":
        allowed = {"rho", "x", *IP_KEYS}
    else:
        raise ValueError(
            f"earth model {text!r}: unknown kind {kind!r} (homogeneous, layers, contact, {', '.join(MESH_KINDS)})"
        )
    extra = sorted(set(params) - allowed)
    if extra:
        raise ValueError(f"earth model {text!r}: unknown key(s) {', '.join(extra)} for {kind}")
    if "rho" not in params:
        raise ValueError(f"earth model {text!r}: missing rho")
    n_layers = len(params["rho"])
    if kind == "homogeneous" and n_layers != 1:
        raise ValueError(f"earth model {text!r}: homogeneous takes one rho")
    if kind == "contact" and (n_layers != 2 or len(params.get("x", [])) != 1):
        raise ValueError(f"earth model {text!r}: contact takes two rho (left, right) and one x")
    layers = _cole_cole_layers(text, params, n_layers)
    if kind == "homogeneous":
        return HomogeneousEarth(params["rho"][0], layers[0])
    if kind == "contact":
        try:
            return ContactEarth(params["rho"][0], params["rho"][1], params["x"][0], layers)
        except ValueError as exc:
            raise ValueError(f"earth model {text!r}: {exc}") from None
    return LayeredEarth(params["rho"], params.get("h", []), layers)


IP_KEYS = ("m", "tau", "c")  # chargeability mV/V, time constant s, exponent (Cole–Cole)


def _cole_cole_layers(text: str, params: dict, n_layers: int) -> list[ColeCole]:
    """One ColeCole per layer; a key given once applies to every layer."""
    values = {}
    for key in IP_KEYS:
        given = params.get(key, [getattr(ColeCole, key)])
        if len(given) not in (1, n_layers):
            raise ValueError(
                f"earth model {text!r}: {key} takes 1 or {n_layers} values (one per layer), got {len(given)}"
            )
        values[key] = given * n_layers if len(given) == 1 else given
    layers = []
    for i in range(n_layers):
        try:
            layers.append(ColeCole(values["m"][i], values["tau"][i], values["c"][i]))
        except ValueError as exc:
            raise ValueError(f"earth model {text!r}: layer {i + 1}: {exc}") from None
    return layers
