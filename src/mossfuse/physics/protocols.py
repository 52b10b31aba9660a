"""Named, versioned, serialisable simulation protocols (Wald-style reduced-resolution pairs).

A protocol says how a reference HR-HSI becomes the LR-HSI and the HR-MSI: PSF, ratio,
sampling phase, SRF, optional noise and its seed. Results files record the protocol's JSON.

Built-in protocols
------------------
``mossfuse-x32`` (v1): the MossFuse paper's released CAVE evaluation. 31 x 31 isotropic Gaussian,
sigma 2 px, centre 15, valid convolution at stride 32 with sampling phase 15 (samples at
``15 + 32 k``: 512 -> 16); SRF ``nikon_d700_nssr`` (rows R, G, B, each summing to 1); no noise.

``wald-x4`` / ``wald-x8`` / ``wald-x16`` (v1): the same code's convention generalised to ratio r:
kernel of ``r - 1`` taps (odd, so the centre is a pixel), centre and phase ``r / 2 - 1`` (valid
geometry, windows ``[r k, r k + r - 1)``), sigma ``r / 4`` px (x8: 7 x 7, sigma 2, phase 3, exactly
the MossFuse code's x8 setting, for which the spec gives anchor numbers); SRF ``nikon_d700_nssr``;
no noise by default (``snr_db_hsi``/``snr_db_msi`` add Gaussian noise at that SNR, seeded).
At x4 the 3-tap kernel truncates the Gaussian at 1 sigma: stated, not hidden.

``daem-k0`` .. ``daem-k5`` (:func:`daem_protocol`; kernel files located by
:mod:`mossfuse.physics.daem`) are found by name by :func:`get_protocol` and listed by
:func:`available_protocols` when the kernels are available (32 x 32, centre 16, phase 16).

Noisy inputs are clipped to [0, 1] after the noise is added (sensors saturate; library arrays
are in [0, 1]).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mossfuse.data.scene import FusionInputs, Scene
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.daem import DAEM_KERNEL_PARAMS, daem_kernel_file
from mossfuse.physics.degradation import Degradation
from mossfuse.physics.noise import add_noise_snr
from mossfuse.physics.psf import GaussianPSF, default_centre


class PSFSpec(BaseModel):
    """A PSF: a Gaussian by its parameters, or a kernel read from a file (``.mat`` ``data``
    variable or ``.npy``)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["gaussian", "file"] = "gaussian"
    size: int = Field(31, ge=1)
    sigma: float | None = 2.0
    lambdas: tuple[float, float] | None = None
    theta: float = 0.0
    centre: int | None = None
    path: str | None = None

    def kernel(self) -> np.ndarray:
        if self.kind == "file":
            from mossfuse.data.io import load_mat_variables

            if self.path is None:
                raise MossfuseInputError("PSF kind 'file' needs a path")
            p = Path(self.path)
            if p.suffix == ".npy":
                k = np.load(p)
            else:
                variables = load_mat_variables(p)
                if "data" not in variables:
                    raise MossfuseInputError(
                        f"PSF file has no 'data' variable; found {sorted(variables)}", p
                    )
                k = variables["data"]
            k = np.asarray(k, dtype=np.float64)
            return (k / k.sum()).astype(np.float32)
        return GaussianPSF(self.size, self.sigma, self.lambdas, self.theta, self.centre).kernel()

    @property
    def centre_index(self) -> int:
        return default_centre(self.size) if self.centre is None else self.centre


class Protocol(BaseModel):
    """A simulation protocol (see module docstring). Serialise with ``model_dump_json``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: int = 1
    description: str = ""
    ratio: int = Field(ge=1)
    phase: int = Field(ge=0)
    psf: PSFSpec
    srf: str = "nikon_d700_nssr"
    padding: Literal["valid", "reflect", "replicate", "circular"] = "valid"
    snr_db_hsi: float | None = None
    snr_db_msi: float | None = None
    seed: int = 0

    def degradation(self, hsi_wavelengths_nm: np.ndarray | None) -> Degradation:
        """The PSF kernel, geometry and SRF this protocol applies to an HSI grid
        (:meth:`Degradation.from_protocol`)."""
        return Degradation.from_protocol(self, hsi_wavelengths_nm)

    def simulate(self, reference: Scene) -> SimulatedCase:
        """Make the LR-HSI and HR-MSI of a reference scene.

        The reference is cropped (top-left kept) to a multiple of the ratio; the crop is
        recorded in the case. Returns a :class:`SimulatedCase` whose ``inputs`` carry the known
        PSF and SRF (call ``inputs.blind()`` to hide them).
        """
        cube = reference.cube
        H, W = cube.shape[1:]
        Hc, Wc = (H // self.ratio) * self.ratio, (W // self.ratio) * self.ratio
        if Hc == 0 or Wc == 0:
            raise MossfuseInputError(
                f"scene '{reference.name}' ({H} x {W}) is smaller than the ratio {self.ratio}",
                reference.meta.get("source"),
            )
        ref = Scene(
            np.ascontiguousarray(cube[:, :Hc, :Wc], dtype=np.float32),
            reference.wavelengths_nm, reference.name, dict(reference.meta),
        )
        deg = self.degradation(ref.wavelengths_nm if ref.wavelengths_nm is not None else None)
        if deg.srf.shape[1] != ref.bands:
            raise MossfuseInputError(
                f"protocol '{self.name}' SRF expects {deg.srf.shape[1]} HSI bands; scene "
                f"'{ref.name}' has {ref.bands}",
                ref.meta.get("source"),
            )
        model = deg.forward_model()
        # float64 accumulation: the 961-tap sums then match an exact computation to ~1e-7.
        lr, hr = model(ref.cube.astype(np.float64))
        rng = np.random.default_rng(self.seed)
        if self.snr_db_hsi is not None:
            lr = np.clip(add_noise_snr(lr, self.snr_db_hsi, rng), 0, 1)
        if self.snr_db_msi is not None:
            hr = np.clip(add_noise_snr(hr, self.snr_db_msi, rng), 0, 1)
        inputs = FusionInputs(
            lr_hsi=np.ascontiguousarray(lr, dtype=np.float32),
            hr_msi=np.ascontiguousarray(hr, dtype=np.float32),
            ratio=self.ratio,
            hsi_wavelengths_nm=ref.wavelengths_nm,
            msi_band_names=deg.band_names,
            degradation=deg,
        )
        return SimulatedCase(inputs=inputs, reference=ref, protocol=self, crop=(Hc, Wc))

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


@dataclass
class SimulatedCase:
    """A simulated pair with its reference. Only ``inputs`` is ever given to a method."""

    inputs: FusionInputs
    reference: Scene
    protocol: Protocol
    crop: tuple[int, int]


def _wald(r: int) -> Protocol:
    return Protocol(
        name=f"wald-x{r}",
        description=(
            f"Wald protocol x{r}: {r - 1}x{r - 1} Gaussian, sigma {r / 4:g} px, centre and phase "
            f"{r // 2 - 1}, valid stride-{r} sampling, SRF nikon_d700_nssr, no noise"
        ),
        ratio=r,
        phase=r // 2 - 1,
        psf=PSFSpec(size=r - 1, sigma=r / 4),
    )


PROTOCOLS: dict[str, Protocol] = {
    "mossfuse-x32": Protocol(
        name="mossfuse-x32",
        description=(
            "MossFuse paper's released CAVE evaluation: 31x31 Gaussian sigma 2 px, centre 15, "
            "valid stride-32 sampling at phase 15 (512 -> 16), SRF nikon_d700_nssr, no noise"
        ),
        ratio=32,
        phase=15,
        psf=PSFSpec(size=31, sigma=2.0),
    ),
    **{f"wald-x{r}": _wald(r) for r in (4, 8, 16)},
}


def daem_protocol(k: int, kernel_dir: str | Path | None = None) -> Protocol:
    """Protocol ``daem-k{k}`` with the kernel file ``{kernel_dir}/{k}.mat`` (default
    :func:`mossfuse.physics.daem.daem_kernel_dir`)."""
    file = daem_kernel_file(k, kernel_dir)
    lam1, lam2, theta = DAEM_KERNEL_PARAMS[k]
    return Protocol(
        name=f"daem-k{k}",
        description=(
            f"DAEM kernel {k} (lambda {lam1}, {lam2} px^2, theta {theta} rad, noisy taps), "
            "32x32, centre 16, valid stride-32 sampling at phase 16, SRF nikon_d700_nssr"
        ),
        ratio=32,
        phase=16,
        psf=PSFSpec(kind="file", size=32, sigma=None, centre=16, path=str(file)),
    )


def register_daem_protocols(kernel_dir: str | Path | None = None) -> list[str]:
    """Register every DAEM protocol whose kernel file exists; returns their names."""
    names = []
    for k in DAEM_KERNEL_PARAMS:
        try:
            register_protocol(daem_protocol(k, kernel_dir))
        except MossfuseInputError:
            continue
        names.append(f"daem-k{k}")
    return names


def available_protocols() -> dict[str, Protocol]:
    """The registered protocols plus the ``daem-k*`` whose kernel files are found (by name;
    for listing)."""
    out = dict(PROTOCOLS)
    for k in DAEM_KERNEL_PARAMS:
        if f"daem-k{k}" not in out:
            try:
                out[f"daem-k{k}"] = daem_protocol(k)
            except MossfuseInputError:
                continue
    return out


def register_protocol(protocol: Protocol) -> None:
    PROTOCOLS[protocol.name] = protocol


def get_protocol(name_or_path: str | Path) -> Protocol:
    """A built-in protocol by name, or one read from a JSON file."""
    key = str(name_or_path)
    if key in PROTOCOLS:
        return PROTOCOLS[key].model_copy(deep=True)
    if key.startswith("daem-k") and key[6:].isdigit() and int(key[6:]) in DAEM_KERNEL_PARAMS:
        return daem_protocol(int(key[6:]))
    path = Path(key)
    if path.suffix == ".json" and path.exists():
        try:
            return Protocol.model_validate(json.loads(path.read_text()))
        except (ValueError, json.JSONDecodeError) as exc:
            raise MossfuseInputError(f"not a valid protocol file ({exc})", path) from exc
    raise MossfuseInputError(
        f"unknown protocol '{key}'; built-in: {sorted(PROTOCOLS)} (or a .json protocol file)"
    )
