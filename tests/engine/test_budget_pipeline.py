"""The memory budget inside the fuse pipeline: a scene over the limit is tiled by itself."""

from __future__ import annotations

import numpy as np
import pytest

from mossfuse.cli import main
from mossfuse.engine.budget import estimate_whole_image_peak
from mossfuse.pipeline import Tiling, fuse_files


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("budget")
    rng = np.random.default_rng(0)
    np.save(d / "lr.npy", rng.uniform(0.1, 0.9, (16, 16, 31)).astype(np.float32))
    np.save(d / "hr.npy", rng.uniform(0.1, 0.9, (128, 128, 3)).astype(np.float32))
    np.savez(d / "pair.npz", lr=np.load(d / "lr.npy"), hr=np.load(d / "hr.npy"))
    return d


def test_under_the_limit_fuses_whole(pair):
    o = fuse_files(pair / "lr.npy", pair / "hr.npy", pair / "w.npy", method="bicubic",
                   memory_limit="100GB")
    assert o.mode == "whole" and o.budget is None


@pytest.mark.parametrize("lr, hr", [("lr.npy", "hr.npy"), ("pair.npz", "pair.npz")])
def test_over_the_limit_tiles_and_says_why(pair, lr, hr, capsys):
    keys = {"hsi_key": "lr", "msi_key": "hr"} if lr.endswith(".npz") else {}
    whole = fuse_files(pair / "lr.npy", pair / "hr.npy", pair / "w.npy", method="bicubic",
                       memory_limit="100GB")
    assert whole.mode == "whole"
    peak = estimate_whole_image_peak("bicubic", 31, 3, (128, 128), 8)
    o = fuse_files(pair / lr, pair / hr, pair / f"t_{lr}.npy", method="bicubic",
                   memory_limit=peak - 1, progress=True, **keys)
    err = capsys.readouterr().err
    assert o.mode == "tiled" and o.budget is not None and "memory limit" in o.budget
    assert err.count("tiling:") == 1
    # bicubic is local: the tiles blend to the whole-image result
    a, b = np.load(pair / "w.npy"), np.load(pair / f"t_{lr}.npy")
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) < 1e-4


def test_explicit_tiling_is_not_overridden(pair):
    o = fuse_files(pair / "lr.npy", pair / "hr.npy", pair / "e.npy", method="bicubic",
                   tiling=Tiling(tile=64, overlap=32), memory_limit="100GB")
    assert o.mode == "tiled" and o.tiles["tile"] == 64 and o.budget is None


def test_cli_memory_limit(pair, capsys):
    def run(*args):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, capsys.readouterr()

    base = ("fuse", "--lr-hsi", pair / "lr.npy", "--hr-msi", pair / "hr.npy", "--method",
            "bicubic")
    code, cap = run(*base, "--out", pair / "c1.npy", "--memory-limit", "1MiB")
    assert code == 0 and "tiles of" in cap.out and cap.err.count("tiling:") == 1
    code, cap = run(*base, "--out", pair / "c2.npy", "--memory-limit", "lots")
    assert code == 2 and cap.err.startswith("error:") and "memory size" in cap.err
    assert not (pair / "c2.npy").exists()
