"""``mossfuse weights``: import the MossFuse authors' checkpoint, show which weights are used.

Registered in the main CLI with ``app.add_typer(weights_app, name="weights")``::

    mossfuse weights import CAVE_32_model.pth [--out DIR] [--ratio 32]
    mossfuse weights show [--hsi-bands 31 --msi-bands 3 --ratio 32]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

weights_app = typer.Typer(
    name="weights",
    help="MossFuse weights: import the authors' released checkpoint (.pth) into our format; "
         "show which weights `mossfuse fuse --method mossfuse` uses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@weights_app.command("import")
def import_(
    checkpoint: Annotated[Path, typer.Argument(
        help="The authors' checkpoint, e.g. CAVE_32_model.pth (read with "
             "torch.load(weights_only=True) only: a pickle that would run code is refused)"
    )],
    out: Annotated[Path | None, typer.Option(
        help="Output folder for NAME.safetensors + NAME.json (default: the user's weights "
             "folder, $MOSSFUSE_HOME/weights or ~/.local/share/mossfuse/weights, where "
             "`mossfuse fuse --method mossfuse` finds it without --weights)"
    )] = None,
    ratio: Annotated[int, typer.Option(
        min=2, help="HR/LR ratio the checkpoint was trained for (not stored in the file; the "
                    "release CAVE_32_model.pth is x32)"
    )] = 32,
    name: Annotated[str | None, typer.Option(
        help="File stem of the output (default: the checkpoint's stem)"
    )] = None,
) -> None:
    """Convert the MossFuse authors' .pth into our safetensors + JSON checkpoint."""
    from mossfuse.methods.mossfuse import MossFuse
    from mossfuse.methods.mossfuse.weights import import_official

    target = import_official(checkpoint, out, ratio=ratio, name=name)
    m = MossFuse()
    m.load(target)
    cfg = m.config
    sigma = m.degradation.export()["sigma"]
    typer.echo(f"imported {checkpoint} -> {target} (+ .json): B={cfg.hsi_bands}, "
               f"b={cfg.msi_bands}, x{cfg.ratio}, C={cfg.channels}, learned PSF sigma "
               f"{sigma:.3f} px")


@weights_app.command("show")
def show(
    hsi_bands: Annotated[int, typer.Option(min=1, help="B of the inputs")] = 31,
    msi_bands: Annotated[int, typer.Option(min=1, help="b of the inputs")] = 3,
    ratio: Annotated[int, typer.Option(min=2, help="ratio of the inputs")] = 32,
) -> None:
    """Say which weights `mossfuse fuse --method mossfuse` uses for such inputs."""
    from mossfuse.methods.mossfuse.weights import describe_weights, user_weights_dir

    typer.echo(f"mossfuse: {describe_weights(hsi_bands, msi_bands, ratio)}")
    typer.echo(f"user weights folder: {user_weights_dir()}")
