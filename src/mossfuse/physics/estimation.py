"""Blind estimation of the degradation (SRF and PSF) from the two observed images alone.

Both routes to the LR-MSI meet (MossFuse paper, eq. 2; Simões et al. 2015, Sec. IV):
``S(Y_m) = S(R X) = R S(X) = R Y_h`` because the spatial operator ``S`` (PSF + stride + phase)
acts on pixels and the SRF ``R`` on bands. The estimator therefore fits ``R`` and the PSF so that

    ``min_{R >= 0, k}  ||R Y_h - S_k(Y_m)||_F^2 + lambda_R ||R D^T||_F^2``

with ``D`` the first-difference operator along the HSI bands (the smoothness prior of HySure's
own estimator). Simões, Bioucas-Dias, Almeida & Chanussot ("A convex formulation for
hyperspectral image superresolution via subspace-based regularization", IEEE TGRS 53(6), 2015)
solve for ``R`` and a free-form ``B`` by two quadratic problems; here ``R`` is the non-negative
least-squares solution (optionally rows summing to 1) and the PSF is a *parametric* Gaussian
(isotropic ``sigma``, or the anisotropic ``(lambda1, lambda2, theta)`` family), which is far
better conditioned when the LR-HSI has few pixels (16 x 16 at x32). The two are not alternated
but solved by *variable projection*: for every trial PSF the optimal ``R`` is computed exactly
(per MSI band one NNLS of ``h w + B - 1`` rows by ``B`` unknowns), so the 1-D (or 3-D) search
over the PSF parameters sees the profiled objective. Every degradation is applied through
:mod:`mossfuse.physics`.

Convention
----------
- Geometry. The PSF is estimated on a kernel of ``psf_size`` taps with centre tap ``centre``,
  applied at sampling ``phase`` in the valid geometry of :mod:`mossfuse.physics.spatial`. When
  ``inputs.phase`` is None the mossfuse convention is assumed: ``phase = centre = r / 2 - 1``
  with ``r - 1`` taps for even ``r`` (``mossfuse-x32``: 31 taps, centre 15, phase 15;
  ``wald-x8``: 7 taps, centre 3, phase 3), ``(r - 1) / 2`` and ``r`` taps for odd ``r``.
  When ``inputs.phase`` is known the largest centred kernel that fits the cell is used:
  ``centre = min(phase, r - 1 - phase)``, ``size = 2 centre + 1``.
- Phase search. Integer sampling-phase errors are modelled by moving the Gaussian's peak by
  ``(dy, dx)`` taps inside the fixed window (``max_offset``; by default 2 px when the phase is
  unknown, 0 when it is given): the effective phase is ``phase + d``. Sub-pixel shifts are not
  modelled.
- SRF rows follow the MSI band order of the inputs. ``srf_sum_to_one`` (default False) forces
  each row to sum to 1 (true of every normalised SRF, e.g. the protocols' Nikon D700, but not of
  a real pair with different radiometric gains).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError
from mossfuse.physics._optim import minimize_bounded, nnls
from mossfuse.physics.degradation import Degradation
from mossfuse.physics.psf import default_centre, gaussian_kernel, kernel_moments
from mossfuse.physics.spatial import hr_windows, spatial_degrade
from mossfuse.physics.spectral import spectral_degrade

#: largest window matrix (bytes) :class:`_Windows` gathers; above it each trial PSF is applied
#: by :func:`~mossfuse.physics.spatial.spatial_degrade` instead
_WINDOW_BYTES = 1 << 28


def default_geometry(ratio: int, phase: int | None = None) -> tuple[int, int, int]:
    """``(phase, centre, size)`` of the kernel to estimate (see module Convention)."""
    r = int(ratio)
    if phase is None:
        phase = r // 2 - 1 if r % 2 == 0 else (r - 1) // 2
        phase = max(phase, 0)
    if not 0 <= phase < r:
        raise MossfuseInputError(f"sampling phase must be in [0, {r}); got {phase}")
    centre = min(phase, r - 1 - phase)
    return int(phase), int(centre), int(2 * centre + 1)


def _difference_matrix(n: int) -> np.ndarray:
    d = np.zeros((max(n - 1, 0), n))
    idx = np.arange(n - 1)
    d[idx, idx], d[idx, idx + 1] = -1.0, 1.0
    return d


class _SRFSolver:
    """NNLS for the SRF rows against fixed LR-HSI pixels, reduced once by a QR factorisation.

    ``min_{r >= 0} ||A r - c||^2`` with ``A = [Y_h^T; sqrt(lambda) D; w 1^T]`` (the last row only
    with ``sum_to_one``) equals ``min ||Rq r - Q^T c||^2`` up to a constant (``A = Q Rq``), so
    each trial PSF costs ``b`` NNLS problems of size ``B x B`` however many LR pixels there are.
    """

    def __init__(self, lr_hsi: np.ndarray, sum_to_one: bool, smoothness: float):
        yh = np.asarray(lr_hsi, dtype=np.float64)
        self.yh = yh.reshape(yh.shape[0], -1)
        n_b, n = self.yh.shape
        lam = smoothness * float(np.einsum("ij,ij->", self.yh, self.yh)) / n_b
        blocks = [self.yh.T, np.sqrt(lam) * _difference_matrix(n_b)]
        self.weight = 0.0
        if sum_to_one:
            self.weight = 1e3 * max(float(np.sqrt((self.yh**2).sum() / n_b)), 1e-12)
            blocks.append(self.weight * np.ones((1, n_b)))
        self.q, self.r = np.linalg.qr(np.vstack(blocks))
        self.n_pix = n

    def solve(self, z: np.ndarray) -> tuple[np.ndarray, float]:
        z = np.asarray(z, dtype=np.float64).reshape(np.shape(z)[0], -1)
        if z.shape[1] != self.n_pix:
            raise MossfuseInputError(
                f"LR-HSI has {self.n_pix} pixels but the degraded MSI has {z.shape[1]}"
            )
        # Q^T c for c = [z_j; 0; (weight)]: only the pixel rows and the last row contribute
        qc = z @ self.q[: self.n_pix]
        if self.weight:
            qc = qc + self.weight * self.q[-1][None, :]
        srf = np.stack([nnls(self.r, qc[j], maxiter=50 * self.r.shape[1])
                        for j in range(z.shape[0])])  # b MSI bands (not pixels)
        resid = float(np.linalg.norm(srf @ self.yh - z) / max(np.linalg.norm(z), 1e-30))
        return srf, resid


class _Windows:
    """``S_k(Y_m)`` for many trial kernels ``k`` of one window geometry: the HR-MSI windows the
    LR samples read are gathered once into a ``(b h w, k_y k_x)`` matrix, so a trial costs one
    matrix-vector product (the same correlation as :func:`~mossfuse.physics.spatial.
    spatial_degrade`, which is used instead when the matrix would exceed ``_WINDOW_BYTES``)."""

    def __init__(self, ym: np.ndarray, size: int, ratio: int, phase: int, centre: int):
        self.ym, self.ratio, self.phase, self.centre = ym, ratio, phase, centre
        win = hr_windows(ym, (size, size), ratio, phase, centre=centre)
        self.lr_shape = win.shape[:3]
        n_bytes = int(np.prod(win.shape)) * win.itemsize
        self.mat = win.reshape(-1, size * size) if n_bytes <= _WINDOW_BYTES else None

    def apply(self, kernel: np.ndarray) -> np.ndarray:
        """``(b, h, w)`` = the HR-MSI seen through ``kernel`` on the LR grid."""
        k = np.asarray(kernel, dtype=self.ym.dtype)
        if self.mat is None:
            return spatial_degrade(self.ym, k, self.ratio, self.phase, centre=self.centre)
        # blocks of 256 rows: small enough that BLAS stays on one thread, whose matrix-vector
        # products are 5-30x faster than multi-threaded ones on a loaded machine (measured)
        kv = k.reshape(-1)
        out = np.concatenate([self.mat[i: i + 256] @ kv for i in range(0, len(self.mat), 256)])
        return out.reshape(self.lr_shape)


def estimate_srf(
    lr_hsi: np.ndarray,
    lr_msi: np.ndarray,
    *,
    sum_to_one: bool = False,
    smoothness: float = 1e-3,
) -> tuple[np.ndarray, float]:
    """Non-negative least-squares SRF from co-located LR pixels.

    Solves, for every MSI band ``j``, ``min_{r_j >= 0} ||Y_h^T r_j - z_j||^2 +
    lambda ||D r_j||^2`` (``lambda = smoothness * trace(Y_h Y_h^T) / B``, ``D`` band
    differences), with ``sum(r_j) = 1`` enforced by a heavily weighted extra row when
    ``sum_to_one``.

    Args:
        lr_hsi: ``(B, n)`` LR-HSI pixels, or a ``(B, h, w)`` cube.
        lr_msi: ``(b, n)`` (or ``(b, h, w)``) HR-MSI degraded to the LR grid, ``S(Y_m)``.
        sum_to_one: constrain every row to sum to 1.
        smoothness: relative weight of the spectral smoothness prior.

    Returns:
        ``(srf (b, B) float64, relative residual ||R Y_h - Z|| / ||Z||)``.
    """
    return _SRFSolver(lr_hsi, sum_to_one, smoothness).solve(lr_msi)


def estimate_degradation(
    inputs: FusionInputs,
    *,
    psf_size: int | None = None,
    anisotropic: bool = False,
    srf: np.ndarray | None = None,
    psf: np.ndarray | None = None,
    srf_sum_to_one: bool = False,
    srf_smoothness: float = 1e-3,
    sigma_bounds: tuple[float, float] | None = None,
    max_offset: int | None = None,
) -> Degradation:
    """Estimate the SRF and a Gaussian PSF from ``inputs`` alone (see module docstring).

    Args:
        inputs: the observed pair (its ``srf``/``psf`` fields are ignored; pass ``srf`` or
            ``psf`` to keep one of them fixed).
        psf_size: kernel taps (centre :func:`~mossfuse.physics.psf.default_centre`); default
            from :func:`default_geometry`. With ``inputs.phase`` None the phase is then the
            centre (window starting at the cell origin); the kernel must fit the valid
            geometry at that phase.
        anisotropic: refine the isotropic fit into ``(lambda1, lambda2, theta)``.
        srf: fixed ``(b, B)`` SRF (only the PSF is estimated).
        psf: fixed kernel (only the SRF is estimated); its centre is ``inputs.psf_centre`` or
            the default centre.
        srf_sum_to_one: rows of the SRF sum to 1.
        srf_smoothness: relative weight of the spectral smoothness prior on ``R``.
        sigma_bounds: search interval of sigma in px; default ``(0.2, size)``.
        max_offset: largest integer peak offset (px) searched; default 0 when
            ``inputs.phase`` is known, else 2.

    Returns:
        :class:`~mossfuse.physics.degradation.Degradation` (float32 arrays; ``source``
        ``"classical estimator"``; ``sigma`` the equivalent isotropic Gaussian sigma of the
        kernel as sampled, :func:`mossfuse.physics.psf.kernel_moments`, which for a truncated
        kernel is below the Gaussian's parameter that ``info["isotropic_sigma"]`` holds;
        ``info``: ``estimated`` flags, ``residual``, ``offset``, evaluations).

    >>> import numpy as np
    >>> from mossfuse.data.scene import Scene
    >>> from mossfuse.physics.protocols import get_protocol
    >>> rng = np.random.default_rng(0)
    >>> cube = rng.uniform(0.1, 0.9, (31, 64, 64)).astype(np.float32)
    >>> case = get_protocol("wald-x8").simulate(Scene(cube, np.arange(400, 701, 10.0)))
    >>> est = estimate_degradation(case.inputs.blind())
    >>> round(est.info["isotropic_sigma"], 2), round(est.sigma, 2), est.psf.shape
    (2.0, 1.64, (7, 7))
    """
    r = int(inputs.ratio)
    yh = np.asarray(inputs.lr_hsi, dtype=np.float64)
    ym = np.asarray(inputs.hr_msi, dtype=np.float64)
    n_b, n_m = yh.shape[0], ym.shape[0]
    info: dict[str, Any] = {"estimated": {"srf": srf is None, "psf": psf is None}}

    if psf is not None:
        k = np.asarray(psf, dtype=np.float64)
        k = k / k.sum()
        centre = inputs.psf_centre if inputs.psf_centre is not None else default_centre(len(k))
        phase = inputs.phase if inputs.phase is not None else centre
        z = spatial_degrade(ym, k, r, phase, centre=centre)
        if srf is None:
            est_srf, resid = _SRFSolver(yh, srf_sum_to_one, srf_smoothness).solve(z)
        else:
            est_srf = np.asarray(srf, dtype=np.float64)
            resid = float(np.linalg.norm(spectral_degrade(yh, est_srf) - z)
                          / max(np.linalg.norm(z), 1e-30))
        info.update(residual=resid)
        return _estimate(inputs, est_srf, k, kernel_moments(k, (centre, centre))["sigma"],
                         phase, centre, info)

    phase, centre, size = default_geometry(r, inputs.phase)
    if psf_size is not None:
        size, centre = int(psf_size), default_centre(int(psf_size))
        if inputs.phase is None:
            phase = centre  # window starting at the cell origin (e.g. 32 taps: phase 16)
    if max_offset is None:
        max_offset = 0 if inputs.phase is not None else 2
    max_offset = int(min(max_offset, centre, size - 1 - centre))
    lo, hi = sigma_bounds if sigma_bounds is not None else (0.2, float(size))
    yh_flat = yh.reshape(n_b, -1)
    # with a fixed SRF the LR-MSI predicted from the LR-HSI, R Y_h, is a constant
    fixed = None if srf is None else spectral_degrade(yh, np.asarray(srf, dtype=np.float64))
    n_eval = [0]
    windows = _Windows(ym, size, r, phase, centre)
    solver = _SRFSolver(yh_flat, srf_sum_to_one, srf_smoothness) if srf is None else None

    def objective(kernel: np.ndarray) -> tuple[float, np.ndarray]:
        n_eval[0] += 1
        z = windows.apply(kernel).reshape(n_m, -1)
        if fixed is not None:
            res = fixed.reshape(n_m, -1) - z
            return float((res**2).sum() / max((z**2).sum(), 1e-30)), np.asarray(srf)
        rr, rel = solver.solve(z)
        return rel**2, rr

    def iso_kernel(sigma: float, off: tuple[int, int]) -> np.ndarray:
        return gaussian_kernel(size, sigma, centre=(centre + off[0], centre + off[1]))

    def fit_sigma(off: tuple[int, int]) -> tuple[float, float]:
        t, fun = minimize_bounded(lambda t: objective(iso_kernel(float(np.exp(t)), off))[0],
                                  float(np.log(lo)), float(np.log(hi)), xatol=1e-3)
        return float(np.exp(t)), float(fun)

    # coarse search over integer peak offsets (the sampling-phase error), then a 1-D fit of sigma
    grid = np.geomspace(lo, hi, 7)
    offsets = [(dy, dx) for dy in range(-max_offset, max_offset + 1)
               for dx in range(-max_offset, max_offset + 1)]
    if len(offsets) > 1:
        scores = [min(objective(iso_kernel(s, o))[0] for s in grid) for o in offsets]
        best_off = offsets[int(np.argmin(scores))]
    else:
        best_off = (0, 0)
    sigma, fval = fit_sigma(best_off)
    kernel = iso_kernel(sigma, best_off)
    info.update(offset=best_off, effective_phase=(phase + best_off[0], phase + best_off[1]))

    if anisotropic:
        import scipy.optimize

        def aniso_kernel(theta_vec: np.ndarray) -> np.ndarray:
            l1, l2 = float(np.exp(theta_vec[0])), float(np.exp(theta_vec[1]))
            return gaussian_kernel(size, lambdas=(l1, l2), theta=float(theta_vec[2]),
                                   centre=(centre + best_off[0], centre + best_off[1]))

        start = np.array([2 * np.log(sigma) + 0.1, 2 * np.log(sigma) - 0.1, 0.3])
        res = scipy.optimize.minimize(
            lambda t: objective(aniso_kernel(t))[0], start, method="Nelder-Mead",
            options={"xatol": 1e-4, "fatol": 1e-12, "maxiter": 400},
        )
        if res.fun < fval:
            kernel, fval = aniso_kernel(res.x), float(res.fun)
            info.update(lambdas=(float(np.exp(res.x[0])), float(np.exp(res.x[1]))),
                        theta=float(res.x[2]))

    rel, est_srf = objective(kernel)
    sig = kernel_moments(kernel, (centre, centre))
    info.update(residual=float(np.sqrt(rel)), evaluations=n_eval[0], isotropic_sigma=sigma,
                psf_size=size)
    return _estimate(inputs, est_srf, kernel, sig["sigma"], phase, centre, info)


def _estimate(inputs: FusionInputs, srf: np.ndarray, psf: np.ndarray, sigma: float, phase: int,
              centre: int, info: dict[str, Any]) -> Degradation:
    return Degradation(
        np.asarray(psf).astype(np.float32), np.asarray(srf, dtype=np.float32), int(inputs.ratio),
        int(phase), int(centre), wavelengths_nm=inputs.hsi_wavelengths_nm,
        band_names=inputs.msi_band_names, source="classical estimator", info=info,
        psf_sigma=float(sigma),
    )


def resolve_degradation(inputs: FusionInputs, **estimation_kwargs: Any) -> Degradation:
    """The degradation a method should use: the known SRF/PSF of ``inputs`` where given, the
    rest estimated by :func:`estimate_degradation` (``info["estimated"]`` says which).

    With both known nothing is estimated: ``phase`` is ``inputs.phase`` (or, when None, the
    kernel centre: windows starting at the cell origin) and ``centre`` is ``inputs.psf_centre``
    (or the default centre of the kernel).
    """
    if inputs.srf is not None and inputs.psf is not None:
        k = np.asarray(inputs.psf, dtype=np.float32)
        centre = inputs.psf_centre if inputs.psf_centre is not None else default_centre(len(k))
        phase = inputs.phase if inputs.phase is not None else centre
        return Degradation(
            k, np.asarray(inputs.srf, dtype=np.float32), int(inputs.ratio), int(phase),
            int(centre), wavelengths_nm=inputs.hsi_wavelengths_nm,
            band_names=inputs.msi_band_names, info={"estimated": {"srf": False, "psf": False}},
        )
    return estimate_degradation(inputs, srf=inputs.srf, psf=inputs.psf, **estimation_kwargs)


def degradation_error(
    est: Degradation,
    true_srf: np.ndarray,
    true_psf: np.ndarray,
    *,
    true_centre: int | None = None,
    true_phase: int | None = None,
) -> dict[str, float]:
    """Errors of an estimate against the truth (for evaluation only, never inside a method).

    Kernels are compared where they act: tap ``t`` of a kernel with centre ``c`` applied at
    phase ``p`` weighs HR pixel ``p + t - c`` of the cell, so an estimate whose window or phase
    differs from the truth's (e.g. a peak offset found by the phase search) is aligned before
    the difference is taken (both zero-padded to a common support).

    Args:
        est: the estimate.
        true_srf: ``(b, B)``; true_psf: ``(k, k)``.
        true_centre: centre tap of ``true_psf`` (default :func:`default_centre`).
        true_phase: its sampling phase (default ``est.phase``).

    Returns:
        ``srf_max_abs`` and ``srf_rmse`` (SRF entries), ``sigma_est``, ``sigma_true`` and
        ``sigma_abs_error`` (px, equivalent isotropic sigma of each kernel about its own mean),
        ``psf_l1`` and ``psf_max_abs`` (aligned kernels).
    """
    ts = np.asarray(true_srf, dtype=np.float64)
    es = np.asarray(est.srf, dtype=np.float64)
    if ts.shape != es.shape:
        raise MossfuseInputError(f"true SRF {ts.shape} vs estimated {es.shape}")
    tk = np.asarray(true_psf, dtype=np.float64)
    tk = tk / tk.sum()
    ek = np.asarray(est.psf, dtype=np.float64)
    tc = true_centre if true_centre is not None else default_centre(tk.shape[0])
    tp = true_phase if true_phase is not None else est.phase
    # HR position (relative to the cell origin) of tap 0 of each kernel
    t0, e0 = tp - tc, est.phase - est.centre
    lo = min(t0, e0)
    hi = max(t0 + tk.shape[0], e0 + ek.shape[0])
    big = np.zeros((2, hi - lo, hi - lo))
    big[0, t0 - lo: t0 - lo + tk.shape[0], t0 - lo: t0 - lo + tk.shape[1]] = tk
    big[1, e0 - lo: e0 - lo + ek.shape[0], e0 - lo: e0 - lo + ek.shape[1]] = ek
    s_true = kernel_moments(tk, (tc, tc))["sigma"]
    diff = big[1] - big[0]
    return {
        "srf_max_abs": float(np.abs(es - ts).max()),
        "srf_rmse": float(np.sqrt(((es - ts) ** 2).mean())),
        "sigma_est": float(est.sigma),
        "sigma_true": float(s_true),
        "sigma_abs_error": float(abs(est.sigma - s_true)),
        "psf_l1": float(np.abs(diff).sum()),
        "psf_max_abs": float(np.abs(diff).max()),
    }
