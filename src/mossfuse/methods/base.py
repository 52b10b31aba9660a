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
    #: False for methods that ignore the PSF/SRF (the tiling engine then skips estimation).
    uses_degradation: ClassVar[bool] = True

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

    @abstractmethod
    def fit(self, training_inputs: list[FusionInputs], **kwargs: Any) -> dict[str, Any]: ...

    @abstractmethod
    def save(self, path: str | Path) -> None: ...

    @abstractmethod
    def load(self, path: str | Path) -> None: ...


_REGISTRY: dict[str, type[FusionMethod]] = {}

#: built-in methods by name -> ``"module:Class"``; a method's module is imported only when that
#: method is asked for (start-up: ``bicubic`` must not pay for torch, ``gsa`` for the networks)
BUILTIN_METHODS: dict[str, str] = {
    "bicubic": "mossfuse.methods.bicubic:Bicubic",
    "cnmf": "mossfuse.methods.cnmf:CNMF",
    "gsa": "mossfuse.methods.gsa:GSA",
    "hysure": "mossfuse.methods.hysure:HySure",
    "mossfuse": "mossfuse.methods.mossfuse.method:MossFuse",
    "scalmu": "mossfuse.methods.scalmu.method:Scalmu",
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

        module, _, attr = BUILTIN_METHODS[name].partition(":")
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
