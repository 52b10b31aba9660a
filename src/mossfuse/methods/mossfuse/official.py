"""Import the MossFuse authors' released checkpoint (``CAVE_32_model.pth``) into our network.

The authors' file (github.com/dusongcheng/MossFuse, ``model/CAVE_32_model.pth``) is a torch
pickle of ``{"Model_stage1": state_dict}`` whose keys carry the ``module.`` prefix of
``DataParallel``. It is read with ``torch.load(weights_only=True)`` only: torch's restricted
unpickler, which builds tensors and plain containers and refuses any other object, so a file
whose pickle would run code is rejected without running it (:class:`MossfuseInputError`).

Tensors are mapped **by name** (:func:`translate_key`), never by position:

==========================================  ==============================================
authors' name (after ``module.``)           ours
==========================================  ==============================================
``modelE_MSI`` / ``modelE_HSI``             ``net.encoder_msi`` / ``net.encoder_hsi``
``  .patch_embed.proj``                     ``  .embed``
``  .encoder_level1.i``                     ``  .base.i``
``  .baseFeature.i`` / ``.detailFeature``   ``  .shared.i`` / ``.complementary(.0)``
``modelD_MSI.fuse`` / ``modelD_HSI.fuse``   ``net.decoder_msi.aggregate`` / ``decoder_hsi``
``modelD_LR.reduce_channel``                ``net.decoder_lr_msi.combine.reduce``
``modelD_HR.fuse`` / ``fuse1`` / ``fuse2``  ``net.decoder_fused.combine.reduce`` /
                                            ``spatial`` / ``spectral``
``*.encoder_level2.i``, ``*.output.0/2``    ``*.blocks.i``, ``*.head.conv1/2``
``norm1.body``, ``attn.qkv``                ``norm1``, ``attn.qkv.qkv``
``Spatial_Att.spatial_atten.0/2/4``         ``spatial_gate.conv1/2/3``
``Spectral_Att.spectral_atten.0/2/4``       ``channel_gate.fc1/2/3``; ``DWConv`` -> ``y_conv``
``dwconv.dil_conv_k5_1`` / ``dil_bn_k5_1``  ``dwconv.branches.i`` / ``branch_bns.i`` (i from
                                            the (kernel, dilation) pair, not the position)
``pwconv1.1``, ``act.1``, ``pwconv2.0/2``   ``pwconv1``, ``grn`` (``(1,1,1,C)`` -> ``(C,)``),
                                            ``pwconv2``, ``out_bn``
``blind.srf`` ``(b, B, 1, 1)``              ``degradation.srf_param`` ``(b, B)``
``blind.blur_down.KernelParam``             ``degradation.psf_factor`` (see below)
==========================================  ==============================================

``modelD_MSI.reduce_channel`` and ``modelD_HSI.reduce_channel`` are created but never used by
the authors' forward pass: exactly these two are ignored. Any other key without a counterpart,
any of ours left missing, or a shape that does not fit is one error naming the keys.

Convention (PSF): the authors' ``kernel_generator`` builds ``exp(-z^T M^T M z / 2)`` with
``z = (row, col)`` offsets (``torch.meshgrid`` "ij"); ours uses ``(x, y) = (col, row)``. The
precision is therefore swapped to ``S P S`` (S exchanges the axes) and re-factored into our
lower-triangular ``M`` (exact: the kernel is the same; tested). The SRF is copied as is; the
release does not constrain it (its learned SRF has entries down to about -1e-3), our
``clamp`` constraint zeroes those in the forward pass (only the training losses see the SRF).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from mossfuse.errors import MossfuseInputError
from mossfuse.methods.mossfuse.blocks import DRB_BRANCHES
from mossfuse.methods.mossfuse.config import MossFuseConfig

#: keys (without ``module.``) of the release that its forward pass never uses
IGNORED_KEYS = frozenset({"modelD_MSI.reduce_channel.weight", "modelD_HSI.reduce_channel.weight"})
STATE_KEY = "Model_stage1"
PREFIX = "module."
#: file suffixes read as torch checkpoints (anything else: our safetensors format)
TORCH_SUFFIXES = (".pth", ".pt")
_BRANCH_INDEX = {kd: i for i, kd in enumerate(DRB_BRANCHES[7])}
_SHOW = 5  # keys listed per kind in an error message

_TOP = {
    "modelE_MSI": "net.encoder_msi", "modelE_HSI": "net.encoder_hsi",
    "modelD_MSI": "net.decoder_msi", "modelD_HSI": "net.decoder_hsi",
    "modelD_LR": "net.decoder_lr_msi", "modelD_HR": "net.decoder_fused",
    "blind": "degradation",
}
# (pattern, replacement) applied in order, each once, to the key after the top-level rename
_RULES: list[tuple[str, str]] = [
    (r"^(net\.encoder_(?:msi|hsi))\.patch_embed\.proj\.", r"\1.embed."),
    (r"^(net\.encoder_(?:msi|hsi))\.encoder_level1\.", r"\1.base."),
    (r"^(net\.encoder_(?:msi|hsi))\.baseFeature\.", r"\1.shared."),
    (r"^(net\.encoder_msi)\.detailFeature\.(\d+)\.", r"\1.complementary.\2."),
    (r"^(net\.encoder_hsi)\.detailFeature\.", r"\1.complementary.0."),
    (r"^(net\.decoder_(?:msi|hsi))\.fuse\.", r"\1.aggregate."),
    (r"^(net\.decoder_lr_msi)\.reduce_channel\.", r"\1.combine.reduce."),
    (r"^(net\.decoder_fused)\.fuse\.", r"\1.combine.reduce."),
    (r"^(net\.decoder_fused)\.fuse1\.", r"\1.spatial."),
    (r"^(net\.decoder_fused)\.fuse2\.", r"\1.spectral."),
    (r"\.encoder_level2\.(\d+)\.", r".blocks.\1."),
    (r"\.output\.0\.weight$", r".head.conv1.weight"),
    (r"\.output\.2\.weight$", r".head.conv2.weight"),
    (r"\.norm([12])\.body\.", r".norm\1."),
    (r"\.attn\.qkv\.weight$", r".attn.qkv.qkv.weight"),
    (r"\.attn\.qkv_dwconv\.weight$", r".attn.qkv.qkv_dwconv.weight"),
    (r"\.attn\.Spatial_Att\.spatial_atten\.0\.", r".attn.spatial_gate.conv1."),
    (r"\.attn\.Spatial_Att\.spatial_atten\.2\.", r".attn.spatial_gate.conv2."),
    (r"\.attn\.Spatial_Att\.spatial_atten\.4\.", r".attn.spatial_gate.conv3."),
    (r"\.attn\.Spectral_Att\.spectral_atten\.0\.", r".attn.channel_gate.fc1."),
    (r"\.attn\.Spectral_Att\.spectral_atten\.2\.", r".attn.channel_gate.fc2."),
    (r"\.attn\.Spectral_Att\.spectral_atten\.4\.", r".attn.channel_gate.fc3."),
    (r"\.attn\.DWConv\.", r".attn.y_conv."),
    (r"\.pwconv1\.1\.", r".pwconv1."),
    (r"\.act\.1\.(gamma|beta)$", r".grn.\1"),
    (r"\.pwconv2\.0\.", r".pwconv2."),
    (r"\.pwconv2\.2\.", r".out_bn."),
    (r"^degradation\.srf$", r"degradation.srf_param"),
    (r"^degradation\.blur_down\.KernelParam$", r"degradation.psf_factor"),
]
_RULES_C = [(re.compile(p), r) for p, r in _RULES]
_DIL = re.compile(r"\.dwconv\.dil_(conv|bn)_k(\d+)_(\d+)\.")


def is_torch_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` names a torch checkpoint (``.pth``/``.pt``) rather than ours."""
    return Path(path).suffix.lower() in TORCH_SUFFIXES


def translate_key(key: str) -> str | None:
    """Our state-dict name (``net.*`` / ``degradation.*``) of one of the authors' keys (without
    the ``module.`` prefix), or None when it has no counterpart."""
    top, _, rest = key.partition(".")
    if top not in _TOP or not rest:
        return None
    name = f"{_TOP[top]}.{rest}"
    for pat, rep in _RULES_C:
        name = pat.sub(rep, name, count=1)
    m = _DIL.search(name)
    if m:
        idx = _BRANCH_INDEX.get((int(m.group(2)), int(m.group(3))))
        if idx is None:
            return None
        kind = "branches" if m.group(1) == "conv" else "branch_bns"
        name = name[: m.start()] + f".dwconv.{kind}.{idx}." + name[m.end():]
    return name


def read_official_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The authors' state dict (``module.`` prefix removed) from a ``.pth`` file.

    Only ``torch.load(path, map_location="cpu", weights_only=True)`` reads the file; a pickle
    that asks for anything but tensors and plain containers is refused without being run.

    Raises:
        MossfuseInputError: missing/unreadable file, a refused pickle, or not the authors'
            ``{"Model_stage1": state_dict}`` layout.
    """
    p = Path(path)
    if not p.is_file():
        raise MossfuseInputError("checkpoint file not found", p)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (UnpicklingError, RuntimeError, EOFError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MossfuseInputError(
            "refused: not a plain tensor checkpoint readable with torch.load(weights_only=True) "
            f"(nothing in it was run): {first[:300]}", p,
        ) from None
    if isinstance(obj, dict) and STATE_KEY in obj:
        obj = obj[STATE_KEY]
    if not isinstance(obj, dict) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise MossfuseInputError(
            f"expected the MossFuse authors' checkpoint, a dict {{'{STATE_KEY}': state_dict}} "
            f"of tensors; got {type(obj).__name__}"
            + (f" with keys {sorted(map(str, obj))[:_SHOW]}" if isinstance(obj, dict) else ""),
            p,
        )
    return {k.removeprefix(PREFIX): v for k, v in obj.items()}


def official_architecture(state: dict[str, torch.Tensor], path: str | Path) -> dict[str, int]:
    """Widths of the checkpoint's network: ``hsi_bands``, ``msi_bands``, ``channels``,
    ``heads``, ``num_blocks`` (read from the embedding convs, temperatures and block indices)."""
    need = ("modelE_HSI.patch_embed.proj.weight", "modelE_MSI.patch_embed.proj.weight",
            "modelE_MSI.encoder_level1.0.attn.temperature")
    missing = [k for k in need if k not in state]
    if missing:
        raise MossfuseInputError(
            f"not a MossFuse checkpoint of the authors' layout: missing keys {missing}", path
        )
    hsi, msi = state[need[0]], state[need[1]]
    levels = {int(m.group(1)) for k in state
              if (m := re.match(r"modelE_MSI\.encoder_level1\.(\d+)\.", k))}
    return {
        "hsi_bands": int(hsi.shape[1]), "msi_bands": int(msi.shape[1]),
        "channels": int(msi.shape[0]), "heads": int(state[need[2]].shape[0]),
        "num_blocks": max(levels) + 1,
    }


def _psf_factor_from_release(q: torch.Tensor) -> torch.Tensor:
    """Our lower-triangular ``M`` (x, y order) with the same kernel as the authors' ``M``
    (row, col order): ``P' = S P S``, then ``P' = L^T L`` with ``L`` lower-triangular."""
    m = q.double() * torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    p = m.T @ m
    p = p[[1, 0]][:, [1, 0]]
    c = torch.sqrt(p[1, 1])
    b = p[0, 1] / c
    a = torch.sqrt(torch.clamp(p[0, 0] - b * b, min=0.0))
    return torch.tensor([[a, 0.0], [b, c]], dtype=torch.float64).to(q.dtype)


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def map_official_state(
    state: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], path: str | Path
) -> dict[str, torch.Tensor]:
    """Translate the authors' state dict onto ``targets`` (our ``net.*``/``degradation.*``
    state dict, for names and shapes); reshapes GRN and SRF, re-factors the PSF.

    Raises one :class:`MossfuseInputError` listing (the first few) unknown keys, missing keys
    and shape mismatches, naming the file.
    """
    out: dict[str, torch.Tensor] = {}
    unknown, shapes = [], []
    seen: set[str] = set()
    for key, value in state.items():
        if key in IGNORED_KEYS:
            continue
        name = translate_key(key)
        if name is None or name not in targets:
            unknown.append(key)
            continue
        seen.add(name)
        want = targets[name].shape
        v = value
        if name.endswith((".grn.gamma", ".grn.beta")) or name == "degradation.srf_param":
            v = v.reshape(want) if v.numel() == want.numel() else v
        if tuple(v.shape) != tuple(want):
            shapes.append(f"{key} {tuple(value.shape)} (expected {tuple(want)})")
            continue
        if name == "degradation.psf_factor":
            v = _psf_factor_from_release(v)
        out[name] = v.detach().clone().to(targets[name].dtype)
    missing = [k for k in targets if k not in seen]
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} unknown key(s): {_listed(unknown)}")
    if missing:
        problems.append(f"{len(missing)} missing key(s) (our names): {_listed(missing)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {_listed(shapes)}")
    if problems:
        raise MossfuseInputError(
            "does not match the MossFuse network (authors' release layout): "
            + "; ".join(problems), path,
        )
    return out


def official_config(
    state: dict[str, torch.Tensor], path: str | Path, base: MossFuseConfig,
    explicit: dict[str, object] | None = None,
) -> MossFuseConfig:
    """``base`` with the checkpoint's widths; a width the caller set explicitly (``explicit``)
    that the checkpoint contradicts is an error naming the key that fixes it."""
    arch = official_architecture(state, path)
    source = {"hsi_bands": "modelE_HSI.patch_embed.proj.weight",
              "msi_bands": "modelE_MSI.patch_embed.proj.weight",
              "channels": "modelE_MSI.patch_embed.proj.weight",
              "heads": "modelE_MSI.encoder_level1.0.attn.temperature",
              "num_blocks": "modelE_MSI.encoder_level1.*"}
    wrong = [f"{k}={arch[k]} from {source[k]} (expected {explicit[k]})"
             for k in arch if explicit and k in explicit and explicit[k] != arch[k]]
    if wrong:
        raise MossfuseInputError(
            "checkpoint is for another configuration: " + "; ".join(wrong), path
        )
    return base.model_copy(update=arch)


def load_official_into(method, path: str | Path, explicit: dict[str, object] | None = None):
    """Rebuild ``method`` (a :class:`~mossfuse.methods.mossfuse.method.MossFuse`) for the
    checkpoint at ``path`` and copy its tensors in (strict, by name). Returns the config."""
    state = read_official_state(path)
    cfg = official_config(state, path, method.config, explicit)
    method.config = method.Config(**cfg.model_dump())
    method._build()
    targets = {f"net.{k}": v for k, v in method.net.state_dict().items()}
    targets.update({f"degradation.{k}": v for k, v in method.degradation.state_dict().items()})
    mapped = map_official_state(state, targets, path)
    method.net.load_state_dict(
        {k[4:]: v for k, v in mapped.items() if k.startswith("net.")}, strict=True)
    method.degradation.load_state_dict(
        {k[12:]: v for k, v in mapped.items() if k.startswith("degradation.")}, strict=True)
    method.net.eval()
    return method.config
