"""The pinned pyGIMLi inverts: it leaves its starting model and fits the data (the 1.6.1 trap:
an all-zero Jacobian stops every inversion at its start)."""

import numpy as np
import pytest


def test_pinned_pygimli_moves_away_from_its_start_and_fits():
    import pygimli as pg
    from pygimli.physics import ert

    scheme = ert.createData(elecs=np.arange(16) * 2.0, schemeName="dd")
    world = pg.meshtools.createWorld(start=[-30, 0], end=[60, -30], layers=[-4], worldMarker=True)
    for p in scheme.sensorPositions():
        world.createNode(p)
    data = ert.simulate(
        pg.meshtools.createMesh(world, quality=33, area=4),
        scheme=scheme,
        res=[[1, 100.0], [2, 10.0]],
        noiseLevel=0.03,
        noiseAbs=1e-6,
        seed=7,
        verbose=False,
    )
    mgr = ert.ERTManager(data, verbose=False)
    model = np.asarray(mgr.invert(lam=20, paraDX=0.5, paraMaxCellSize=12, paraDepth=12, verbose=False))
    start = np.median(np.asarray(data["rhoa"]))
    jacobian = np.asarray(mgr.fop.jacobian().row(0))
    assert np.abs(jacobian).sum() > 0  # the trap: all zero
    assert mgr.inv.inv.iter() >= 1
    assert model.max() / model.min() > 3 and np.abs(np.log(model / start)).max() > 0.5  # moved
    assert mgr.inv.chi2() == pytest.approx(1.0, abs=0.6)  # 3 % noise, 3 % error: it fits
