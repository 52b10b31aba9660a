"""The one interface every fusion method implements, and the registry by name.

A method receives a :class:`~mossfuse.data.scene.FusionInputs` (LR-HSI, HR-MSI, ratio and,
optionally, the known PSF/SRF) and returns a :class:`FusionResult`. ``FusionInputs`` has no
field for a reference image and :meth:`FusionMethod.fuse` refuses anything else, so a method
cannot see the ground truth. Methods that learn also implement :class:`TrainableMethod`
(``fit``/``save``/``load`` separate from ``fuse``).

Writing a method::

    @register_method
    class MyMethod(FusionMethod):
        name = "mine"
        Config = MyConfig            # a pydantic model; saved with every result
        def _fuse(self, inputs): ... return FusionResult(hr_hsi=...)
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError


class MethodConfig(BaseModel):
    """Base of method configs: typed, forbids unknown keys, JSON-serialisable."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class FusionResult:
    """Output of a method.

    Attributes:
        hr_hsi: ``(B, H, W)`` float32 fused cube (not clipped by the method unless it says so;
            the metric profiles clip as their convention requires).
        estimated_srf: ``(b, B)`` SRF the method used when it estimated it (blind), else None.
        estimated_psf: ``(k, k)`` kernel it estimated, else None.
        info: anything worth recording (iterations, timings, losses, estimated sigma).
    """

    hr_hsi: np.ndarray
    estimated_srf: np.ndarray | None = None
    estimated_psf: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


class FusionMethod(ABC):
    """Base class: ``fuse(inputs) -> FusionResult``; subclasses implement ``_fuse``."""

    name: ClassVar[str]
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    #: one line for ``mossfuse methods``
    description: ClassVar[str] = ""
    #: True for methods with trained weights (:class:`TrainableMethod`)
    learned: ClassVar[bool] = False
    #: False for methods that ignore the PSF/SRF (the tiling engine then skips estimation).
    uses_degradation: ClassVar[bool] = True

    @classmethod
    def default_weights(cls) -> str:
        """Short description of the weights a default instance loads (``"none"`` for methods
        that do not learn)."""
        return "none"

    def __init__(self, config: MethodConfig | dict | None = None, **overrides: Any):
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = self.Config(**config)
        self.config = config.model_copy(update=overrides) if overrides else config
        if overrides:
            self.config = self.Config(**self.config.model_dump())  # re-validate

    def fuse(self, inputs: FusionInputs) -> FusionResult:
        """Fuse one pair. Only a :class:`FusionInputs` is accepted (never a reference)."""
        if not isinstance(inputs, FusionInputs):
            raise TypeError(
                f"{self.name}.fuse takes a FusionInputs (LR-HSI, HR-MSI, optional PSF/SRF); got "
                f"{type(inputs).__name__}. Methods never receive the reference image."
            )
        t0 = time.perf_counter()
        result = self._fuse(inputs)
        result.hr_hsi = np.asarray(result.hr_hsi, dtype=np.float32)
        expected = (inputs.lr_hsi.shape[0], *inputs.hr_msi.shape[1:])
        if result.hr_hsi.shape != expected:
            raise RuntimeError(
                f"method {self.name} returned shape {result.hr_hsi.shape}; expected {expected}"
            )
        result.info.setdefault("fuse_seconds", time.perf_counter() - t0)
        result.info.setdefault("config", self.config.model_dump(mode="json"))
        return result

    @abstractmethod
    def _fuse(self, inputs: FusionInputs) -> FusionResult: ...


class TrainableMethod(FusionMethod):
    """A method with learned weights: ``fit`` on inputs only, ``save``/``load`` a checkpoint."""

    learned: ClassVar[bool] = True

    @abstractmethod
    def fit(self, training_inputs: list[FusionInputs], **kwargs: Any) -> dict[str, Any]: ...

    @abstractmethod
    def save(self, path: str | Path) -> None: ...

    @abstractmethod
    def load(self, path: str | Path) -> None: ...


_REGISTRY: dict[str, type[FusionMethod]] = {}

@dataclass(frozen=True)
class BuiltinMethod:
    """Where a built-in method lives and what ``mossfuse methods`` says of it, known without
    importing its module (tested equal to the class attributes)."""

    target: str  #: ``"module:Class"``
    description: str
    learned: bool
    uses_degradation: bool


#: built-in methods by name; a method's module is imported only when that method is asked for
#: (start-up: ``bicubic`` must not pay for torch, ``gsa`` for the networks)
BUILTIN_METHODS: dict[str, BuiltinMethod] = {
    "bicubic": BuiltinMethod(
        "mossfuse.methods.bicubic:Bicubic",
        "Bicubic upsampling of the LR-HSI (OpenCV convention); ignores the HR-MSI: the baseline",
        learned=False, uses_degradation=False),
    "cnmf": BuiltinMethod(
        "mossfuse.methods.cnmf:CNMF",
        "Coupled NMF unmixing (Yokoya et al. 2012), multiplicative updates",
        learned=False, uses_degradation=True),
    "gsa": BuiltinMethod(
        "mossfuse.methods.gsa:GSA",
        "GSA component substitution (Aiazzi et al. 2007), one regression per MSI band",
        learned=False, uses_degradation=True),
    "hysure": BuiltinMethod(
        "mossfuse.methods.hysure:HySure",
        "HySure (Simoes et al. 2015): subspace + vector total variation, solved by ADMM",
        learned=False, uses_degradation=True),
    "mossfuse": BuiltinMethod(
        "mossfuse.methods.mossfuse.method:MossFuse",
        "MossFuse (Du et al.): self-supervised modality-decoupling network; learns its own "
        "PSF/SRF", learned=True, uses_degradation=False),
    "scalmu": BuiltinMethod(
        "mossfuse.methods.scalmu.method:Scalmu",
        "SCALMU: unrolled coupled NMF with learned multiplicative updates, trained on "
        "synthetic pairs", learned=True, uses_degradation=True),
}


def register_method(cls: type[FusionMethod]) -> type[FusionMethod]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available_methods() -> list[str]:
    """Names of the registered methods (built-in and :func:`register_method`-ed); imports
    nothing."""
    return sorted(set(BUILTIN_METHODS) | set(_REGISTRY))


def method_class(name: str) -> type[FusionMethod]:
    """The class of a registered method, importing only its own module."""
    if name not in _REGISTRY and name in BUILTIN_METHODS:
        import importlib

        module, _, attr = BUILTIN_METHODS[name].target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        _REGISTRY.setdefault(name, cls)
    if name not in _REGISTRY:
        raise MossfuseInputError(f"unknown method '{name}'; available: {available_methods()}")
    return _REGISTRY[name]


def get_method(name: str, config: MethodConfig | dict | None = None, **overrides) -> FusionMethod:
    """Instantiate a registered method by name (imports only that method's module)."""
    return method_class(name)(config, **overrides)


def load_method(
    name: str, config: MethodConfig | dict | None = None, weights: str | Path | None = None
) -> FusionMethod:
    """:func:`get_method`, then load a checkpoint into it when ``weights`` is given (only for
    methods that learn)."""
    method = get_method(name, config)
    if weights is not None:
        if not isinstance(method, TrainableMethod):
            raise MossfuseInputError(f"method '{name}' has no weights to load (got {weights})")
        method.load(weights)
    return method


def method_summaries() -> list[dict[str, Any]]:
    """One dict per registered method, sorted by name, for ``mossfuse methods``: ``name``,
    ``description`` (one line), ``learned``, ``uses_degradation`` and ``weights`` (short: what
    a default instance loads; ``"none"`` for methods that do not learn).

    Built-in methods that do not learn are described without importing their modules (no
    torch); learned ones import their module to look up their shipped weights.

    >>> [s["name"] for s in method_summaries() if not s["learned"]][:2]
    ['bicubic', 'cnmf']
    """
    rows = []
    for name in available_methods():
        entry = BUILTIN_METHODS.get(name) if name not in _REGISTRY else None
        if entry is not None and not entry.learned:
            rows.append({"name": name, "description": entry.description, "learned": False,
                         "uses_degradation": entry.uses_degradation, "weights": "none"})
            continue
        cls = method_class(name)
        rows.append({"name": name, "description": cls.description or (cls.__doc__ or "")
                     .strip().split("\n")[0], "learned": bool(cls.learned),
                     "uses_degradation": bool(cls.uses_degradation),
                     "weights": cls.default_weights() if cls.learned else "none"})
    return rows
