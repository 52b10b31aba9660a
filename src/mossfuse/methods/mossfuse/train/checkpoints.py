"""Checkpoints and model files: weights (BatchNorm statistics included), both optimiser states,
the step and the torch RNG state; every ``.safetensors``/``.json`` pair loads with
:meth:`MossFuse.load <mossfuse.methods.mossfuse.method.MossFuse.load>`. Written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mossfuse._atomic import atomic_path
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.degradation import DegradationModule
from mossfuse.methods.mossfuse.network import MossFuseNet, count_parameters
from mossfuse.methods.mossfuse.train.config import CHECKPOINT_FORMAT, TRAINING_FORMAT, TrainConfig
from mossfuse.methods.mossfuse.train.step import (
    TrainState,
)


def _weights(net: MossFuseNet, deg: DegradationModule) -> dict[str, torch.Tensor]:
    t = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    t.update({f"degradation.{k}": v.detach().cpu().contiguous()
              for k, v in deg.state_dict().items()})
    return t


def _model_doc(cfg: MossFuseConfig, net: MossFuseNet, deg: DegradationModule) -> dict[str, Any]:
    counts = count_parameters(net, deg)
    return {
        "method": "mossfuse",
        "format_version": CHECKPOINT_FORMAT,
        "trained": True,
        "config": cfg.model_dump(mode="json"),
        "parameters": {"total": counts.total, "inference": counts.inference},
    }


def save_model(path: Path, state: TrainState, extra: dict[str, Any] | None = None) -> None:
    """``path.safetensors`` + ``path.json`` in :meth:`MossFuse.save`'s format (loadable by
    :meth:`MossFuse.load`); ``extra`` is added to the JSON."""
    doc = _model_doc(state.cfg, state.net, state.degradation)
    doc.update(extra or {})
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(_weights(state.net, state.degradation), str(tmp),
                  metadata={"method": "mossfuse"})
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))


def _optim_flat(prefix: str, opt: torch.optim.Optimizer
                ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    groups = json.loads(json.dumps(sd["param_groups"], default=list))
    return tensors, {"param_groups": groups, "scalars": scalars}


def _optim_load(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                doc: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[name] = v
    for key, v in doc["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    groups = doc["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(ckpt_dir: Path, state: TrainState, tc: TrainConfig,
                    extra: dict[str, Any]) -> Path:
    """Write ``ckpt_<step>`` (weights, optimiser/RNG tensors, JSON) and then point
    ``latest.json`` at it: an interruption leaves the previous checkpoint current."""
    stem = ckpt_dir / f"ckpt_{state.steps:08d}"
    t_net, d_net = _optim_flat("opt_net", state.opt_net)
    t_deg, d_deg = _optim_flat("opt_degradation", state.opt_degradation)
    train_tensors = {**t_net, **t_deg, "rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        train_tensors["rng.cuda"] = torch.cuda.get_rng_state()
    with atomic_path(stem.with_suffix(".train.safetensors")) as tmp:
        save_file(train_tensors, str(tmp))
    training = {
        "format_version": TRAINING_FORMAT,
        "step": state.steps,
        "train_config": tc.model_dump(mode="json"),
        "opt_net": d_net,
        "opt_degradation": d_deg,
        "world_size": state.world_size,
        **extra,
    }
    save_model(stem, state, {"training": training})
    with atomic_path(ckpt_dir / "latest.json") as tmp:
        tmp.write_text(json.dumps({"checkpoint": stem.name, "step": state.steps}))
    return stem


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The stem of the newest complete checkpoint of a run folder, or None."""
    pointer = Path(out_dir) / "checkpoints" / "latest.json"
    if not pointer.is_file():
        return None
    stem = pointer.parent / json.loads(pointer.read_text())["checkpoint"]
    for suffix in (".safetensors", ".json", ".train.safetensors"):
        if not stem.with_suffix(suffix).is_file():
            raise MossfuseInputError("checkpoint file missing", stem.with_suffix(suffix))
    return stem


def load_checkpoint(stem: Path, state: TrainState) -> dict[str, Any]:
    """Restore weights, both optimiser states and the torch RNG from ``stem``; returns the
    ``training`` section of its JSON."""
    doc = json.loads(stem.with_suffix(".json").read_text())
    weights = load_file(str(stem.with_suffix(".safetensors")))
    state.net.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("net.")})
    state.degradation.load_state_dict(
        {k[12:]: v for k, v in weights.items() if k.startswith("degradation.")}
    )
    tr = load_file(str(stem.with_suffix(".train.safetensors")))
    training = doc["training"]
    _optim_load("opt_net", state.opt_net, tr, training["opt_net"])
    _optim_load("opt_degradation", state.opt_degradation, tr, training["opt_degradation"])
    torch.set_rng_state(tr["rng.torch"])
    if "rng.cuda" in tr and torch.cuda.is_available():
        torch.cuda.set_rng_state(tr["rng.cuda"])
    state.steps = int(training["step"])
    return training
