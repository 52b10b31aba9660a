"""Small numpy optimisers for the blind estimator, so that it does not import
``scipy.optimize`` (about 0.4 s of start-up on the 2-core benchmark machine; issue #16).

- :func:`nnls`: non-negative least squares by the active-set method of Lawson & Hanson,
  "Solving Least Squares Problems" (Prentice-Hall 1974), ch. 23, algorithm NNLS;
- :func:`minimize_bounded`: a bounded scalar minimiser, golden-section search with parabolic
  interpolation (Brent, "Algorithms for Minimization without Derivatives", Prentice-Hall
  1973, ch. 5, procedure ``fmin``).

Both are tested against ``scipy.optimize.nnls`` / ``minimize_scalar(method="bounded")``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def nnls(a: np.ndarray, b: np.ndarray, maxiter: int | None = None) -> np.ndarray:
    """``argmin_{x >= 0} ||a x - b||_2`` for a small dense ``a`` ``(m, n)``; returns ``x``
    ``(n,)`` float64 (Lawson-Hanson active set; each passive-set solve is a least-squares
    problem on the columns of the passive set)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    m, n = a.shape
    maxiter = 3 * n if maxiter is None else int(maxiter)
    tol = 10.0 * max(m, n) * np.finfo(np.float64).eps * max(np.abs(a).sum(axis=0).max(), 1.0)
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = a.T @ b
    it = 0
    while not passive.all():
        cand = np.where(passive, -np.inf, w)
        j = int(np.argmax(cand))
        if cand[j] <= tol:
            break
        passive[j] = True
        while True:
            it += 1
            s = np.zeros(n)
            s[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if it >= maxiter or s[passive].min() > 0:
                break
            # step from x towards s until a passive variable reaches zero; drop it
            neg = passive & (s <= 0)
            den = x[neg] - s[neg]
            alpha = float(np.min(np.where(den > 0, x[neg] / np.where(den > 0, den, 1.0), 0.0)))
            x = x + alpha * (s - x)
            passive &= x > tol
            x[~passive] = 0.0
        x = s
        if it >= maxiter:
            break
        w = a.T @ (b - a @ x)
    return np.maximum(x, 0.0)


def minimize_bounded(
    f: Callable[[float], float], lo: float, hi: float, xatol: float = 1e-5, maxiter: int = 500
) -> tuple[float, float]:
    """Minimise ``f`` on ``[lo, hi]``; returns ``(x, f(x))``. Brent's ``fmin``: golden-section
    steps, replaced by a parabola through the three best points when that step is acceptable;
    stops when the bracket is within ``2 xatol`` (plus a relative term) of the best point."""
    golden = 0.5 * (3.0 - math.sqrt(5.0))
    sqrt_eps = math.sqrt(2.2e-16)
    a, b = float(lo), float(hi)
    x = w = v = a + golden * (b - a)
    fx = fw = fv = float(f(x))
    d = e = 0.0
    for _ in range(maxiter):
        mid = 0.5 * (a + b)
        tol1 = sqrt_eps * abs(x) + xatol / 3.0
        tol2 = 2.0 * tol1
        if abs(x - mid) <= tol2 - 0.5 * (b - a):
            break
        golden_step = True
        if abs(e) > tol1:  # try a parabola through x, w, v
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            if abs(p) < abs(0.5 * q * e) and q * (a - x) < p < q * (b - x):
                e, d = d, p / q
                u = x + d
                if (u - a) < tol2 or (b - u) < tol2:
                    d = tol1 if mid >= x else -tol1
                golden_step = False
        if golden_step:
            e = (b - x) if x < mid else (a - x)
            d = golden * e
        u = x + (d if abs(d) >= tol1 else (tol1 if d > 0 else -tol1))
        fu = float(f(u))
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return x, fx
