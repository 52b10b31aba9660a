"""Training MossFuse: crops, augmentation, schedules, checkpoints, validation, DDP.

Modules, by responsibility: :mod:`.config` (:class:`TrainConfig`, saved with every checkpoint;
recipes), :mod:`.sampling` (the crop sampler and the batcher, which see **only**
:class:`~mossfuse.data.scene.FusionInputs`), :mod:`.evaluation` (an evaluator that alone holds
references), :mod:`.schedule` (learning rates), :mod:`.checkpoints`, :mod:`.processes`
(``torch.distributed``), :mod:`.step` (one optimisation step, :func:`train_step`), :mod:`.loop`
(:func:`train` / :class:`Trainer`) and :mod:`.logs` (``train_log.jsonl``). Every public name is
importable from this package (lazily: importing it costs nothing until a name is used).

Two modes, one loop:

- ``"dataset"``: many LR-HSI/HR-MSI pairs (e.g. the CAVE training scenes simulated by a
  protocol); one model for all of them, as the paper trains.
- ``"single-scene"``: self-supervised fit on one user pair (MossFuse's losses need no
  reference), then fuse that pair.

Separation of the reference
---------------------------
:func:`train` takes a sequence of ``FusionInputs`` and an optional *evaluator*: a callable
that receives a ``fuse(inputs) -> (B, H, W) array`` function and returns metrics. The
evaluator (e.g. :class:`ReferenceEvaluator`) holds its (inputs, reference) pairs privately;
the trainer never receives a reference, and the batch code (:class:`PairBatcher`) keeps
nothing of an input but its LR-HSI, HR-MSI, ratio and phase (PSF/SRF are dropped: blind).

Determinism and resuming
------------------------
Which crop (scene, position, rotation, flip) global sample ``i`` is depends only on
``(seed, i)`` (:class:`CropSampler`), and the learning rates only on the step; step ``s``
uses samples ``[s N, (s + 1) N)`` of the global batch ``N``, rank ``k`` of ``W`` the slice
``[k N / W, (k + 1) N / W)``. A checkpoint holds the weights (BatchNorm statistics
included), both optimiser states, the step and the torch RNG state, so ``resume=True``
continues exactly (bit-identical with one thread on the same machine).

Files in ``out_dir``
--------------------
``train_config.json`` (model + training config), ``train_log.jsonl`` (one JSON object per
logged step: ``step``, the loss terms, ``lr``, ``lr_degradation``, ``psf_sigma``, ``seconds``,
``step_seconds``, and ``val_*`` metrics when computed), ``checkpoints/ckpt_<step>.{safetensors,
json,train.safetensors}`` with ``checkpoints/latest.json`` pointing at the newest complete one,
``best.{safetensors,json}`` (best validation PSNR) and ``model.{safetensors,json}`` at the end.
Every ``.safetensors``/``.json`` pair loads with :meth:`MossFuse.load
<mossfuse.methods.mossfuse.method.MossFuse.load>`. All files are written atomically.
"""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "latest_checkpoint": "mossfuse.methods.mossfuse.train.checkpoints",
    "load_checkpoint": "mossfuse.methods.mossfuse.train.checkpoints",
    "save_checkpoint": "mossfuse.methods.mossfuse.train.checkpoints",
    "save_model": "mossfuse.methods.mossfuse.train.checkpoints",
    "CHECKPOINT_FORMAT": "mossfuse.methods.mossfuse.train.config",
    "RECIPES": "mossfuse.methods.mossfuse.train.config",
    "TRAINING_FORMAT": "mossfuse.methods.mossfuse.train.config",
    "TrainConfig": "mossfuse.methods.mossfuse.train.config",
    "recipe": "mossfuse.methods.mossfuse.train.config",
    "Evaluator": "mossfuse.methods.mossfuse.train.evaluation",
    "FuseFn": "mossfuse.methods.mossfuse.train.evaluation",
    "ReferenceEvaluator": "mossfuse.methods.mossfuse.train.evaluation",
    "centre_crop_case": "mossfuse.methods.mossfuse.train.evaluation",
    "simulate_training_inputs": "mossfuse.methods.mossfuse.train.evaluation",
    "log_to_csv": "mossfuse.methods.mossfuse.train.logs",
    "read_log": "mossfuse.methods.mossfuse.train.logs",
    "TrainResult": "mossfuse.methods.mossfuse.train.loop",
    "Trainer": "mossfuse.methods.mossfuse.train.loop",
    "adapt_model_config": "mossfuse.methods.mossfuse.train.loop",
    "model_geometry": "mossfuse.methods.mossfuse.train.loop",
    "train": "mossfuse.methods.mossfuse.train.loop",
    "DistInfo": "mossfuse.methods.mossfuse.train.processes",
    "dist_info": "mossfuse.methods.mossfuse.train.processes",
    "free_port": "mossfuse.methods.mossfuse.train.processes",
    "init_distributed": "mossfuse.methods.mossfuse.train.processes",
    "run_local_processes": "mossfuse.methods.mossfuse.train.processes",
    "CropSampler": "mossfuse.methods.mossfuse.train.sampling",
    "CropSpec": "mossfuse.methods.mossfuse.train.sampling",
    "PairBatcher": "mossfuse.methods.mossfuse.train.sampling",
    "network_lr": "mossfuse.methods.mossfuse.train.schedule",
    "DistributedBatchNorm2d": "mossfuse.methods.mossfuse.train.step",
    "TrainState": "mossfuse.methods.mossfuse.train.step",
    "check_finite": "mossfuse.methods.mossfuse.train.step",
    "compute_losses": "mossfuse.methods.mossfuse.train.step",
    "degradation_step": "mossfuse.methods.mossfuse.train.step",
    "distributed_mossfuse_losses": "mossfuse.methods.mossfuse.train.step",
    "global_subspace_clustering_loss": "mossfuse.methods.mossfuse.train.step",
    "make_degradation": "mossfuse.methods.mossfuse.train.step",
    "sync_batchnorm": "mossfuse.methods.mossfuse.train.step",
    "train_step": "mossfuse.methods.mossfuse.train.step",
    "wrap_distributed": "mossfuse.methods.mossfuse.train.step",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
