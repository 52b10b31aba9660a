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
from mossfuse.methods.mossfuse.config import ADAPT_MAX_STEPS, MossFuseConfig
from mossfuse.methods.mossfuse.inference import FusedMossFuse
from mossfuse.methods.mossfuse.network import MossFuseNet, count_parameters
from mossfuse.methods.mossfuse.train.step import make_degradation

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
    RUNTIME_FIELDS = ("inference_dtype", "num_threads", "memory_limit_gb", "adapt_steps",
                      "adapt_crop", "adapt_batch_size", "adapt_lr", "adapt_seed",
                      "adapt_batchnorm", "adapt_autocast", "adapt_channels_last",
                      "adapt_seconds")

    @classmethod
    def default_weights(cls) -> str:
        """The weights used without ``--weights`` for 31+3 bands x32 (env, user folder, shipped),
        and the other shipped checkpoints."""
        from mossfuse.methods.mossfuse.weights import describe_weights

        lines = [describe_weights(b, m, r) for (b, m, r) in SHIPPED_WEIGHTS]
        return "; ".join(lines) + "; otherwise --weights"

    def __init__(self, config: MossFuseConfig | dict | None = None, **overrides: Any):
        explicit = set(overrides)
        if isinstance(config, dict):
            explicit |= set(config)
        elif config is not None:
            explicit |= set(config.model_fields_set)
        super().__init__(config, **overrides)
        self._runtime = {k: getattr(self.config, k) for k in self.RUNTIME_FIELDS
                         if k in explicit}
        #: every field the caller set explicitly (an imported checkpoint must agree with them)
        self._explicit = {k: getattr(self.config, k) for k in explicit
                          if k in type(self.config).model_fields}
        self._build()

    def _build(self) -> None:
        self.net = MossFuseNet(self.config)
        self.degradation = make_degradation(self.config)
        self.trained = False
        self.weights_path: str | None = None
        #: why these weights: "given" (load), "MOSSFUSE_WEIGHTS", "user weights folder ...",
        #: "shipped with mossfuse" (see :mod:`.weights`)
        self.weights_source: str | None = None
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
        n_hsi, n_msi = inputs.lr_hsi.shape[0], inputs.hr_msi.shape[0]
        if not self.trained and self.weights_path is None:
            # only a model nobody loaded weights into picks its own (see .weights for the order)
            from mossfuse.methods.mossfuse.weights import resolve_weights

            choice = resolve_weights(n_hsi, n_msi, inputs.ratio)
            if choice is not None:
                self.load(choice.path)  # keeps what the caller set explicitly (see load)
                self.weights_source = choice.source
                cfg = self.config
        if n_hsi != cfg.hsi_bands or n_msi != cfg.msi_bands:
            loaded = (f" by its weights {self.weights_path} [{self.weights_source}]"
                      if self.weights_path else "")
            raise MossfuseInputError(
                f"MossFuse is configured{loaded} for B={cfg.hsi_bands} HSI and "
                f"b={cfg.msi_bands} MSI bands; got B={n_hsi}, b={n_msi} (set "
                "hsi_bands/msi_bands, or load a checkpoint trained on such data)"
            )
        if not self.trained:
            why = (f"checkpoint {self.weights_path} is untrained" if self.weights_path
                   else f"no shipped checkpoint (nor an imported one) for B={cfg.hsi_bands}, "
                        f"b={cfg.msi_bands}, ratio {inputs.ratio}")
            warnings.warn(
                f"MossFuse is running with untrained (random) weights: {why}; load a "
                "trained one (--weights) or train first (mossfuse train)", RuntimeWarning,
                stacklevel=3,
            )
        self._check_memory(*inputs.hr_msi.shape[-2:])
        fused, degradation, adapt_info = self.inference_path(), self.degradation, None
        if cfg.adapts:
            try:
                net, degradation, adapt_info = self.adapted(inputs)
                fused = net.inference_path(_DTYPES[cfg.inference_dtype])
            except FloatingPointError as exc:
                # a diverged adaptation must not cost the user the fusion: the loaded weights
                # fuse, unadapted, and the result says so
                warnings.warn(f"per-scene adaptation diverged ({exc}); fused with the loaded "
                              "weights, unadapted", RuntimeWarning, stacklevel=3)
                adapt_info = {"steps": 0, "seconds": 0.0, "stopped_by": "diverged",
                              "diverged": str(exc)}
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
        est = degradation.export()
        info = {
            "trained": self.trained,
            "weights": (f"{self.weights_path} [{self.weights_source or 'given'}]"
                        if self.weights_path else None),
            "weights_path": self.weights_path,
            "weights_source": (self.weights_source or "given") if self.weights_path else None,
            "psf_sigma_px": est["sigma"],
            "psf_eigenvalues_px2": list(est["eigenvalues"]),
            "psf_theta_rad": est["theta"],
            "model_ratio": self.degradation.ratio,
            "input_ratio": int(inputs.ratio),
        }
        if adapt_info is not None:
            info["adaptation"] = {k: v for k, v in adapt_info.items() if k != "history"}
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

    # --- per-scene adaptation -----------------------------------------------------------------
    def adapt_train_config(self, inputs: FusionInputs, steps: int | None = None, **overrides):
        """The :class:`~.train.TrainConfig` of :meth:`adapted` for these inputs: single-scene
        mode, ``steps`` (default ``adapt_steps``) network steps, random crops of
        ``adapt_crop`` px (clipped to the image; whole image when smaller than r), batch
        ``adapt_batch_size``, constant lr ``adapt_lr``, no files, no progress bar."""
        from mossfuse.methods.mossfuse.train import TrainConfig

        cfg = self.config
        if steps is None:
            steps = cfg.adapt_steps or (ADAPT_MAX_STEPS if cfg.adapt_seconds else 0)
        r = int(inputs.ratio)
        side = min(cfg.adapt_crop, min(inputs.hr_msi.shape[-2:]))
        crop = (side // r) * r if side >= r else None
        lr = cfg.adapt_lr
        kw = dict(mode="single-scene", crop=crop, sampling="random", augment=True,
                  batch_size=cfg.adapt_batch_size, steps=steps, lr=lr, lr_degradation=lr,
                  lr_schedule="constant",
                  seed=cfg.adapt_seed, checkpoint_every=0, validate_every=0, log_every=10,
                  progress=False, device="cpu", autocast=cfg.adapt_autocast,
                  channels_last=cfg.adapt_channels_last)
        kw.update(overrides)
        return TrainConfig(**kw)

    def adapted(self, inputs: FusionInputs, steps: int | None = None, *,
                seconds: float | None = None, evaluator=None,
                **overrides: Any) -> tuple[MossFuseNet, Any, dict[str, Any]]:
        """Per-scene adaptation: fine-tune copies of the loaded network and degradation module
        on ``inputs`` alone with the self-supervised training losses (no reference; the PSF
        and SRF of ``inputs`` are dropped), see :meth:`adapt_train_config`.

        Test-time adaptation of a pre-trained unsupervised fusion network, as the paper's
        single-scene setting trains from scratch (MossFuse Sec. 3.7); here it starts from the
        loaded weights. ``evaluator`` (a validation callable holding references, for
        benchmarks only) and ``overrides`` (e.g. ``validate_every``) go to the trainer.

        ``steps`` / ``seconds`` default to ``adapt_steps`` / ``adapt_seconds`` (a time budget
        ends the adaptation after the step that reaches it).

        Returns ``(net (eval mode), degradation, info)``: info has ``steps`` (done),
        ``seconds`` (training time without validation), ``stopped_by`` (``"steps"`` or
        ``"time"``), ``crop``, ``lr`` and the last loss terms.
        """
        import copy

        from mossfuse.methods.mossfuse.train import train

        tc = self.adapt_train_config(inputs, steps, **overrides)
        if not self.trained:
            warnings.warn("adapting untrained (random) weights", RuntimeWarning, stacklevel=2)
        net = copy.deepcopy(self.net)
        net.frozen_batchnorm = self.config.adapt_batchnorm == "frozen"
        budget = self.config.adapt_seconds if seconds is None else seconds
        result = train(self.config, tc, [inputs.blind()], None, evaluator=evaluator,
                       net=net, degradation=copy.deepcopy(self.degradation),
                       session_seconds=budget)
        result.state.net.frozen_batchnorm = False
        val_s = sum(float(h.get("val_seconds", 0.0)) for h in result.history)
        losses = {k: float(v) for k, v in result.last.items()
                  if k in ("ma", "sc", "sct", "de", "total")}
        complete = result.info.get("complete", True)
        info = {"steps": int(result.steps), "seconds": float(result.seconds) - val_s,
                "stopped_by": "steps" if complete else "time",
                "crop": tc.crop, "batchnorm": self.config.adapt_batchnorm,
                "batch_size": tc.batch_size, "lr": tc.lr, "seed": tc.seed,
                "last_losses": losses, "history": result.history}
        return result.state.net.cpu().eval(), result.state.degradation.cpu(), info

    # --- training ----------------------------------------------------------------------------
    def fit(
        self, training_inputs: FusionInputs | list[FusionInputs], **kwargs: Any
    ) -> dict[str, Any]:
        """Train on LR-HSI/HR-MSI pairs with :mod:`.train` (self-supervised: no reference).

        One pair (a ``FusionInputs`` or a list of one) trains in ``"single-scene"`` mode, more
        in ``"dataset"`` mode. Untrained, the model first adopts the inputs' band counts,
        ratio and sampling phase (and is re-initialised from the seed); trained, it is
        fine-tuned and the inputs must match it.

        Keyword args:
            train_config: a :class:`~mossfuse.methods.mossfuse.train.TrainConfig` or dict;
                any other :class:`TrainConfig` field may also be given directly
                (``steps=200, crop=64``).
            out_dir: run folder for the log, checkpoints and final weights (default: none).
            evaluator: validation callable (it alone holds references), e.g.
                :class:`~mossfuse.methods.mossfuse.train.ReferenceEvaluator`.
            resume: continue from ``out_dir``'s last checkpoint.

        Returns the training summary (steps, last losses, PSF estimate, timings).
        """
        from mossfuse.methods.mossfuse.train import TrainConfig, adapt_model_config, train

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

    def save(self, path: str | Path, storage_dtype: torch.dtype = torch.float32,
             origin: dict[str, Any] | None = None) -> None:
        """Write ``<path>.safetensors`` and ``<path>.json`` (atomic writes: both go to temporary
        names, renamed only once both are complete).

        ``storage_dtype=torch.bfloat16`` halves the file (the shipped checkpoint: 1.2 MB instead
        of 2.4 MB; relative rounding <= 0.4 % per tensor); :meth:`load` casts back to float32.
        ``origin`` (e.g. the imported authors' file and its SHA-256) is stored in the JSON.
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
        if origin is not None:
            doc["origin"] = origin
        with atomic_path(weights) as tmp_w, atomic_path(meta) as tmp_m:
            save_file(tensors, str(tmp_w), metadata={"method": self.name})
            tmp_m.write_text(json.dumps(doc, indent=2))

    def load(self, path: str | Path) -> None:
        """Read a checkpoint written by :meth:`save`; the saved config replaces this one,
        except the :attr:`RUNTIME_FIELDS` the caller set explicitly when creating the method.

        A ``.pth``/``.pt`` file is read as the MossFuse authors' released checkpoint
        (:mod:`.official`: ``torch.load(weights_only=True)`` only, tensors mapped by name; the
        widths come from the file, the ratio from this config, default 32)."""
        from mossfuse.methods.mossfuse.official import is_torch_checkpoint, load_official_into

        if is_torch_checkpoint(path):
            # the release's defaults, with whatever the caller set explicitly
            self.config = self.Config(**{**self._explicit, **self._runtime})
            load_official_into(self, path, explicit=self._explicit)
            self.trained = True
            self.weights_path = str(path)
            self.weights_source = None
            return
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
        # adaptation is a setting of how to fuse, never inherited from a checkpoint's file
        saved = {k: v for k, v in doc["config"].items() if not k.startswith("adapt_")}
        self.config = self.Config(**{**saved, **runtime})
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
        self.weights_source = None
        self.net.eval()
