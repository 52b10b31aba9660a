"""MossFuse: unsupervised HSI/MSI fusion by self-supervised modality decoupling.

Our implementation of Du et al., "Unsupervised Hyperspectral and Multispectral Image Fusion
via Self-Supervised Modality Decoupling" (the MossFuse paper), with the concrete settings of the
authors' released model as defaults (:class:`MossFuseConfig`).

Modules: :mod:`.config` (options, release defaults), :mod:`.blocks` (SWT, LK-CNN, aggregation
blocks), :mod:`.network` (encoders, decoders, parameter counts), :mod:`.inference` (fused fast
inference path), :mod:`.degradation` (learnable PSF/SRF), :mod:`.losses`, :mod:`.train`
(the training package: config, crops, validation, schedule, checkpoints, processes,
``train_step``, the loop), :mod:`.method` (the registered ``"mossfuse"`` method), :mod:`.official`
(importing the authors' released ``.pth``), :mod:`.weights` (which weights are used by default,
the user's weights folder, ``describe_weights``).
"""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "MossFuseConfig": "mossfuse.methods.mossfuse.config",
    "DegradationModule": "mossfuse.methods.mossfuse.degradation",
    "FusedMossFuse": "mossfuse.methods.mossfuse.inference",
    "LossTerms": "mossfuse.methods.mossfuse.losses",
    "mossfuse_losses": "mossfuse.methods.mossfuse.losses",
    "MossFuse": "mossfuse.methods.mossfuse.method",
    "MossFuseNet": "mossfuse.methods.mossfuse.network",
    "MossFuseOutputs": "mossfuse.methods.mossfuse.network",
    "ParameterCount": "mossfuse.methods.mossfuse.network",
    "count_parameters": "mossfuse.methods.mossfuse.network",
    "print_parameter_count": "mossfuse.methods.mossfuse.network",
    "ReferenceEvaluator": "mossfuse.methods.mossfuse.train.evaluation",
    "TrainConfig": "mossfuse.methods.mossfuse.train.config",
    "TrainResult": "mossfuse.methods.mossfuse.train.loop",
    "Trainer": "mossfuse.methods.mossfuse.train.loop",
    "TrainState": "mossfuse.methods.mossfuse.train.step",
    "make_degradation": "mossfuse.methods.mossfuse.train.step",
    "train_step": "mossfuse.methods.mossfuse.train.step",
    "describe_weights": "mossfuse.methods.mossfuse.weights",
    "import_official": "mossfuse.methods.mossfuse.weights",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "DegradationModule",
    "FusedMossFuse",
    "LossTerms",
    "MossFuse",
    "MossFuseConfig",
    "MossFuseNet",
    "MossFuseOutputs",
    "ParameterCount",
    "ReferenceEvaluator",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "Trainer",
    "count_parameters",
    "describe_weights",
    "import_official",
    "make_degradation",
    "mossfuse_losses",
    "print_parameter_count",
    "train_step",
]
