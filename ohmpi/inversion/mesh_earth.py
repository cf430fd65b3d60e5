"""Two-dimensional earth models for the simulated instrument, computed with pyGIMLi's forward
modelling (2.5-D finite elements): any model on a mesh, or a few primitives in a background.

    block:rho=100,10;x=10,20;z=2,6      a block (x from..to, depth from..to, m) in a background
    circle:rho=100,10;x=20;z=5;r=3      a circle (centre x, centre depth, radius) in a background
    mesh:FILE[;rho=R1,R2,…]             a pyGIMLi mesh (.bms, .vtk): cell data "rho"/"res", or
                                        the resistivity of each region marker 1, 2, … in turn

Coordinates are the electrodes' own x (along the line) and depth below z = 0 (primitives assume
a flat surface; a mesh file carries its own topography). Every electrode acts as a pole: one
forward run per set of electrode positions gives the potential at each electrode of a unit
current at each other one, from which any quadrupole's R follows (and the simulator's
potentials). Flagged as 2-D: the ground is invariant across the line.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ohmpi.earth import SIGNS, EarthModel, _check_resistivity
from ohmpi.geometry import pole_distances

KINDS = {"block": {"rho": 2, "x": 2, "z": 2}, "circle": {"rho": 2, "x": 1, "z": 1, "r": 1}}


def _numbers(text: str, rest: str) -> tuple[dict, str | None]:
    params, path = {}, None
    for part in filter(None, (p.strip() for p in rest.split(";"))):
        if "=" not in part:
            if path is None:
                path = part
                continue
            raise ValueError(f"earth model {text!r}: {part!r} is not key=value")
        key, _, values = (s.strip() for s in part.partition("="))
        key = key.lower()
        if key in params:
            raise ValueError(f"earth model {text!r}: {key} given twice")
        try:
            params[key] = [float(v) for v in values.split(",")]
        except ValueError:
            raise ValueError(f"earth model {text!r}: {key}={values!r} is not a list of numbers") from None
        if not all(math.isfinite(v) for v in params[key]):
            raise ValueError(f"earth model {text!r}: {key} must be finite numbers")
    return params, path


def parse(text: str) -> "MeshEarth":
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    params, path = _numbers(text, rest)
    if kind == "mesh":
        if path is None:
            raise ValueError(f"earth model {text!r}: mesh needs a file: 'mesh:FILE[;rho=R1,R2,…]'")
        if not Path(path).is_file():
            raise ValueError(f"earth model {text!r}: mesh file {path!r} not found")
        extra = sorted(set(params) - {"rho"})
        if extra:
            raise ValueError(f"earth model {text!r}: unknown key(s) {', '.join(extra)} for mesh")
        rhos = [_check_resistivity(r, f"resistivity of region {i + 1}") for i, r in enumerate(params.get("rho", []))]
        return MeshEarth(kind, {"file": path, "rho": rhos}, text)
    if path is not None:
        raise ValueError(f"earth model {text!r}: {path!r} is not key=value")
    shape = KINDS[kind]
    extra = sorted(set(params) - set(shape))
    if extra:
        raise ValueError(f"earth model {text!r}: unknown key(s) {', '.join(extra)} for {kind}")
    for key, count in shape.items():
        if len(params.get(key, [])) != count:
            raise ValueError(
                f"earth model {text!r}: {kind} takes {count} value(s) for {key}, got {len(params.get(key, []))}"
            )
    params["rho"] = [
        _check_resistivity(params["rho"][0], "background resistivity"),
        _check_resistivity(params["rho"][1], f"resistivity of the {kind}"),
    ]
    if kind == "block" and not (params["x"][0] < params["x"][1] and 0 <= params["z"][0] < params["z"][1]):
        raise ValueError(
            f"earth model {text!r}: block needs x=FROM,TO with FROM < TO and z=TOP,BOTTOM "
            "with 0 <= TOP < BOTTOM (depths, m)"
        )
    if kind == "circle" and not (params["r"][0] > 0 and params["z"][0] - params["r"][0] > 0):
        raise ValueError(f"earth model {text!r}: circle needs r > 0 and lies below the surface (z > r)")
    return MeshEarth(kind, params, text)


class MeshEarth(EarthModel):
    """A 2-D earth computed by pyGIMLi for the electrode positions it is asked about."""

    def __init__(self, kind: str, params: dict, text: str):
        self.kind, self.params, self.text = kind, params, text
        self._electrodes: list[tuple] = []  # (x, z) of every position seen, in order
        self._poles: np.ndarray | None = None  # potential (V/A) at electrode j of +1 A at electrode i

    def __repr__(self):
        return f"MeshEarth({self.text!r})"

    def with_resistivity_scaled(self, layer, factor):
        raise NotImplementedError("chargeable mesh models are not supported")

    def potential_at_distance(self, r):
        raise TypeError("a mesh earth is 2-D: its potential depends on where source and receiver are")

    # ---- the pole-pole matrix ---------------------------------------------------------------
    @staticmethod
    def _key(point) -> tuple:
        return (round(float(point[0]), 6), round(float(point[2]), 6))

    def at_electrodes(self, positions) -> "MeshEarth":
        """Compute the potentials for all these electrodes at once (else they grow as they are asked)."""
        self._indices(np.asarray(positions, dtype=float))
        return self

    def _indices(self, points: np.ndarray) -> list[int]:
        keys = [self._key(p) for p in np.atleast_2d(points)]
        known = {k: i for i, k in enumerate(self._electrodes)}
        new = [k for k in dict.fromkeys(keys) if k not in known]
        if new or self._poles is None:
            self._electrodes.extend(new)
            self._poles = self._solve(np.array(self._electrodes, dtype=float))
            known = {k: i for i, k in enumerate(self._electrodes)}
        return [known[k] for k in keys]

    def _geometry(self, xz: np.ndarray):
        import pygimli as pg

        span = max(float(np.ptp(xz[:, 0])), 1.0)
        left, right = float(xz[:, 0].min()) - 2 * span, float(xz[:, 0].max()) + 2 * span
        world = pg.meshtools.createWorld(start=[left, 0], end=[right, -2 * span], worldMarker=True)
        if self.kind == "block":
            (x0, x1), (z0, z1) = self.params["x"], self.params["z"]
            world += pg.meshtools.createRectangle(start=[x0, -z0], end=[x1, -z1], marker=2)
        elif self.kind == "circle":
            world += pg.meshtools.createCircle(
                pos=[self.params["x"][0], -self.params["z"][0]], radius=self.params["r"][0], marker=2, nSegments=32
            )
        spacing = float(np.median(np.diff(np.sort(xz[:, 0])))) if len(xz) > 1 else 1.0
        for x, _ in xz:
            world.createNode([x, 0.0])
            world.createNode([x, -spacing / 10])  # refines under each electrode, as pyGIMLi advises
        mesh = pg.meshtools.createMesh(world, quality=33, area=max(spacing * spacing, 0.05))
        return mesh, {1: self.params["rho"][0], 2: self.params["rho"][1]}

    def _mesh(self, xz: np.ndarray):
        import pygimli as pg

        if self.kind != "mesh":
            mesh, by_marker = self._geometry(xz)
            return mesh, np.array([by_marker[c.marker()] for c in mesh.cells()], dtype=float)
        mesh = pg.load(self.params["file"])
        for name in ("rho", "res"):
            if name in mesh.dataKeys() and len(mesh[name]) == mesh.cellCount():
                return mesh, np.asarray(mesh[name], dtype=float)
        rhos = self.params["rho"]
        markers = np.asarray(mesh.cellMarkers(), dtype=int)
        if not rhos or markers.min() < 1 or markers.max() > len(rhos):
            raise ValueError(
                f"earth model {self.text!r}: the mesh has no cell data 'rho' and region markers "
                f"{sorted(set(markers.tolist()))}: give rho=R1,R2,… for markers 1..{markers.max()}"
            )
        return mesh, np.array(rhos, dtype=float)[markers - 1]

    def _solve(self, xz: np.ndarray) -> np.ndarray:
        import logging

        import pygimli as pg
        from pygimli.physics import ert

        logging.getLogger("pyGIMLi").setLevel(logging.WARNING)
        n = len(xz)
        poles = np.full((n, n), np.inf)
        if n < 2:
            return poles
        scheme = pg.DataContainerERT()
        for x, z in xz:
            scheme.createSensor([float(x), float(z)])
        pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
        for index, (i, j) in enumerate(pairs):
            scheme.createFourPointData(index, i, -1, j, -1)
        distance = np.array([math.dist(xz[i], xz[j]) for i, j in pairs])
        scheme["k"] = 2 * np.pi * distance  # pole-pole: R = ρa / k
        mesh, rho = self._mesh(xz)
        rhoa = np.array(ert.simulate(mesh, scheme=scheme, res=rho, noiseLevel=0, verbose=False, returnArray=True))
        for (i, j), value in zip(pairs, rhoa / (2 * np.pi * distance)):
            poles[i, j] = value
        return 0.5 * (poles + poles.T)  # reciprocity: the mean of both ways halves the discretisation error

    # ---- the earth-model interface -------------------------------------------------------------
    def potential(self, source_xyz, points_xyz) -> np.ndarray:
        points = np.atleast_2d(np.asarray(points_xyz, dtype=float))
        source = np.asarray(source_xyz, dtype=float).reshape(1, 3)
        i, *js = self._indices(np.vstack([source, points]))
        return np.array([self._poles[i, j] if j != i else np.inf for j in js])

    def transfer_resistances(self, positions, abmn) -> np.ndarray:
        distances, present = pole_distances(positions, abmn)  # checks the quadrupoles
        pos = np.asarray(positions, dtype=float)
        index = np.array([-1, *self._indices(pos)])  # electrode 0 (infinity) → -1, masked below
        quads = np.atleast_2d(np.asarray(abmn, dtype=int))
        a, b, m, n = quads.T
        src, rec = index[np.stack([a, b, a, b], axis=1)], index[np.stack([m, m, n, n], axis=1)]
        values = np.where(present, self._poles[src, rec], 0.0)
        return (values * SIGNS).sum(axis=1)
