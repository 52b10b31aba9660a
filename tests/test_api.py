"""The documented Python API (:mod:`mossfuse.api`, re-exported by ``import mossfuse``)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import mossfuse
from conftest import REPO_ROOT
from mossfuse.errors import MossfuseInputError


def _pair(rng, h=8, w=8, bands=31, r=4):
    return (rng.random((h, w, bands), dtype=np.float32),
            rng.random((h * r, w * r, 3), dtype=np.float32))


def test_fuse_channel_last_and_bands_first_agree():
    lr, hr = _pair(np.random.default_rng(0))
    last = mossfuse.fuse(lr, hr, method="bicubic")
    first = mossfuse.fuse(np.moveaxis(lr, -1, 0), np.moveaxis(hr, -1, 0), method="bicubic",
                          channel_axis=0)
    assert last.hr_hsi.shape == (32, 32, 31) and first.hr_hsi.shape == (31, 32, 32)
    np.testing.assert_array_equal(np.moveaxis(first.hr_hsi, 0, -1), last.hr_hsi)


def test_fuse_takes_torch_tensors_and_a_known_srf():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    lr, hr = _pair(rng, bands=8)
    srf = np.full((3, 8), 1 / 8, np.float32)
    res = mossfuse.fuse(torch.from_numpy(lr), torch.from_numpy(hr), method="gsa", srf=srf)
    assert isinstance(res.hr_hsi, np.ndarray) and res.hr_hsi.shape == (32, 32, 8)
    assert res.estimated_srf is None  # the SRF was given


def test_wrong_axis_order_says_which_channel_axis():
    lr, hr = _pair(np.random.default_rng(2))
    with pytest.raises(MossfuseInputError, match="channel_axis=0"):
        mossfuse.fuse(np.moveaxis(lr, -1, 0), np.moveaxis(hr, -1, 0), method="bicubic")
    with pytest.raises(MossfuseInputError, match="channel_axis=-1"):
        mossfuse.fuse(lr, hr, method="bicubic", channel_axis=0)
    with pytest.raises(MossfuseInputError, match="3-D"):
        mossfuse.fuse(lr[None], hr, method="bicubic")


def test_evaluate_and_list_methods_and_io(tmp_path):
    ref = np.full((16, 16, 4), 0.5, np.float32)
    vals = mossfuse.evaluate(ref + 0.1, ref, ratio=4)
    assert set(vals) >= {"psnr", "sam", "ergas", "ssim"}
    assert round(vals["psnr"], 4) == 20.0
    assert {"bicubic", "gsa", "cnmf", "hysure", "scalmu", "mossfuse"} <= set(
        mossfuse.list_methods())
    mossfuse.write_cube(np.moveaxis(ref, -1, 0), tmp_path / "c.mat")
    assert mossfuse.read_cube(tmp_path / "c.mat").cube.shape == (4, 16, 16)


def test_import_mossfuse_is_light():
    code = ("import sys, mossfuse; heavy = [m for m in ('torch', 'scipy', 'dask', 'matplotlib', "
            "'rasterio') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"import mossfuse imported {out}"


def test_readme_api_example_is_a_passing_doctest(tmp_path, monkeypatch):
    """The README's Python API example, run as a doctest (outputs compared)."""
    import doctest

    monkeypatch.chdir(tmp_path)
    res = doctest.testfile(str(REPO_ROOT / "README.md"), module_relative=False, verbose=False,
                           optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                           raise_on_error=False, report=True)
    assert res.attempted >= 10, "the README lost its Python API example"
    assert res.failed == 0
