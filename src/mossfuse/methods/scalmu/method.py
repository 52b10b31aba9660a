"""``scalmu``: the registered method (shipped weights, known or estimated degradation).

SCALMU (Synthetically-trained Coupling of Adaptive Learned Multiplicative Updates; abstract in
``shared/papers/scalmu_abstract.txt``) unrolls CNMF (Yokoya et al., IEEE TGRS 2012) with learned
adaptive terms; see :mod:`mossfuse.methods.scalmu.network` and ``docs/scalmu.md``.

Weights: every learned quantity is a scalar, so one checkpoint serves any band count, MSI and
image size. Shipped checkpoints (``mossfuse/weights/scalmu_<protocol>.safetensors`` + ``.json``)
are trained for a ratio; ``weights="auto"`` (default) takes the one trained at the inputs'
ratio, or else the one with the nearest ratio (recorded in ``info["weights"]``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from safetensors.torch import load_file

from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError
from mossfuse.methods._linalg import single_threaded
from mossfuse.methods.base import (
    BUILTIN_METHODS,
    FusionResult,
    MethodConfig,
    TrainableMethod,
    register_method,
)
from mossfuse.methods.scalmu.network import (
    DEFAULT_SHAPE,
    FORMAT,
    ScalmuNet,
    make_problem,
    run_scalmu,
)
from mossfuse.physics.estimation import resolve_degradation

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


class ScalmuConfig(MethodConfig):
    """SCALMU settings.

    Attributes:
        weights: ``"auto"`` (shipped weights for the inputs' ratio), ``"none"`` (the untrained
            network: CNMF-like classical values, for tests and ablations) or a
            ``.safetensors`` path.
        n_endmembers, n_sub, n_init: override the checkpoint's values (None: keep them).
        seed: VCA seed.
        threads: torch threads during fusion (None: leave as is).
        keep_factors: keep ``endmembers`` ``(B, p)`` and ``abundances`` ``(p, H, W)`` in
            ``info``.
        estimation: keyword arguments of the blind estimator.
    """

    weights: str = "auto"
    n_endmembers: int | None = Field(None, ge=1)
    n_sub: int | None = Field(None, ge=1)
    n_init: int | None = Field(None, ge=1)
    seed: int = 0
    threads: int | None = Field(None, ge=1)
    keep_factors: bool = False
    estimation: dict = Field(default_factory=dict)


def shipped_weights() -> dict[int, Path]:
    """``{ratio: path}`` of the checkpoints shipped in the package."""
    found: dict[int, Path] = {}
    for js in sorted(WEIGHTS_DIR.glob("scalmu_*.json")):
        st = js.with_suffix(".safetensors")
        if st.exists():
            found[int(json.loads(js.read_text())["ratio"])] = st
    return found


@register_method
class Scalmu(TrainableMethod):
    """Unrolled coupled NMF with learned adaptive multiplicative updates (SCALMU)."""

    name = "scalmu"
    description = BUILTIN_METHODS["scalmu"].description
    Config = ScalmuConfig

    @classmethod
    def default_weights(cls) -> str:
        ship = shipped_weights()
        if not ship:
            return f"none shipped (in {WEIGHTS_DIR}); pass --weights"
        names = ", ".join(f"{p.stem} (x{r})" for r, p in sorted(ship.items()))
        return f"shipped {names}; the nearest ratio is used"

    def __init__(self, config=None, **overrides: Any):
        super().__init__(config, **overrides)
        self._net: ScalmuNet | None = None
        self._meta: dict[str, Any] = {}
        self._loaded: Path | None = None

    # -- weights -------------------------------------------------------------------------------
    def load(self, path: str | Path) -> None:
        """Load a ``.safetensors`` checkpoint and its ``.json`` sidecar."""
        path = Path(path)
        js = path.with_suffix(".json")
        if not path.exists() or not js.exists():
            raise MossfuseInputError("SCALMU checkpoint needs both .safetensors and .json", path)
        meta = json.loads(js.read_text())
        fmt = meta.get("format")
        if isinstance(fmt, str) and fmt.startswith("scalmu-") and fmt != FORMAT:
            raise MossfuseInputError(f"SCALMU checkpoint of format {fmt!r}, this version reads "
                                     f"{FORMAT!r} (retrain with `mossfuse train --method "
                                     f"scalmu`)", js)
        if fmt != FORMAT:
            raise MossfuseInputError(f"not a SCALMU checkpoint (format {fmt!r}, "
                                     f"expected {FORMAT!r})", js)
        net = ScalmuNet(int(meta["n_layers"]))
        net.load_state_dict(load_file(str(path)))
        self._net, self._meta, self._loaded = net.eval(), meta, path

    def save(self, path: str | Path) -> None:
        from mossfuse.methods.scalmu.trainer import ScalmuTrainConfig, save_weights

        if self._net is None:
            raise MossfuseInputError("no weights to save (load or fit first)")
        tc = ScalmuTrainConfig(**self._meta.get("train_config", {}))
        self._net.ratio = self._meta.get("ratio")
        save_weights(Path(path), self._net, tc)

    def _ensure_net(self, ratio: int) -> dict[str, Any]:
        cfg: ScalmuConfig = self.config  # type: ignore[assignment]
        if cfg.weights == "none":
            if self._net is None:
                self._net, self._meta = ScalmuNet(8).eval(), dict(DEFAULT_SHAPE)
            return {"weights": "none (untrained)"}
        if cfg.weights != "auto":
            if self._loaded != Path(cfg.weights):
                self.load(cfg.weights)
            return {"weights": str(cfg.weights)}
        if self._loaded is not None and cfg.weights == "auto" and self._meta.get("ratio") \
                and int(self._meta["ratio"]) == ratio:
            return {"weights": str(self._loaded)}
        if self._loaded is not None and not str(self._loaded).startswith(str(WEIGHTS_DIR)):
            return {"weights": str(self._loaded)}  # explicitly loaded by the caller
        ship = shipped_weights()
        if not ship:
            raise MossfuseInputError(
                f"no SCALMU weights shipped in {WEIGHTS_DIR}; train them with `mossfuse train "
                f"--method scalmu` and pass --weights, or use the config weights='none'")
        best = min(ship, key=lambda r: abs(math.log(r / ratio)))
        self.load(ship[best])
        info = {"weights": ship[best].name, "weights_ratio": best}
        if best != ratio:
            info["note"] = (f"no shipped weights for ratio {ratio}; using those trained at "
                            f"x{best} (all weights are scalars, independent of bands and size)")
        return info

    # -- fusion --------------------------------------------------------------------------------
    def _fuse(self, inputs: FusionInputs) -> FusionResult:
        cfg: ScalmuConfig = self.config  # type: ignore[assignment]
        winfo = self._ensure_net(inputs.ratio)
        assert self._net is not None
        deg = resolve_degradation(inputs, **cfg.estimation)
        (h, w), (big_h, big_w) = inputs.lr_hsi.shape[1:], inputs.hr_msi.shape[1:]
        if big_h != inputs.ratio * h or big_w != inputs.ratio * w:
            raise MossfuseInputError(
                f"SCALMU needs HR-MSI = r x LR-HSI exactly; got {big_h} x {big_w} and {h} x {w} "
                f"at r = {inputs.ratio}")
        pb = make_problem(inputs.lr_hsi, inputs.hr_msi, deg.srf, deg.spatial())
        meta = self._meta
        kw: dict[str, Any] = {key: getattr(cfg, key) or int(meta.get(key, default))
                              for key, default in DEFAULT_SHAPE.items()}
        kw["seed"] = cfg.seed
        with torch.no_grad(), single_threaded(cfg.threads is not None, cfg.threads or 1):
            out = run_scalmu(self._net, pb, **kw)
        est = deg.info["estimated"]
        info: dict[str, Any] = {
            **winfo, "n_layers": self._net.n_layers, **kw,
            "layer_values": self._net.layer_values(),
            "degradation": {**deg.info, "sigma": deg.sigma, "phase": deg.phase},
        }
        if cfg.keep_factors:
            info["endmembers"] = out.endmembers.numpy()
            info["abundances"] = out.abundances.numpy()
        return FusionResult(
            hr_hsi=out.z.numpy(),
            estimated_srf=deg.srf if est["srf"] else None,
            estimated_psf=deg.psf if est["psf"] else None,
            info=info,
        )

    def fit(self, training_inputs: list[FusionInputs], **kwargs: Any) -> dict[str, Any]:
        """Train on synthetic dead-leaves pairs painted with spectra of the given LR-HSIs
        (NMF endmembers, :func:`~mossfuse.data.spectral_library.spectra_from_cube`) and
        degraded like the first input (known or estimated PSF/SRF). Only the inputs are used;
        ``kwargs`` are :class:`~mossfuse.methods.scalmu.trainer.ScalmuTrainConfig` fields plus
        ``out_dir`` (default: a temporary folder) and ``n_spectra`` (default 24)."""
        import tempfile

        from mossfuse.data.spectral_library import SpectralLibrary, spectra_from_cube
        from mossfuse.methods.scalmu.trainer import ScalmuTrainConfig, train_scalmu
        from mossfuse.physics.degradation import Degradation

        if not training_inputs:
            raise MossfuseInputError("fit needs at least one FusionInputs")
        out_dir = kwargs.pop("out_dir", None) or tempfile.mkdtemp(prefix="scalmu_fit_")
        n_spec = int(kwargs.pop("n_spectra", 24))
        first = training_inputs[0]
        deg = resolve_degradation(first)
        rng = np.random.default_rng(kwargs.get("seed", 0))
        libs = [spectra_from_cube(i.lr_hsi, n_spec, "nmf", rng) for i in training_inputs]
        lib = SpectralLibrary(np.concatenate([lb.spectra for lb in libs]),
                              sum((lb.names for lb in libs), []), None, "fit_inputs")
        degradation = Degradation(
            deg.psf, deg.srf, first.ratio, deg.phase, deg.centre,
            band_names=[f"b{j}" for j in range(deg.srf.shape[0])], srf_name="fit",
            source=deg.source)
        kwargs.setdefault("protocol", "fit")
        kwargs.setdefault("size", first.ratio * 8)
        tc = ScalmuTrainConfig(**kwargs)
        summary = train_scalmu(tc, degradation, out_dir, library=lib,
                               wavelengths_nm=np.arange(first.lr_hsi.shape[0], dtype=float),
                               log=lambda *a: None)
        self.load(Path(out_dir) / "model.safetensors")
        self._meta["ratio"] = first.ratio
        self.config = self.config.model_copy(update={"weights": str(self._loaded)})
        return summary
