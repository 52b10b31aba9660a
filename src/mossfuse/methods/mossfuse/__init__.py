"""MossFuse: unsupervised HSI/MSI fusion by self-supervised modality decoupling.

Our implementation of Du et al., "Unsupervised Hyperspectral and Multispectral Image Fusion
via Self-Supervised Modality Decoupling" (the MossFuse paper), with the concrete settings of the
authors' released model as defaults (:class:`MossFuseConfig`).

Modules: :mod:`.config` (options, release defaults), :mod:`.blocks` (SWT, LK-CNN, aggregation
blocks), :mod:`.network` (encoders, decoders, parameter counts), :mod:`.inference` (fused fast
inference path), :mod:`.degradation` (learnable PSF/SRF), :mod:`.losses`, :mod:`.training`
(``train_step``), :mod:`.method` (the registered ``"mossfuse"`` method), :mod:`.official`
(importing the authors' released ``.pth``), :mod:`.weights` (which weights are used by default,
the user's weights folder, ``describe_weights``).
"""

from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.degradation import DegradationModule
from mossfuse.methods.mossfuse.inference import FusedMossFuse
from mossfuse.methods.mossfuse.losses import LossTerms, mossfuse_losses
from mossfuse.methods.mossfuse.method import MossFuse
from mossfuse.methods.mossfuse.network import (
    MossFuseNet,
    MossFuseOutputs,
    ParameterCount,
    count_parameters,
    print_parameter_count,
)
from mossfuse.methods.mossfuse.training import TrainState, make_degradation, train_step
from mossfuse.methods.mossfuse.weights import describe_weights, import_official

__all__ = [
    "DegradationModule", "FusedMossFuse", "LossTerms", "MossFuse", "MossFuseConfig",
    "MossFuseNet", "MossFuseOutputs", "ParameterCount", "TrainState", "count_parameters",
    "describe_weights", "import_official", "make_degradation", "mossfuse_losses",
    "print_parameter_count", "train_step",
]
