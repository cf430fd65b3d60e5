"""A stored inversion result as files: the model CSV and a VTK file ParaView opens. numpy only
(the recorder and the CLI export results without pyGIMLi).

CSV: one row per cell, `x_m,depth_m,rho_ohmm[,change_pct]` — the cell centre's distance along
the line and depth below the surface (positive downwards). VTK: legacy ASCII unstructured grid
of the cell polygons in the profile plane (x along the line, y the elevation), with ρ, log10 ρ,
coverage and (time-lapse) the change as cell data.
"""

from __future__ import annotations

import io
import math

FORMATS = ("model", "vtk")
EXTENSION = {"model": "_model.csv", "vtk": ".vtk"}
VTK_TYPE = {3: 5, 4: 9}  # triangle, quad; any other polygon is 7


def _number(value) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.6g}"


def cells(result: dict) -> dict:
    """The result's cells, checked to be the same length in every column."""
    table = result.get("cells") or {}
    n = len(table.get("rho") or [])
    for key in ("x", "depth", "polygons", *(("change_pct",) if "change_pct" in table else ())):
        if len(table.get(key) or []) != n:
            raise ValueError(
                f"stored result is inconsistent: cells.{key} has {len(table.get(key) or [])} values for {n} cells"
            )
    return table


def model_csv(result: dict) -> str:
    table = cells(result)
    change = table.get("change_pct")
    out = io.StringIO()
    out.write("x_m,depth_m,rho_ohmm" + (",change_pct" if change is not None else "") + "\n")
    for i, rho in enumerate(table["rho"]):
        row = [_number(table["x"][i]), _number(table["depth"][i]), _number(rho)]
        if change is not None:
            row.append(_number(change[i]))
        out.write(",".join(row) + "\n")
    return out.getvalue()


def vtk(result: dict, title: str = "ohmpi inversion") -> str:
    table = cells(result)
    points: dict[tuple, int] = {}
    polys = []
    for flat in table["polygons"]:
        ids = []
        for x, y in zip(flat[0::2], flat[1::2]):
            ids.append(points.setdefault((x, y), len(points)))
        polys.append(ids)
    out = io.StringIO()
    out.write(f"# vtk DataFile Version 3.0\n{title.replace(chr(10), ' ')[:200]}\nASCII\nDATASET UNSTRUCTURED_GRID\n")
    out.write(f"POINTS {len(points)} double\n")
    for x, y in points:
        out.write(f"{x:.6g} {y:.6g} 0\n")
    out.write(f"CELLS {len(polys)} {sum(len(p) + 1 for p in polys)}\n")
    for ids in polys:
        out.write(f"{len(ids)} {' '.join(map(str, ids))}\n")
    out.write(f"CELL_TYPES {len(polys)}\n")
    for ids in polys:
        out.write(f"{VTK_TYPE.get(len(ids), 7)}\n")
    out.write(f"CELL_DATA {len(polys)}\n")
    columns = [
        ("rho_ohmm", table["rho"]),
        ("log10_rho", [math.log10(v) if v > 0 else math.nan for v in table["rho"]]),
        ("coverage", table.get("coverage") or [math.nan] * len(polys)),
    ]
    if table.get("change_pct") is not None:
        columns.append(("change_pct", table["change_pct"]))
    for name, values in columns:
        out.write(f"SCALARS {name} double 1\nLOOKUP_TABLE default\n")
        out.write("\n".join(_number(v) for v in values) + "\n")
    return out.getvalue()


def render(result: dict, fmt: str, title: str = "ohmpi inversion") -> str:
    if fmt == "model":
        return model_csv(result)
    if fmt == "vtk":
        return vtk(result, title)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
