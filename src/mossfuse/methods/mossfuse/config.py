"""Typed configuration of the MossFuse network, its degradation module, losses and inference.

Every place where the paper (Du et al., "Unsupervised Hyperspectral and Multispectral Image
Fusion via Self-Supervised Modality Decoupling", MossFuse) and the authors' released model
differ is an option here; the **defaults are the release's** (see
``shared/specs/mossfuse_architecture.md``):

=====================  ==========================  =============================================
option                 release (default)           paper / alternative
=====================  ==========================  =============================================
num_blocks             1                           4 (Fig. 2 draws four SWT blocks per stage)
shared_combination     ``"concat"`` (+ 1x1 conv)   ``"sum"`` (eq. 7: ``F_Y^S + F_x^S``)
fusion_topology        ``"cascade"`` (the spec)    ``"parallel"`` (public ``net.py``, see below)
lr_msi_decoder_swt     True                        False (spec text lists no SWT in D_y)
srf_constraint         ``"clamp"`` (paper 3.5)     ``"softplus"`` (release: none at all)
use_sct_loss           False                       True (paper eq. 11, weight alpha2 = 1)
=====================  ==========================  =============================================

``fusion_topology``: ``"cascade"`` is the spec's D_X,
``Phi_spe(Phi_spa(conv1x1(concat(S_Y, S_x)), C_Y), C_x)`` then ``num_blocks`` SWT, with its own
two aggregation blocks. ``"parallel"`` is what the authors' public ``net.py`` computes:
``conv1x1(concat(Phi_spa_Y(S_Y, C_Y), Phi_spe_x(S_x, C_x)))`` then ``num_blocks`` SWT, reusing the
aggregation blocks of D_Y and D_x. Both have the same number of parameters on the inference path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mossfuse.methods.base import MethodConfig

#: step cap of a per-scene adaptation bounded by ``adapt_seconds`` alone
ADAPT_MAX_STEPS = 100_000


class MossFuseConfig(MethodConfig):
    """Configuration of :class:`~mossfuse.methods.mossfuse.method.MossFuse`.

    Attributes:
        hsi_bands: ``B``, bands of the LR-HSI (and of the output).
        msi_bands: ``b``, bands of the HR-MSI.
        ratio: ``r``, HR / LR pixel ratio the degradation module is built for (PSF size).
        channels: feature width ``C`` (48; must be divisible by ``heads``).
        heads: attention heads (8, i.e. 6 channels per head at C = 48).
        num_blocks: SWT blocks after each embedding and before the D_X head (release 1). D_Y and
            D_x carry ``num_blocks - 1`` SWT after their aggregation block, D_y ``num_blocks``.
        ffn_expansion: gated FFN hidden width factor (hidden = 2C; the input 1x1 conv is C -> 4C).
        lk_kernel: DRB kernel of the "LK7" blocks (7; merged branches (5,1), (3,2), (3,3)).
        lk_ffn_factor: LK-CNN MLP width factor (4: C -> 4C -> C).
        layer_scale_init: LK-CNN layer scale initial value (1e-6).
        gate_hidden: hidden width of the spatial/channel gates (None = C // 8 = 6).
        shared_combination: how D_X and D_y combine the two shared features.
        fusion_topology: D_X composition (see module docstring).
        lr_msi_decoder_swt: whether D_y has ``num_blocks`` SWT after its 1x1 conv.
        psf_size: PSF taps per side (None = ``ratio - 1``; the centre is the middle tap).
        phase: HR index of the first LR sample (None = the PSF centre, the valid geometry of the
            ``mossfuse-x32``/``wald-x*`` protocols); an input's own ``phase`` takes precedence.
        psf_init_scale: initial ``M = s I`` of the precision factor (5 -> sigma 0.2 px).
        srf_constraint: non-negativity of the SRF (``clamp``: clamp in the forward pass and a
            projection after every optimiser step; ``softplus``: reparameterisation).
        degradation_model: ``gaussian`` (paper: anisotropic Gaussian PSF, constrained SRF) or
            ``free`` (ablation, Table 3: a free PSF kernel and a free 1x1 SRF convolution).
        use_sct_loss: add the self-supervised constraint loss L_SCT (paper) or not (release).
        sct_lr_target: how the HR-sized decoder outputs x_hat, y_hat meet their LR targets:
            ``upsample`` the targets bilinearly (as the LR-HSI is for its encoder) or
            ``degrade`` the outputs with the (detached) PSF.
        alpha_sc, alpha_sct, alpha_de: loss weights alpha1..alpha3 (0.1, 1, 1).
        lr, lr_degradation: Adam learning rates of the network and the degradation module
            (release: 9e-5 for both, effectively constant).
        inference_dtype: dtype of the fused inference path (``bfloat16`` halves the memory
            traffic; on CPUs without bf16 units it is slower).
        num_threads: torch intra-op threads during ``fuse`` (None = leave torch's setting).
        memory_limit_gb: memory guard of whole-image inference (None = 90 % of the memory
            available when ``fuse`` is called); larger images get a clear error advising tiles.
        adapt_steps: per-scene adaptation before ``fuse`` (0 = off): this many steps of the
            self-supervised training losses (those of training: L_MA, L_SC, L_DE, and L_SCT
            when ``use_sct_loss``; never a reference) on random crops of the pair being fused,
            starting from the loaded weights; the loaded weights themselves stay unchanged.
        adapt_crop: HR crop side of the adaptation (the release's training crop, 128; clipped
            to the image, rounded down to a multiple of r).
        adapt_batch_size: crops per adaptation step (the release's batch, 2).
        adapt_lr: Adam learning rate of the adaptation, network and degradation module
            (1e-5: from the official weights on ``face``, 4 steps at the release's 9e-5 lost
            1.0 dB, at 1e-5 gained 0.2 dB; see ``benchmarks/mossfuse_official``).
        adapt_seed: seed of the adaptation's crop order.
        adapt_batchnorm: ``frozen`` (BatchNorm keeps the loaded running statistics and uses
            them in the adaptation's forward passes, as at inference) or ``train`` (batch
            statistics, running statistics updated from the scene's crops, as in training).
        adapt_seconds: time budget of the adaptation (seconds of training, None = none): it
            stops after the step that reaches it, or after ``adapt_steps`` if that comes
            first; with ``adapt_steps = 0`` the budget alone bounds it (at most
            ``ADAPT_MAX_STEPS`` steps).
        adapt_autocast, adapt_channels_last: the adaptation's ``TrainConfig.autocast`` /
            ``channels_last`` (speed; see ``benchmarks/mossfuse_official/adapt_fast``:
            channels-last is ~6 % faster per step; bfloat16 autocast diverged from the
            official weights, NaN losses within 10 steps).
    """

    hsi_bands: int = Field(31, ge=1)
    msi_bands: int = Field(3, ge=1)
    ratio: int = Field(32, ge=2)

    channels: int = Field(48, ge=8)
    heads: int = Field(8, ge=1)
    num_blocks: int = Field(1, ge=1)
    ffn_expansion: float = Field(2.0, gt=0)
    lk_kernel: Literal[7] = 7
    lk_ffn_factor: int = Field(4, ge=1)
    layer_scale_init: float = 1e-6
    gate_hidden: int | None = None
    shared_combination: Literal["concat", "sum"] = "concat"
    fusion_topology: Literal["cascade", "parallel"] = "cascade"
    lr_msi_decoder_swt: bool = True

    psf_size: int | None = None
    phase: int | None = None
    psf_init_scale: float = Field(5.0, gt=0)
    srf_constraint: Literal["clamp", "softplus"] = "clamp"
    degradation_model: Literal["gaussian", "free"] = "gaussian"

    use_sct_loss: bool = False
    sct_lr_target: Literal["upsample", "degrade"] = "upsample"
    alpha_sc: float = 0.1
    alpha_sct: float = 1.0
    alpha_de: float = 1.0
    lr: float = 9e-5
    lr_degradation: float = 9e-5

    inference_dtype: Literal["float32", "bfloat16"] = "float32"
    num_threads: int | None = None
    memory_limit_gb: float | None = Field(None, gt=0)

    adapt_steps: int = Field(0, ge=0)
    adapt_seconds: float | None = Field(None, gt=0)
    adapt_crop: int = Field(128, ge=1)
    adapt_batch_size: int = Field(2, ge=1)
    adapt_lr: float = Field(1e-5, gt=0)
    adapt_seed: int = 0
    adapt_batchnorm: Literal["frozen", "train"] = "frozen"
    adapt_autocast: Literal["none", "bfloat16"] = "none"
    adapt_channels_last: bool = False

    @model_validator(mode="after")
    def _check(self) -> MossFuseConfig:
        if self.channels % self.heads:
            raise ValueError(
                f"channels ({self.channels}) must be divisible by heads ({self.heads})"
            )
        if self.psf_size is not None and self.psf_size < 1:
            raise ValueError(f"psf_size must be >= 1; got {self.psf_size}")
        if self.phase is not None and not 0 <= self.phase < self.ratio:
            raise ValueError(f"phase must be in [0, ratio={self.ratio}); got {self.phase}")
        return self

    @property
    def adapts(self) -> bool:
        """Whether ``fuse`` adapts the weights to the pair first (a step count or a time
        budget is set)."""
        return self.adapt_steps > 0 or self.adapt_seconds is not None

    @property
    def gate_width(self) -> int:
        """Hidden width of the spatial/channel gates (C // 8 = 6 by default)."""
        return self.gate_hidden if self.gate_hidden is not None else max(1, self.channels // 8)
