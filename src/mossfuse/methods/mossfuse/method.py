"""The MossFuse method (registered as ``"mossfuse"``): config, model, ``fuse``, save/load.

``fuse`` runs one forward pass of the fused inference path (E_Y, E_x and D_X only) on the whole
image and clips the result to [0, 1], as the authors' evaluation does. The degradation module's
current estimate (PSF kernel and SRF) is returned with the result.

Checkpoints: ``save(path)`` writes ``path`` (safetensors: ``net.*`` and ``degradation.*``
tensors, BatchNorm statistics included) and ``path`` with suffix ``.json`` (method name,
format version, the full config, whether the weights were trained). ``load`` reads both and
rebuilds the network from the saved config.

Shipped weights: ``src/mossfuse/weights/`` holds checkpoints trained by the commands in
``benchmarks/mossfuse_cpu/`` (see :data:`SHIPPED_WEIGHTS`). An untrained ``MossFuse`` whose
inputs match one of them (band counts and ratio) loads it on its first ``fuse``, so
``mossfuse fuse --method mossfuse`` works out of the box at ``mossfuse-x32``; any other
configuration needs ``--weights`` or a ``mossfuse train`` run.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from mossfuse._atomic import atomic_path
from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.base import BUILTIN_METHODS, FusionResult, TrainableMethod, register_method
from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.inference import FusedMossFuse
from mossfuse.methods.mossfuse.network import MossFuseNet, count_parameters
from mossfuse.methods.mossfuse.training import make_degradation

CHECKPOINT_FORMAT = 1
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
#: ``(hsi_bands, msi_bands, ratio) -> checkpoint stem in WEIGHTS_DIR``
SHIPPED_WEIGHTS: dict[tuple[int, int, int], str] = {(31, 3, 32): "mossfuse_x32_cave16"}


def _available_memory_bytes() -> float:
    """``MemAvailable`` from /proc/meminfo (Linux), else physical memory, else infinity."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def _bf16_is_fast() -> bool:
    """Whether this CPU has native bfloat16 support in oneDNN (AVX512-BF16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def shipped_weights(hsi_bands: int, msi_bands: int, ratio: int) -> Path | None:
    """The shipped checkpoint (``.safetensors`` path) for this configuration, or None."""
    stem = SHIPPED_WEIGHTS.get((int(hsi_bands), int(msi_bands), int(ratio)))
    if stem is None:
        return None
    path = WEIGHTS_DIR / f"{stem}.safetensors"
    return path if path.exists() and path.with_suffix(".json").exists() else None
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@register_method
class MossFuse(TrainableMethod):
    """MossFuse (Du et al., self-supervised modality decoupling), our implementation.

    >>> m = MossFuse(hsi_bands=8, channels=16, heads=2, ratio=4)
    >>> import numpy as np
    >>> inp = FusionInputs(np.random.rand(8, 4, 4).astype("f4"),
    ...                    np.random.rand(3, 16, 16).astype("f4"), 4)
    >>> import warnings; warnings.simplefilter("ignore")
    >>> m.fuse(inp).hr_hsi.shape
    (8, 16, 16)
    """

    name = "mossfuse"
    description = BUILTIN_METHODS["mossfuse"].description
    Config = MossFuseConfig
    uses_degradation = False  # the network learns its own PSF/SRF

    #: settings of how to run, not of what was trained: what the caller sets explicitly
    #: survives :meth:`load` (a checkpoint's config replaces everything else)
    RUNTIME_FIELDS = ("inference_dtype", "num_threads", "memory_limit_gb")

    @classmethod
    def default_weights(cls) -> str:
        found = [f"{path.stem} ({b}+{m} bands, x{r})" for (b, m, r) in SHIPPED_WEIGHTS
                 if (path := shipped_weights(b, m, r)) is not None]
        return ("shipped " + ", ".join(found) if found else "none shipped") + \
            "; otherwise --weights"

    def __init__(self, config: MossFuseConfig | dict | None = None, **overrides: Any):
        explicit = set(overrides)
        if isinstance(config, dict):
            explicit |= set(config)
        elif config is not None:
            explicit |= set(config.model_fields_set)
        super().__init__(config, **overrides)
        self._runtime = {k: getattr(self.config, k) for k in self.RUNTIME_FIELDS
                         if k in explicit}
        self._build()

    def _build(self) -> None:
        self.net = MossFuseNet(self.config)
        self.degradation = make_degradation(self.config)
        self.trained = False
        self.weights_path: str | None = None
        self._fused: FusedMossFuse | None = None

    # --- inference ---------------------------------------------------------------------------
    def inference_path(self) -> FusedMossFuse:
        """The fused inference module for the current weights (cached; reset by ``load``
        and by :meth:`invalidate`)."""
        if self._fused is None:
            self.net.eval()
            self._fused = self.net.inference_path(_DTYPES[self.config.inference_dtype])
        return self._fused

    def invalidate(self) -> None:
        """Drop the cached inference path (call after changing the weights in place)."""
        self._fused = None

    def _fuse(self, inputs: FusionInputs) -> FusionResult:
        cfg = self.config
        if inputs.lr_hsi.shape[0] != cfg.hsi_bands or inputs.hr_msi.shape[0] != cfg.msi_bands:
            raise MossfuseInputError(
                f"MossFuse is configured for B={cfg.hsi_bands} HSI and b={cfg.msi_bands} MSI "
                f"bands; got B={inputs.lr_hsi.shape[0]}, b={inputs.hr_msi.shape[0]} (set "
                "hsi_bands/msi_bands, or load a checkpoint trained on such data)"
            )
        if not self.trained:
            shipped = shipped_weights(cfg.hsi_bands, cfg.msi_bands, inputs.ratio)
            # only a model nobody loaded weights into takes the shipped ones
            if shipped is not None and cfg.ratio == inputs.ratio and self.weights_path is None:
                self.load(shipped)  # keeps what the caller set explicitly (see load)
                cfg = self.config
            else:
                why = (f"checkpoint {self.weights_path} is untrained" if self.weights_path
                       else f"no shipped checkpoint for B={cfg.hsi_bands}, b={cfg.msi_bands}, "
                            f"ratio {inputs.ratio}")
                warnings.warn(
                    f"MossFuse is running with untrained (random) weights: {why}; load a "
                    "trained one (--weights) or train first (mossfuse train)", RuntimeWarning,
                    stacklevel=3,
                )
        self._check_memory(*inputs.hr_msi.shape[-2:])
        fused = self.inference_path()
        old_threads = torch.get_num_threads()
        if cfg.num_threads is not None:
            torch.set_num_threads(cfg.num_threads)
        try:
            with torch.inference_mode():
                out = fused(
                    torch.from_numpy(np.ascontiguousarray(inputs.hr_msi))[None],
                    torch.from_numpy(np.ascontiguousarray(inputs.lr_hsi))[None],
                )[0]
                out.clamp_(0.0, 1.0)
                hr_hsi = out.numpy()
        finally:
            if cfg.num_threads is not None:
                torch.set_num_threads(old_threads)
        est = self.degradation.export()
        info = {
            "trained": self.trained,
            "weights": self.weights_path,
            "psf_sigma_px": est["sigma"],
            "psf_eigenvalues_px2": list(est["eigenvalues"]),
            "psf_theta_rad": est["theta"],
            "model_ratio": self.degradation.ratio,
            "input_ratio": int(inputs.ratio),
        }
        return FusionResult(
            hr_hsi=hr_hsi, estimated_srf=est["srf"], estimated_psf=est["kernel"], info=info
        )

    def inference_bytes(self, height: int, width: int) -> int:
        """Upper estimate of the fused path's working memory for one ``height x width``
        image: about 16 feature maps of ``C`` channels (the four encoder outputs, the
        aggregation workspace and the 4C-wide LK hidden layer) plus the input/output cubes."""
        item = 2 if self.config.inference_dtype == "bfloat16" else 4
        features = 16 * self.config.channels * height * width * item
        cubes = 4 * (self.config.hsi_bands + self.config.msi_bands) * height * width * 4
        return features + cubes

    def _check_memory(self, height: int, width: int) -> None:
        """Memory guard: refuse, with advice, an image whose whole-image inference would not
        fit in ``config.memory_limit_gb`` (default: 90 % of the memory available now)."""
        need = self.inference_bytes(height, width)
        limit = self.config.memory_limit_gb
        limit_bytes = limit * 2**30 if limit is not None else 0.9 * _available_memory_bytes()
        if need > limit_bytes:
            raise MossfuseInputError(
                f"MossFuse whole-image inference on {height} x {width} px needs about "
                f"{need / 2**30:.1f} GiB; {limit_bytes / 2**30:.1f} GiB allowed. Fuse it in "
                "tiles (mossfuse fuse --tile-size 1024), use inference_dtype='bfloat16', or raise "
                "memory_limit_gb"
            )

    # --- training ----------------------------------------------------------------------------
    def fit(
        self, training_inputs: FusionInputs | list[FusionInputs], **kwargs: Any
    ) -> dict[str, Any]:
        """Train on LR-HSI/HR-MSI pairs with :mod:`.trainer` (self-supervised: no reference).

        One pair (a ``FusionInputs`` or a list of one) trains in ``"single-scene"`` mode, more
        in ``"dataset"`` mode. Untrained, the model first adopts the inputs' band counts,
        ratio and sampling phase (and is re-initialised from the seed); trained, it is
        fine-tuned and the inputs must match it.

        Keyword args:
            train_config: a :class:`~mossfuse.methods.mossfuse.trainer.TrainConfig` or dict;
                any other :class:`TrainConfig` field may also be given directly
                (``steps=200, crop=64``).
            out_dir: run folder for the log, checkpoints and final weights (default: none).
            evaluator: validation callable (it alone holds references), e.g.
                :class:`~mossfuse.methods.mossfuse.trainer.ReferenceEvaluator`.
            resume: continue from ``out_dir``'s last checkpoint.

        Returns the training summary (steps, last losses, PSF estimate, timings).
        """
        from mossfuse.methods.mossfuse.trainer import TrainConfig, adapt_model_config, train

        inputs = [training_inputs] if isinstance(training_inputs, FusionInputs) else list(
            training_inputs
        )
        if not inputs:
            raise MossfuseInputError("fit needs at least one pair of inputs")
        out_dir = kwargs.pop("out_dir", None)
        evaluator = kwargs.pop("evaluator", None)
        resume = bool(kwargs.pop("resume", False))
        tc = kwargs.pop("train_config", None)
        tc = tc.model_dump() if isinstance(tc, TrainConfig) else dict(tc or {})
        tc.update(kwargs)
        tc.setdefault("mode", "single-scene" if len(inputs) == 1 else "dataset")
        train_cfg = TrainConfig(**tc)
        if not self.trained:
            self.config = adapt_model_config(self.config, inputs[0])
            result = train(self.config, train_cfg, inputs, out_dir, evaluator=evaluator,
                           resume=resume)
        else:
            result = train(self.config, train_cfg, inputs, out_dir, evaluator=evaluator,
                           resume=resume, net=self.net, degradation=self.degradation)
        self.net = result.state.net.cpu().eval()
        self.degradation = result.state.degradation.cpu()
        self.trained = True
        self.invalidate()
        return result.summary()

    # --- checkpoints -------------------------------------------------------------------------
    @staticmethod
    def _paths(path: str | Path) -> tuple[Path, Path]:
        p = Path(path)
        if p.suffix != ".safetensors":
            p = p.with_name(p.name + ".safetensors")
        return p, p.with_suffix(".json")

    def save(self, path: str | Path, storage_dtype: torch.dtype = torch.float32) -> None:
        """Write ``<path>.safetensors`` and ``<path>.json`` (atomic writes).

        ``storage_dtype=torch.bfloat16`` halves the file (the shipped checkpoint: 1.2 MB instead
        of 2.4 MB; relative rounding <= 0.4 % per tensor); :meth:`load` casts back to float32.
        """
        weights, meta = self._paths(path)

        def stored(v: torch.Tensor) -> torch.Tensor:
            v = v.detach()
            return (v.to(storage_dtype) if v.is_floating_point() else v).contiguous()

        tensors = {f"net.{k}": stored(v) for k, v in self.net.state_dict().items()}
        tensors.update(
            {f"degradation.{k}": stored(v) for k, v in self.degradation.state_dict().items()}
        )
        counts = count_parameters(self.net, self.degradation)
        doc = {
            "method": self.name,
            "format_version": CHECKPOINT_FORMAT,
            "trained": self.trained,
            "config": self.config.model_dump(mode="json"),
            "parameters": {"total": counts.total, "inference": counts.inference},
            "storage_dtype": str(storage_dtype).removeprefix("torch."),
        }
        with atomic_path(weights) as tmp:
            save_file(tensors, str(tmp), metadata={"method": self.name})
        with atomic_path(meta) as tmp:
            tmp.write_text(json.dumps(doc, indent=2))

    def load(self, path: str | Path) -> None:
        """Read a checkpoint written by :meth:`save`; the saved config replaces this one,
        except the :attr:`RUNTIME_FIELDS` the caller set explicitly when creating the method."""
        weights, meta = self._paths(path)
        for p in (weights, meta):
            if not p.exists():
                raise MossfuseInputError("MossFuse checkpoint file not found", p)
        doc = json.loads(meta.read_text())
        if doc.get("method") != self.name or doc.get("format_version") != CHECKPOINT_FORMAT:
            raise MossfuseInputError(
                f"not a MossFuse checkpoint of format {CHECKPOINT_FORMAT}: method "
                f"{doc.get('method')!r}, format {doc.get('format_version')!r}", meta,
            )
        # the checkpoint's config, except the runtime settings the caller set explicitly; a
        # checkpoint asking for bfloat16 runs float32 on CPUs without bf16 units (faster there)
        runtime = dict(self._runtime)
        if "inference_dtype" not in runtime and not _bf16_is_fast():
            runtime["inference_dtype"] = "float32"
        self.config = self.Config(**{**doc["config"], **runtime})
        self._build()
        tensors = load_file(str(weights))
        net_sd = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
        deg_sd = {k[12:]: v for k, v in tensors.items() if k.startswith("degradation.")}
        try:
            self.net.load_state_dict(net_sd, strict=True)
            self.degradation.load_state_dict(deg_sd, strict=True)
        except RuntimeError as exc:
            raise MossfuseInputError(
                f"checkpoint does not match its config: {exc}", weights
            ) from exc
        self.trained = bool(doc.get("trained", False))
        self.weights_path = str(weights)
        self.net.eval()
