"""One optimisation step of MossFuse: all losses, two Adam optimisers (network, degradation).

The loop around it (crops, augmentation, schedules, checkpoints, validation, several processes)
is the rest of :mod:`mossfuse.methods.mossfuse.train`. This module pins the loss routing (see
:mod:`mossfuse.methods.mossfuse.losses`) and the pieces a step needs when it runs in several
processes with ``torch.distributed``:

- :class:`DistributedBatchNorm2d`: BatchNorm whose training statistics are those of the whole
  global batch (every rank's shard), on any device, gloo included (``nn.SyncBatchNorm`` is
  CUDA-only). :func:`sync_batchnorm` swaps it in.
- :func:`global_subspace_clustering_loss`: ``L_SC`` is a cosine of *whole flattened batch
  tensors*, which a per-shard mean would not reproduce; its dot products and norms are summed
  over the ranks first (a differentiable all-reduce), so every rank gets the global value.
- the degradation module is not wrapped by DDP: its gradients (a few numbers) are averaged by
  one all-reduce in :func:`train_step`.

With these, a step on ``W`` ranks each holding ``N / W`` crops equals (to float rounding) a
step of one process on the ``N`` crops; ``tests/methods/mossfuse/test_mossfuse_ddp.py`` pins it.

Convention (gradients under DDP)
--------------------------------
Every rank's loss is ``mean-over-its-shard terms + alpha1 L_SC(global)``. DDP averages the
parameter gradients over the ranks. The backward of the sum all-reduce is a sum all-reduce,
so the global terms reach each rank's parameters ``W`` times, and the average restores the
single-process gradient exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.degradation import DegradationModule
from mossfuse.methods.mossfuse.losses import (
    LossTerms,
    degradation_estimation_loss,
    mossfuse_losses,
    warm_start_loss,
)
from mossfuse.methods.mossfuse.network import MossFuseNet, MossFuseOutputs


@dataclass
class TrainState:
    """Network, degradation module and their optimisers.

    Attributes:
        net: the training-form network (never the DDP wrapper: checkpoints read it).
        degradation: the learnable PSF/SRF.
        opt_net, opt_degradation: their optimisers.
        cfg: the model config (loss weights, ``use_sct_loss``).
        steps: optimiser steps taken (degradation-only warm-up steps included).
        ddp: the ``DistributedDataParallel`` wrapper of ``net`` when several processes train
            (set by :func:`wrap_distributed`), else None.
        group: the process group of a distributed run (None: the default group).
        world_size: number of processes sharing each global batch (1: single process).
    """

    net: MossFuseNet
    degradation: DegradationModule
    opt_net: torch.optim.Optimizer
    opt_degradation: torch.optim.Optimizer
    cfg: MossFuseConfig
    steps: int = 0
    ddp: nn.Module | None = None
    group: Any = None
    world_size: int = 1

    @classmethod
    def create(
        cls, cfg: MossFuseConfig, net: MossFuseNet | None = None,
        degradation: DegradationModule | None = None, *,
        optimizer: Literal["adam", "adamw"] = "adam",
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        weight_decay: float = 0.0, lr: float | None = None, lr_degradation: float | None = None,
    ) -> TrainState:
        """Build (or adopt) the modules and their optimisers.

        Defaults are the paper's Adam (betas 0.9/0.999, eps 1e-8, no weight decay) at the
        config's learning rates; ``weight_decay`` applies to the network only.
        """
        net = net if net is not None else MossFuseNet(cfg)
        degradation = degradation if degradation is not None else make_degradation(cfg)
        opt_cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
        return cls(
            net, degradation,
            opt_cls(net.parameters(), lr=cfg.lr if lr is None else lr, betas=betas, eps=eps,
                    weight_decay=weight_decay),
            opt_cls(degradation.parameters(),
                    lr=cfg.lr_degradation if lr_degradation is None else lr_degradation,
                    betas=betas, eps=eps, weight_decay=0.0),
            cfg,
        )

    @property
    def distributed(self) -> bool:
        """Whether the step runs over several processes."""
        return self.world_size > 1

    def set_lr(self, lr_net: float, lr_degradation: float) -> None:
        """Set the learning rate of every parameter group of both optimisers."""
        for g in self.opt_net.param_groups:
            g["lr"] = lr_net
        for g in self.opt_degradation.param_groups:
            g["lr"] = lr_degradation


def make_degradation(cfg: MossFuseConfig) -> DegradationModule:
    """The degradation module a config describes."""
    return DegradationModule(
        cfg.hsi_bands, cfg.msi_bands, cfg.ratio, psf_size=cfg.psf_size, phase=cfg.phase,
        srf_constraint=cfg.srf_constraint, psf_init_scale=cfg.psf_init_scale,
        model=cfg.degradation_model,
    )


# --------------------------------------------------------------------------------------------
# Distributed pieces
# --------------------------------------------------------------------------------------------
class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks; the gradient of a sum all-reduce is a sum all-reduce."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        out = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _AllReduceSum.apply(grad, ctx.group), None


def _all_reduce_sum(t: torch.Tensor, group: Any) -> torch.Tensor:
    """Differentiable sum of ``t`` over the ranks of ``group``."""
    return _AllReduceSum.apply(t, group)


def _active_world(group: Any) -> int:
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


class DistributedBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training-mode statistics cover the global batch of all ranks.

    Same parameters and buffers (state-dict compatible); outside training, or with one
    process, it *is* ``nn.BatchNorm2d``. Mean and biased variance are computed in two
    all-reduced passes (sum, then sum of squared deviations: no cancellation); the running
    variance uses the unbiased global variance as ``nn.BatchNorm2d`` does. Works with gloo
    (CPU) and NCCL.
    """

    process_group: Any = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or _active_world(self.process_group) == 1:
            return super().forward(x)
        c = x.shape[1]
        count = torch.full((1,), x.numel() // c, dtype=x.dtype, device=x.device)
        total = _all_reduce_sum(torch.cat([x.sum(dim=(0, 2, 3)), count]), self.process_group)
        n = total[c]
        mean = total[:c] / n
        dev = x - mean.view(1, c, 1, 1)
        var = _all_reduce_sum((dev * dev).sum(dim=(0, 2, 3)), self.process_group) / n
        y = dev * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                     else self.momentum)
                unbiased = var.detach() * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        return y


def sync_batchnorm(module: nn.Module, group: Any = None) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` of ``module`` (in place) by a
    :class:`DistributedBatchNorm2d` sharing its parameters and buffers; returns ``module``."""
    for name, child in list(module.named_children()):
        if type(child) is nn.BatchNorm2d:
            new = DistributedBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine,
                child.track_running_stats, device=child.weight.device if child.affine else None,
            )
            new.load_state_dict(child.state_dict())
            if child.affine:  # keep the very Parameter objects (optimisers hold them)
                new.weight, new.bias = child.weight, child.bias
            new.process_group = group
            new.train(child.training)
            setattr(module, name, new)
        else:
            sync_batchnorm(child, group)
    return module


def wrap_distributed(
    state: TrainState, *, device_ids: list[int] | None = None, group: Any = None
) -> TrainState:
    """Prepare ``state`` for a multi-process step (``torch.distributed`` must be initialised):
    global BatchNorm statistics (:func:`sync_batchnorm`, before the optimiser first steps),
    the network wrapped in ``DistributedDataParallel`` (which broadcasts rank 0's weights),
    and rank 0's degradation parameters broadcast to all. A no-op with one process."""
    world = _active_world(group)
    state.world_size, state.group = world, group
    if world == 1:
        return state
    from torch.nn.parallel import DistributedDataParallel

    sync_batchnorm(state.net, group)
    # L_SCT's decoders are unused without it: DDP must know (find_unused_parameters).
    # BatchNorm buffers are identical on every rank (global statistics): no per-forward sync
    import inspect

    sync_kw = ({"forward_sync_buffers": False}
               if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
               else {"broadcast_buffers": False})
    state.ddp = DistributedDataParallel(
        state.net, device_ids=device_ids, process_group=group,
        find_unused_parameters=not state.cfg.use_sct_loss, **sync_kw,
    )
    with torch.no_grad():
        for p in state.degradation.parameters():
            dist.broadcast(p, src=_global_rank0(group), group=group)
    return state


def _global_rank0(group: Any) -> int:
    return 0 if group is None else dist.get_global_rank(group, 0)


def global_subspace_clustering_loss(
    shared_msi: torch.Tensor, comp_msi: torch.Tensor, shared_hsi: torch.Tensor,
    comp_hsi: torch.Tensor, group: Any = None, eps: float = 1e-8,
) -> torch.Tensor:
    """``L_SC`` (eq. 8) of the *global* batch whose shards the ranks hold.

    The four dot products and four squared norms of the flattened features are summed over
    the ranks (one differentiable all-reduce of 8 numbers); each cosine is then
    ``<a, b> / max(|a| |b|, eps)``. With one process this equals
    :func:`~mossfuse.methods.mossfuse.losses.subspace_clustering_loss` to float rounding.
    """
    s_y, c_y, s_x, c_x = (t.reshape(-1) for t in (shared_msi, comp_msi, shared_hsi, comp_hsi))
    parts = torch.stack([
        s_y @ s_x, s_y @ c_y, s_x @ c_x, c_y @ c_x, s_y @ s_y, c_y @ c_y, s_x @ s_x, c_x @ c_x,
    ])
    if _active_world(group) > 1:
        parts = _all_reduce_sum(parts, group)
    n_sy, n_cy, n_sx, n_cx = parts[4:].sqrt()

    def cos(dot: torch.Tensor, na: torch.Tensor, nb: torch.Tensor) -> torch.Tensor:
        return dot / (na * nb).clamp(min=eps)

    c_ss = cos(parts[0], n_sy, n_sx)
    sims = torch.stack([c_ss, cos(parts[1], n_sy, n_cy), cos(parts[2], n_sx, n_cx),
                        cos(parts[3], n_cy, n_cx)])
    return torch.logsumexp(sims, dim=0) - c_ss


def distributed_mossfuse_losses(
    out: MossFuseOutputs, hr_msi: torch.Tensor, lr_hsi: torch.Tensor, deg: DegradationModule,
    cfg: MossFuseConfig, group: Any = None,
) -> LossTerms:
    """:func:`~mossfuse.methods.mossfuse.losses.mossfuse_losses` for one rank's shard: the
    L1 terms are shard means (DDP's gradient average makes them global means), ``L_SC`` is
    the global one (:func:`global_subspace_clustering_loss`). Same routing and weights."""
    sc = global_subspace_clustering_loss(
        out.shared_msi, out.comp_msi, out.shared_hsi, out.comp_hsi, group
    )
    return mossfuse_losses(out, hr_msi, lr_hsi, deg, cfg, sc=sc)


def _average_over_ranks(values: dict[str, float], state: TrainState) -> dict[str, float]:
    """Mean of each logged value over the ranks (= the global-batch value for the L1
    means with equal shards; ``L_SC`` is already global)."""
    if not state.distributed:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t, group=state.group)
    t /= state.world_size
    return {k: float(v) for k, v in zip(keys, t.tolist(), strict=True)}


def _average_gradients(module: nn.Module, state: TrainState) -> None:
    """All-reduce-average the gradients of a module not wrapped by DDP (the degradation)."""
    if not state.distributed:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, group=state.group)
    flat /= state.world_size
    i = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[i : i + n].view_as(p.grad))
        i += n


# --------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------
def compute_losses(
    state: TrainState, hr_msi: torch.Tensor, lr_hsi: torch.Tensor, *,
    autocast: str = "none", warm_target: torch.Tensor | None = None,
    warm_weight: float = 0.0,
) -> LossTerms:
    """Forward pass (train mode) and every loss term, without stepping (through the DDP
    wrapper and with the global ``L_SC`` when several processes train).

    ``autocast="bfloat16"`` runs the network's forward pass under ``torch.autocast`` (its
    outputs are cast back to float32 before any loss). ``warm_target`` (``(N, B, H, W)``, a
    classical fusion of the same inputs) adds ``warm_weight * |X_hat - G|_1`` to the
    network's loss.
    """
    state.net.train()
    module = state.ddp if state.ddp is not None else state.net
    ctx = (torch.autocast(hr_msi.device.type, dtype=torch.bfloat16) if autocast == "bfloat16"
           else contextlib.nullcontext())
    with ctx:
        out = module(hr_msi, lr_hsi, reconstructions=state.cfg.use_sct_loss)
    if autocast != "none":
        out = dataclasses.replace(out, **{
            f.name: getattr(out, f.name).float() for f in dataclasses.fields(out)
            if getattr(out, f.name) is not None
        })
    if state.distributed:
        terms = distributed_mossfuse_losses(
            out, hr_msi, lr_hsi, state.degradation, state.cfg, state.group
        )
    else:
        terms = mossfuse_losses(out, hr_msi, lr_hsi, state.degradation, state.cfg)
    if warm_target is not None and warm_weight > 0:
        warm = warm_start_loss(out.fused, warm_target)
        terms = dataclasses.replace(terms, warm=warm, network=terms.network + warm_weight * warm)
    return terms


def degradation_step(state: TrainState, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """A degradation-only step: ``alpha3 L_DE`` on the batch, the network untouched (no
    forward pass: ``L_DE`` needs only the inputs, so it costs almost nothing). Returns
    ``{"de", "degradation"}``."""
    hr_msi, lr_hsi = batch["hr_msi"], batch["lr_hsi"]
    state.opt_degradation.zero_grad(set_to_none=True)
    de = degradation_estimation_loss(hr_msi, lr_hsi, state.degradation)
    weighted = state.cfg.alpha_de * de
    weighted.backward()
    _average_gradients(state.degradation, state)
    state.opt_degradation.step()
    state.degradation.project_()
    state.steps += 1
    return _average_over_ranks(
        {"de": float(de.detach()), "degradation": float(weighted.detach())}, state
    )


def train_step(
    state: TrainState, batch: dict[str, torch.Tensor], *, update_degradation: bool = True,
    grad_clip_norm: float | None = None, autocast: str = "none", warm_weight: float = 0.0,
) -> dict[str, float]:
    """One step on ``batch = {"hr_msi": (N, b, H, W), "lr_hsi": (N, B, h, w)}``.

    Zeroes both optimisers, back-propagates the total once (the detaches in :mod:`.losses`
    route ``L_DE`` to the degradation module and the rest to the network), steps both, then
    projects the SRF (clamp mode). Returns the loss values as floats (averaged over the ranks
    when distributed: the global-batch values).

    Args:
        update_degradation: False holds the degradation module fixed (``L_DE`` is still
            computed and returned).
        grad_clip_norm: clip the network's gradient norm to this value (None: no clipping).
        autocast, warm_weight: see :func:`compute_losses` (the warm-start target is
            ``batch["warm_target"]`` when present).
    """
    hr_msi, lr_hsi = batch["hr_msi"], batch["lr_hsi"]
    state.opt_net.zero_grad(set_to_none=True)
    state.opt_degradation.zero_grad(set_to_none=True)
    terms = compute_losses(state, hr_msi, lr_hsi, autocast=autocast,
                           warm_target=batch.get("warm_target"), warm_weight=warm_weight)
    terms.total.backward()
    if grad_clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(state.net.parameters(), grad_clip_norm)
    state.opt_net.step()
    if update_degradation:
        _average_gradients(state.degradation, state)
        state.opt_degradation.step()
        state.degradation.project_()
    state.steps += 1
    return _average_over_ranks(terms.as_floats(), state)


def check_finite(values: dict[str, float], step: int) -> None:
    """Raise ``FloatingPointError`` naming the non-finite loss terms of ``step``."""
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        raise FloatingPointError(
            f"non-finite loss terms at step {step}: {bad}; lower the learning rate or clip "
            "gradients (grad_clip_norm)"
        )
