"""Mosaics of the shared CAVE scenes, simulated with a protocol, cached as ``.npy`` files.

A mosaic of side ``n x 512`` HR px puts the 16 scenes (sorted by name) on an ``n x n`` grid,
row-major, repeating the list when ``n^2 > 16`` (each repeat rotated by 90 degrees so that no
two copies touch the same way). Scene borders are multiples of 32 px, so with the ``valid``
``mossfuse-x32`` kernel (inside one 32 px cell) the mosaic's LR-HSI is exactly the LR-HSIs of
its scenes side by side: fusing a scene alone uses the same inputs as its window of the mosaic.

Files in ``workdir`` (H x W x bands float32): ``mosaic<S>_ref.npy`` (reference, evaluator
only), ``mosaic<S>_lr.npy``, ``mosaic<S>_hr.npy``; ``mosaic<S>.json`` lists the scenes' slots.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CAVE_SIDE = 512


def scene_names(cave_root: Path) -> list[str]:
    from mossfuse.data.cave import CaveDataset

    return sorted(CaveDataset(cave_root).scenes)


def layout(side: int, names: list[str]) -> list[dict]:
    """Slots ``{"scene", "row", "col", "rot"}`` (HR px of the slot's top-left corner)."""
    n = side // CAVE_SIDE
    if n * CAVE_SIDE != side or n < 1:
        raise ValueError(f"mosaic side {side} is not a multiple of {CAVE_SIDE}")
    slots = []
    for k in range(n * n):
        i, j = divmod(k, n)
        slots.append({"scene": names[k % len(names)], "row": i * CAVE_SIDE,
                      "col": j * CAVE_SIDE, "rot": (k // len(names)) % 4})
    return slots


def build(side: int, workdir: Path, cave_root: Path, protocol: str = "mossfuse-x32"
          ) -> dict[str, Path]:
    """Make (or reuse) the mosaic of ``side`` px and its simulated pair; returns the paths."""
    from mossfuse.data.cave import CaveDataset
    from mossfuse.data.scene import Scene
    from mossfuse.physics import get_protocol

    workdir.mkdir(parents=True, exist_ok=True)
    paths = {k: workdir / f"mosaic{side}_{k}.npy" for k in ("ref", "lr", "hr")}
    paths["layout"] = workdir / f"mosaic{side}.json"
    if all(p.exists() for p in paths.values()):
        return paths
    ds = CaveDataset(cave_root, cache_size=16)
    names = sorted(ds.scenes)
    slots = layout(side, names)
    ref = np.lib.format.open_memmap(paths["ref"].with_suffix(".tmp.npy"), mode="w+",
                                    dtype=np.float32, shape=(side, side, 31))
    wl = None
    for s in slots:
        scene = ds.load(s["scene"])
        wl = scene.wavelengths_nm
        cube = np.rot90(scene.cube, k=s["rot"], axes=(1, 2))
        ref[s["row"]:s["row"] + CAVE_SIDE, s["col"]:s["col"] + CAVE_SIDE] = np.moveaxis(
            cube, 0, -1)
    ref.flush()
    proto = get_protocol(protocol)
    # simulate block-row by block-row (512 px: a multiple of r, kernel inside a cell -> exact)
    r = proto.ratio
    lr = np.empty((side // r, side // r, 31), np.float32)
    hr = np.empty((side, side, 3), np.float32)
    for y0 in range(0, side, CAVE_SIDE):
        block = np.ascontiguousarray(np.moveaxis(ref[y0:y0 + CAVE_SIDE], -1, 0))
        case = proto.simulate(Scene(block, wl, "mosaic-rows", {}))
        lr[y0 // r:(y0 + CAVE_SIDE) // r] = np.moveaxis(case.inputs.lr_hsi, 0, -1)
        hr[y0:y0 + CAVE_SIDE] = np.moveaxis(case.inputs.hr_msi, 0, -1)
    del ref
    paths["ref"].with_suffix(".tmp.npy").rename(paths["ref"])
    np.save(paths["lr"], lr)
    np.save(paths["hr"], hr)
    paths["layout"].write_text(json.dumps({"side": side, "protocol": protocol,
                                           "slots": slots}, indent=1))
    return paths


def load_cube(path: Path, rows: tuple[int, int] | None = None,
              cols: tuple[int, int] | None = None) -> np.ndarray:
    """``(bands, h, w)`` float32 of a cached H x W x bands file (optionally a window)."""
    mm = np.load(path, mmap_mode="r")
    if rows is not None:
        mm = mm[rows[0]:rows[1]]
    if cols is not None:
        mm = mm[:, cols[0]:cols[1]]
    return np.ascontiguousarray(np.moveaxis(np.asarray(mm), -1, 0), dtype=np.float32)
