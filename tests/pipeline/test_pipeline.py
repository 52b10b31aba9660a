"""The fuse pipeline (:mod:`mossfuse.pipeline`): output checks, one entry for whole / tiled /
report fusion, stale temporary files, method loading errors."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest

from mossfuse.errors import MossfuseInputError
from mossfuse.pipeline import Tiling, check_output_path, fuse_files, load_fusion_method


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "lr.npy", rng.random((4, 6, 8), dtype=np.float32))
    np.save(tmp_path / "hr.npy", rng.random((16, 24, 3), dtype=np.float32))
    return tmp_path / "lr.npy", tmp_path / "hr.npy"


def test_whole_and_tiled_give_the_same_bicubic(tmp_path):
    yy, xx = np.mgrid[0:16, 0:16] / 16.0
    lr = np.stack([0.5 + 0.3 * np.sin(3 * xx + k) * np.cos(2 * yy) for k in range(8)], -1)
    np.save(tmp_path / "lr.npy", lr.astype(np.float32))
    np.save(tmp_path / "hr.npy", np.full((64, 64, 3), 0.5, np.float32))
    lr, hr = tmp_path / "lr.npy", tmp_path / "hr.npy"
    whole = fuse_files(lr, hr, tmp_path / "w.npy", method="bicubic")
    tiled = fuse_files(lr, hr, tmp_path / "t.npy", method="bicubic",
                       tiling=Tiling(tile=32, overlap=16))
    assert whole.mode == "whole" and tiled.mode == "tiled" and tiled.tiles["count"] == 9
    assert whole.shape == tiled.shape == (64, 64, 8)
    a, b = np.load(tmp_path / "w.npy"), np.load(tmp_path / "t.npy")
    assert np.abs(a - b).max() < 0.01  # a smooth scene: tiles blend back to the whole


def test_protocol_degradation_checks_the_ratio(tmp_path, pair):
    lr, hr = pair
    with pytest.raises(MossfuseInputError, match="ratio 32"):
        fuse_files(lr, hr, tmp_path / "o.npy", method="gsa", degradation="mossfuse-x32")


def test_output_checks(tmp_path, pair):
    lr, hr = pair
    with pytest.raises(MossfuseInputError, match="extension"):
        check_output_path(tmp_path / "o.txt")
    with pytest.raises(MossfuseInputError, match="overwrite the input"):
        check_output_path(tmp_path / "x" / ".." / "hr.npy", [lr, hr])
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(MossfuseInputError, match="existing folder"):
        check_output_path(tmp_path / "d.npy", [])
    # the SRF/PSF files written beside an output must not replace an input either
    (tmp_path / "o.srf.csv").write_text("x")
    with pytest.raises(MossfuseInputError, match="overwrite the input"):
        check_output_path(tmp_path / "o.npy", [tmp_path / "o.srf.csv"])
    assert check_output_path(tmp_path / "new" / "deeper" / "o.tif", [lr]).name == "o.tif"


def test_unwritable_folder_is_reported(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(MossfuseInputError, match="not writable"):
        check_output_path(tmp_path / "o.npy")


def test_method_config_and_weights_errors_name_the_file(tmp_path):
    bad = tmp_path / "cfg.json"
    bad.write_text("{oops")
    with pytest.raises(MossfuseInputError, match="not a JSON config") as info:
        load_fusion_method("cnmf", bad)
    assert str(info.value.path) == str(bad)
    bad.write_text(json.dumps({"no_such_field": 1}))
    with pytest.raises(MossfuseInputError, match="invalid config for method 'cnmf'"):
        load_fusion_method("cnmf", bad)
    with pytest.raises(MossfuseInputError, match="unknown method"):
        load_fusion_method("nope")
    with pytest.raises(MossfuseInputError, match="no weights"):
        load_fusion_method("bicubic", weights=tmp_path / "w.safetensors")


def test_failed_run_leaves_nothing(tmp_path, pair, monkeypatch):
    lr, hr = pair
    from mossfuse.methods.bicubic import Bicubic

    def boom(self, inputs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Bicubic, "_fuse", boom)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RuntimeError):
        fuse_files(lr, hr, tmp_path / "o.npy", method="bicubic")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
