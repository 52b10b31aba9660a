"""Numerical helpers shared by the classical methods (GSA, CNMF, HySure) and the estimator.

Nothing here re-implements a degradation: the spatial operator is always a
:class:`~mossfuse.physics.spatial.SpatialDegradation` (PSF + stride + phase) and the spectral
one :func:`~mossfuse.physics.spectral.spectral_degrade`. This module adds what the methods need
around them:

- :func:`upsample_cube`: phase-aware bicubic interpolation of an LR cube onto the HR grid;
- :func:`solve_spatial_normal`: ``(G (x) S^T S + A (x) I + mu I)^{-1} u``, exact by
  Sherman-Morrison-Woodbury when the PSF windows do not overlap, conjugate gradients otherwise;
- :func:`vca`: vertex component analysis (Nascimento & Bioucas-Dias 2005);
- :func:`virtual_dimensionality`: the HFC estimate of the number of endmembers
  (Harsanyi, Farrand & Chang 1993; Chang & Du 2004);
- :func:`neumann_laplacian_eigs`, :func:`dct2`, :func:`idct2`: the DCT-II diagonalisation of
  ``D_h^T D_h + D_v^T D_v`` with forward differences and Neumann (mirror) boundaries.

Convention
----------
Cubes are ``(bands, H, W)``; matrices of pixels are ``(bands, pixels)`` (row-major flattening of
``H x W``), as in the papers (``Y = W H``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from mossfuse.errors import MossfuseInputError
from mossfuse.physics.spatial import SpatialDegradation

# ----------------------------------------------------------------------------------------------
# chunked parallelism


@contextmanager
def single_threaded(enabled: bool = True, threads: int = 1) -> Iterator[None]:
    """Run torch with ``threads`` threads (default 1) inside the block, restoring the thread
    count afterwards; ``enabled=False`` makes it a no-op (callers pass a size test). For loops
    of small or memory-bound ops, see :func:`run_chunks` for why."""
    n_threads = torch.get_num_threads()
    if enabled:
        torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


#: arrays smaller than this (elements) are processed single-threaded by iterative loops
SMALL_ARRAY = 1 << 20


def run_chunks(fn: Callable[[int, int], None], n: int, chunk: int,
               workers: int | None = None) -> None:
    """Call ``fn(start, stop)`` on ``[0, n)`` in chunks, on a pool of ``workers`` threads
    (default: torch's intra-op thread count) with torch single-threaded meanwhile.

    Why: many small torch ops (a cache-sized chunk, a few hundred iterations) each synchronise
    torch's intra-op threads; on a loaded machine (more runnable processes than cores) one
    preempted thread stalls every op and a 2-thread run became 10-100x slower than 1 thread in
    our measurements. Independent chunks on independent threads need no such synchronisation
    (torch releases the GIL inside ops) and degrade gracefully to one core under load.
    """
    n_threads = torch.get_num_threads()
    workers = max(1, workers or n_threads)
    starts = list(range(0, n, chunk))
    torch.set_num_threads(1)
    try:
        if workers == 1 or len(starts) == 1:
            for s in starts:
                fn(s, min(s + chunk, n))
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda s: fn(s, min(s + chunk, n)), starts))
    finally:
        torch.set_num_threads(n_threads)


# ----------------------------------------------------------------------------------------------
# interpolation


def upsample_cube(cube: np.ndarray | torch.Tensor, ratio: int, phase: int) -> torch.Tensor:
    """Bicubic interpolation of ``(C, h, w)`` onto the ``(C, r h, r w)`` HR grid.

    Convention
    ----------
    LR sample ``i`` sits on HR pixel ``phase + r i`` (the :mod:`mossfuse.physics.spatial`
    convention), so HR pixel ``y`` reads LR coordinate ``(y - phase) / r``. Keys' cubic
    (a = -0.75, ``torch.nn.functional.grid_sample(mode="bicubic", align_corners=True)``),
    border samples replicated. Unlike :func:`mossfuse.methods.bicubic.bicubic_upsample` (OpenCV
    half-pixel centres, i.e. an implicit phase ``(r - 1) / 2``) the phase is honoured exactly.

    Returns:
        float32 tensor ``(C, r h, r w)``.
    """
    t = torch.as_tensor(np.asarray(cube) if not isinstance(cube, torch.Tensor) else cube)
    t = t.to(torch.float32)
    c, h, w = t.shape
    big_h, big_w = ratio * h, ratio * w

    def axis(n_lr: int, n_hr: int) -> torch.Tensor:
        u = (torch.arange(n_hr, dtype=torch.float32) - phase) / ratio
        return 2.0 * u / (n_lr - 1) - 1.0 if n_lr > 1 else torch.zeros(n_hr)

    gy, gx = torch.meshgrid(axis(h, big_h), axis(w, big_w), indexing="ij")
    grid = torch.stack([gx, gy], dim=-1)[None]
    out = F.grid_sample(t[None], grid, mode="bicubic", padding_mode="border", align_corners=True)
    return out[0]


# ----------------------------------------------------------------------------------------------
# the spatial normal equations


def windows_disjoint(op: SpatialDegradation) -> bool:
    """True when the PSF windows of neighbouring LR samples never overlap (kernel extent <= r
    in both axes, valid geometry): then ``S S^T = ||k||^2 I``."""
    ky, kx = op.kernel.shape[-2:]
    return op.padding == "valid" and ky <= op.ratio and kx <= op.ratio


def solve_spatial_normal(
    u: torch.Tensor,
    op: SpatialDegradation,
    mu: float,
    gram: torch.Tensor | None = None,
    spectral: torch.Tensor | None = None,
    *,
    cg_iters: int = 100,
    cg_tol: float = 1e-6,
) -> torch.Tensor:
    """Solve ``(G (x) S^T S + A (x) I + mu I) v = u`` for ``u`` ``(p, H, W)``.

    ``S`` is ``op`` (PSF + stride + phase) acting on each of the ``p`` components; ``G``
    (``gram``, default identity) and ``A`` (``spectral``, default zero) are symmetric positive
    semi-definite ``(p, p)`` matrices mixing the components (HySure: ``G = E^T E`` and
    ``A = lambda_m E^T R^T R E``).

    Performance special case: when the windows are disjoint (:func:`windows_disjoint`; always
    true in the valid geometry, e.g. ``mossfuse-x32`` and ``wald-x*``), ``S S^T = kappa I`` with
    ``kappa = ||k||^2``, so ``P = S^T S / kappa`` is an orthogonal projector commuting with the
    component mixing, and the operator is ``(kappa G + A + mu I)`` on the range of ``P`` and
    ``(A + mu I)`` on its complement. With ``M_par`` and ``M_perp`` their ``p x p`` inverses,

        ``v = M_perp u + S^T((M_par - M_perp) S u) / kappa``

    (Sherman-Morrison-Woodbury): one forward and one adjoint application of ``S``, exact; for a
    single component with ``A = 0`` it reads ``(1 / mu) (u - g S^T S u / (mu + g kappa))``.
    Otherwise (padded modes, overlapping windows) conjugate gradients on the whole system,
    ``cg_iters`` at most, relative residual ``cg_tol``.
    """
    p = u.shape[0]
    eye = torch.eye(p, dtype=torch.float64)
    g = eye if gram is None else torch.as_tensor(gram, dtype=torch.float64)
    a = torch.zeros_like(eye) if spectral is None else \
        torch.as_tensor(spectral, dtype=torch.float64)
    hr_shape = tuple(u.shape[-2:])

    def mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (m.to(x.dtype) @ x.reshape(x.shape[0], -1)).reshape(x.shape)

    if windows_disjoint(op):
        kappa = float((op.kernel.double() ** 2).sum())
        m_perp = torch.linalg.inv(a + mu * eye)
        m_par = torch.linalg.inv(kappa * g + a + mu * eye)
        return mix(m_perp, u) + op.adjoint(mix((m_par - m_perp) / kappa, op(u)), hr_shape)

    def apply(v: torch.Tensor) -> torch.Tensor:
        return mix(g, op.adjoint(op(v), hr_shape)) + mix(a, v) + mu * v

    v = mix(torch.linalg.inv(a + mu * eye), u)
    res = u - apply(v)
    d = res.clone()
    rr = float((res * res).sum())
    stop = cg_tol**2 * float((u * u).sum())
    for _ in range(cg_iters):
        if rr <= stop:
            break
        ad = apply(d)
        alpha = rr / max(float((d * ad).sum()), 1e-30)
        v = v + alpha * d
        res = res - alpha * ad
        rr_new = float((res * res).sum())
        d = res + (rr_new / max(rr, 1e-30)) * d
        rr = rr_new
    return v


def sum_of_squares(x: torch.Tensor) -> torch.Tensor:
    """``sum_j x[j]^2`` over the first axis: ``(p, H, W)`` -> ``(H, W)``.

    A running ``addcmul_`` over the ``p`` slices: each pass is contiguous, ~50x faster than
    ``torch.linalg.vector_norm(x, dim=0)`` (a strided reduction) on ``(10, 512, 512)``.
    """
    acc = x[0] * x[0]
    for j in range(1, x.shape[0]):  # p components (not pixels)
        acc.addcmul_(x[j], x[j])
    return acc


# ----------------------------------------------------------------------------------------------
# DCT diagonalisation of the Neumann Laplacian


def neumann_laplacian_eigs(h: int, w: int) -> np.ndarray:
    """Eigenvalues ``(h, w)`` of ``D_h^T D_h + D_v^T D_v`` (forward differences, last
    difference zero, i.e. Neumann boundaries) in the orthonormal DCT-II basis:
    ``(2 - 2 cos(pi k / h)) + (2 - 2 cos(pi l / w))``."""
    ey = 2.0 - 2.0 * np.cos(np.pi * np.arange(h) / h)
    ex = 2.0 - 2.0 * np.cos(np.pi * np.arange(w) / w)
    return ey[:, None] + ex[None, :]


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two axes (scipy.fft, as many workers as torch has
    threads)."""
    import scipy.fft

    return torch.from_numpy(scipy.fft.dctn(
        x.numpy(), type=2, axes=(-2, -1), norm="ortho", workers=torch.get_num_threads()
    ))


def idct2(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2`."""
    import scipy.fft

    return torch.from_numpy(scipy.fft.idctn(
        x.numpy(), type=2, axes=(-2, -1), norm="ortho", workers=torch.get_num_threads()
    ))


def diff_h(z: torch.Tensor) -> torch.Tensor:
    """Horizontal forward difference ``z[..., j+1] - z[..., j]``, 0 in the last column."""
    out = torch.empty_like(z)
    torch.sub(z[..., 1:], z[..., :-1], out=out[..., :-1])
    out[..., -1] = 0
    return out


def diff_v(z: torch.Tensor) -> torch.Tensor:
    """Vertical forward difference, 0 in the last row."""
    out = torch.empty_like(z)
    torch.sub(z[..., 1:, :], z[..., :-1, :], out=out[..., :-1, :])
    out[..., -1, :] = 0
    return out


def _diff_adjoint(g: torch.Tensor, axis: int, out: torch.Tensor | None) -> torch.Tensor:
    n = g.shape[axis]
    if out is None:
        out = torch.zeros_like(g)
    if n < 2:
        return out

    def sl(a: int | None, b: int | None) -> tuple:
        idx: list = [slice(None)] * g.ndim
        idx[axis] = slice(a, b)
        return tuple(idx)

    # (D^T g)[0] = -g[0]; (D^T g)[j] = g[j-1] - g[j] for 0 < j < n-1; (D^T g)[n-1] = g[n-2]
    out[sl(0, 1)] -= g[sl(0, 1)]
    out[sl(1, -1)] += g[sl(0, -2)]
    out[sl(1, -1)] -= g[sl(1, -1)]
    out[sl(-1, None)] += g[sl(-2, -1)]
    return out


def diff_h_adjoint(g: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Adjoint of :func:`diff_h` (the last column of ``g`` is ignored); added into ``out``
    when given (in place), else returned as a new tensor."""
    return _diff_adjoint(g, g.ndim - 1, out)


def diff_v_adjoint(g: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Adjoint of :func:`diff_v` (the last row of ``g`` is ignored); added into ``out`` when
    given."""
    return _diff_adjoint(g, g.ndim - 2, out)


# ----------------------------------------------------------------------------------------------
# endmembers


def vca(
    data: np.ndarray, n_endmembers: int, *, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex component analysis (Nascimento & Bioucas-Dias, "Vertex component analysis: a fast
    algorithm to unmix hyperspectral data", IEEE TGRS 43(4), 2005).

    Args:
        data: ``(L, N)`` pixels as columns (L bands, N pixels), non-negative.
        n_endmembers: ``p <= min(L, N)``.
        seed: seed or generator of the random directions (the algorithm is randomised).

    Returns:
        ``(endmembers (L, p), indices (p,))``: the endmembers are the pixels of ``data`` at
        ``indices`` after projection onto the estimated signal subspace (the paper's
        ``R_p(:, indice)``). Callers that want raw pixels use ``data[:, indices]``.

    The SNR-dependent choice of the paper is kept: below ``15 + 10 log10(p)`` dB the data is
    projected onto the ``p - 1`` leading principal directions around the mean (projective
    projection with an added constant coordinate); above, onto the ``p`` leading singular
    vectors of the correlation matrix followed by the perspective scaling ``y = x / (u^T x)``.
    """
    y_all = np.asarray(data, dtype=np.float64)
    n_bands, n_pix = y_all.shape
    p = int(n_endmembers)
    if not 1 <= p <= min(n_bands, n_pix):
        raise MossfuseInputError(
            f"VCA needs 1 <= endmembers <= min(bands, pixels) = {min(n_bands, n_pix)}; got {p}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mean = y_all.mean(axis=1, keepdims=True)
    centred = y_all - mean
    u_c = np.linalg.svd(centred @ centred.T / n_pix)[0][:, :p]
    x_p = u_c.T @ centred
    p_y = float((y_all**2).sum() / n_pix)
    p_x = float((x_p**2).sum() / n_pix + (mean**2).sum())
    denom = p_y - p_x
    snr = math.inf if denom <= 0 else 10 * math.log10(max(p_x - p / n_bands * p_y, 1e-30) / denom)
    if snr < 15 + 10 * math.log10(p) and p > 1:
        d = p - 1
        x = x_p[:d]
        projected = u_c[:, :d] @ x + mean
        c = float(np.sqrt((x**2).sum(axis=0)).max())
        y = np.vstack([x, np.full((1, n_pix), c)])
    else:
        u_d = np.linalg.svd(y_all @ y_all.T / n_pix)[0][:, :p]
        x = u_d.T @ y_all
        projected = u_d @ x
        u = x.mean(axis=1, keepdims=True)
        scale = (u.T @ x).ravel()
        scale[np.abs(scale) < 1e-12] = 1e-12
        y = x / scale
    a = np.zeros((p, p))
    a[p - 1, 0] = 1.0
    indices = np.zeros(p, dtype=np.int64)
    for i in range(p):  # p endmembers (not pixels): the loop of the paper
        f = rng.standard_normal(p)
        f = f - a @ (np.linalg.pinv(a) @ f)
        f /= max(np.linalg.norm(f), 1e-30)
        indices[i] = int(np.argmax(np.abs(f @ y)))
        a[:, i] = y[:, indices[i]]
    return projected[:, indices], indices


def virtual_dimensionality(data: np.ndarray, false_alarm: float = 5e-2) -> int:
    """Number of endmembers by the HFC (Harsanyi-Farrand-Chang) test on ``(L, N)`` data.

    Compares the eigenvalues of the sample correlation and covariance matrices; a signal source
    is counted where ``lambda_corr - lambda_cov`` exceeds the Neyman-Pearson threshold at the
    given false-alarm probability (Chang & Du, "Estimation of number of spectrally distinct
    signal sources in hyperspectral imagery", IEEE TGRS 42(3), 2004). At least 1.
    """
    y = np.asarray(data, dtype=np.float64)
    n = y.shape[1]
    corr = y @ y.T / n
    mean = y.mean(axis=1, keepdims=True)
    cov = corr - mean @ mean.T
    l_corr = np.sort(np.linalg.eigvalsh(corr))[::-1]
    l_cov = np.sort(np.linalg.eigvalsh(cov))[::-1]
    sigma = np.sqrt(2.0 / n * (l_corr**2 + l_cov**2))
    from scipy.special import ndtri

    tau = -ndtri(false_alarm) * sigma  # = scipy.stats.norm.isf(false_alarm), without scipy.stats
    return max(1, int(np.sum(l_corr - l_cov > tau)))
