"""Independent computations used as references by several tests (not library code)."""

from __future__ import annotations

import numpy as np


def nikon_d700_nssr_from_shared(shared_data=None) -> np.ndarray:
    """The mossfuse-x32 SRF from the shared CSV (columns wavelength, R, G, B) as (3, 31)."""
    from conftest import SHARED_DATA

    f = (shared_data or SHARED_DATA) / "srf/camera/nikon_d700_nssr_createP_3x31_rownormalized.csv"
    return np.loadtxt(f, delimiter=",", skiprows=1)[:, 1:].T


def independent_x32(cube: np.ndarray, srf: np.ndarray | None = None):
    """The spec's ``mossfuse-x32`` definition written out directly (float64, separable taps,
    explicit windows ``[32 a, 32 a + 31)``, i.e. sample centres 15 + 32 k)."""
    srf = nikon_d700_nssr_from_shared() if srf is None else srf
    i = np.arange(31)
    g = np.exp(-((i - 15) ** 2) / (2 * 2.0**2))
    g /= g.sum()
    n = cube.shape[1] // 32
    lr = np.empty((cube.shape[0], n, n))
    for a in range(n):
        for b in range(n):
            win = cube[:, 32 * a : 32 * a + 31, 32 * b : 32 * b + 31]
            lr[:, a, b] = np.einsum("kij,i,j->k", win, g, g)
    hr = np.einsum("jk,khw->jhw", srf, cube)
    return lr, hr
