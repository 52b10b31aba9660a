"""Robustness analysis: the DAEM protocols on a real CAVE scene against an independent scipy
computation, the weights lookup, and a tiny end-to-end run.

``tests/physics/test_daem.py`` checks the LR-HSI of every ``daem-k*`` protocol on a random cube
with an independent numpy einsum; here the same protocols are checked on a real CAVE scene
read straight from its PNG files, with ``scipy.signal.correlate2d`` for the blur and the
Nikon D700 CSV of the shared data for the HR-MSI.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
from analyses_testing import read_cave_png, write_small_cave

from mossfuse.analyses.robustness import (
    RobustnessConfig,
    run_robustness,
    save_estimate_grid,
    weights_for,
)
from mossfuse.data.io import load_mat_variables
from mossfuse.data.scene import Scene
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.protocols import daem_protocol
from mossfuse.physics.srf_library import CAVE_WAVELENGTHS_NM

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("k", [0, 3, 5])
def test_daem_protocol_on_a_cave_scene_equals_scipy(shared_data, cave_root, k):
    kernel_dir = shared_data / "psf/daem_kernels"
    cube = read_cave_png(cave_root, "face", 128)
    case = daem_protocol(k, kernel_dir).simulate(Scene(cube.astype(np.float32),
                                                       CAVE_WAVELENGTHS_NM, "face"))
    kernel = load_mat_variables(kernel_dir / f"{k}.mat")["data"].astype(np.float64)
    # correlation 'valid': out[i, j] = sum_uv x[i + u, j + v] k[u, v]; LR pixel a takes the
    # window [32 a, 32 a + 32) (centre tap 16 on HR pixel 32 a + 16)
    x32 = cube.astype(np.float32).astype(np.float64)
    expected_lr = np.stack([scipy.signal.correlate2d(b, kernel, mode="valid")[::32, ::32]
                            for b in x32])
    assert case.inputs.lr_hsi.shape == (31, 4, 4)
    np.testing.assert_allclose(case.inputs.lr_hsi, expected_lr, atol=2e-6, rtol=0)
    srf_csv = np.loadtxt(shared_data / "srf/camera/nikon_d700_nssr_createP_3x31_rownormalized.csv",
                         delimiter=",", skiprows=1)
    np.testing.assert_allclose(srf_csv[:, 0], CAVE_WAVELENGTHS_NM)
    expected_hr = np.einsum("Bc,Bhw->chw", srf_csv[:, 1:], x32)  # rows R, G, B
    np.testing.assert_allclose(case.inputs.hr_msi, expected_hr, atol=2e-6, rtol=0)
    assert case.inputs.phase == 16 and case.inputs.psf_centre == 16


def test_weights_for_prefers_the_protocol_specific_checkpoint():
    cfg = RobustnessConfig(root=".", methods=["gsa", "mossfuse"],
                           weights={"mossfuse": "a.safetensors",
                                    "daem-k2:mossfuse": "b.safetensors"})
    assert weights_for(cfg, "daem-k0") == {"mossfuse": "a.safetensors"}
    assert weights_for(cfg, "daem-k2") == {"mossfuse": "b.safetensors"}


def test_learned_method_without_weights_is_refused(cave_root, monkeypatch):
    import mossfuse.analyses.robustness as rb

    monkeypatch.setattr(rb, "default_weights", lambda method: None)
    cfg = RobustnessConfig(root=str(cave_root), protocols=["daem-k0"], methods=["mossfuse"],
                           scenes=["face"])
    with pytest.raises(MossfuseInputError, match="needs trained weights"):
        run_robustness(cfg, "unused", progress=False)


@pytest.fixture(scope="module")
def small_cave(cave_root, tmp_path_factory):
    """The 64 x 64 crop of the real ``face`` scene in a CAVE-layout folder."""
    return write_small_cave(cave_root, tmp_path_factory.mktemp("cave"), ("face",))


def test_tiny_robustness_run(small_cave, tmp_path):
    """Two protocols, one (cropped) scene, GSA and a tiny (untrained) MossFuse checkpoint:
    records, tables, estimated-vs-true errors and both figures; a second call resumes."""
    from mossfuse.methods.mossfuse.method import MossFuse

    ckpt = tmp_path / "tiny.safetensors"
    MossFuse(hsi_bands=31, ratio=32, channels=8, heads=2).save(ckpt)
    cfg = RobustnessConfig(root=str(small_cave), protocols=["daem-k0", "daem-k5"],
                           methods=["gsa", "mossfuse"], scenes=["face"],
                           weights={"mossfuse": str(ckpt)}, figure_scenes=0, threads=1)
    out = tmp_path / "rb"
    with pytest.warns(RuntimeWarning, match="untrained"):
        summary = run_robustness(cfg, out, progress=False)
    assert set(summary["metrics"]) == {"daem-k0", "daem-k5"}
    assert summary["metrics"]["daem-k0"]["gsa"]["psnr_mean"] > 20
    errs = summary["estimation_errors"]["daem-k5"]
    assert set(errs) == {"classical", "mossfuse"}
    assert errs["classical"]["sigma_true"] == pytest.approx(3.78, abs=0.05)
    assert errs["mossfuse"]["srf_max_abs"] >= 0
    for name in ("robustness.md", "robustness_metrics.csv", "degradation_errors.csv",
                 "robustness_psnr_sam.png", "degradation_estimates.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "robustness.md").read_text()
    assert "| daem-k5 | classical |" in md and "Scenes (1): face" in md
    est = json.loads((out / "daem-k0" / "estimates" / "face.json").read_text())
    assert np.asarray(est["psf"]).shape == (31, 31)
    # resume: nothing recomputed, same numbers
    again = run_robustness(cfg, out, progress=False)
    assert again["metrics"] == summary["metrics"]


def test_estimate_grid_figure_without_learned_estimates(tmp_path):
    k = np.zeros((32, 32))
    k[14:18, 14:18] = 1 / 16
    e = np.zeros((31, 31))
    e[14:17, 14:17] = 1 / 9
    srf = np.full((3, 31), 1 / 31)
    truths = {"p": {"psf": k, "srf": srf, "phase": 16, "centre": 16}}
    estimates = {"p": {"classical": {"s": {"psf": e.tolist(), "srf": srf.tolist(),
                                           "errors": {"sigma_est": 1.0, "offset": 1}}},
                       "learned": {}}}
    assert save_estimate_grid(tmp_path / "g.png", truths, estimates).stat().st_size > 0


def test_daem_kernels_found_by_default_are_not_replaced_by_those_beside_the_dataset(
        shared_data, tmp_path, monkeypatch):
    """``daem-k*`` kernels found where :mod:`mossfuse.physics.daem` looks win over a
    ``ROOT/../psf/daem_kernels`` folder (the order before the protocols stopped registering on
    import)."""
    from mossfuse.analyses.robustness import _resolve_protocols
    from mossfuse.physics import protocols

    kernels = shared_data / "psf/daem_kernels"
    monkeypatch.setenv("MOSSFUSE_DAEM_KERNELS", str(kernels))
    monkeypatch.setattr(protocols, "PROTOCOLS", dict(protocols.PROTOCOLS))
    beside = tmp_path / "psf" / "daem_kernels"
    beside.mkdir(parents=True)
    (beside / "0.mat").write_bytes((kernels / "0.mat").read_bytes())
    (proto,) = _resolve_protocols(["daem-k0"], root=tmp_path / "cave")
    assert proto.psf.path == str((kernels / "0.mat").resolve())
    monkeypatch.delenv("MOSSFUSE_DAEM_KERNELS")
    monkeypatch.setenv("MOSSFUSE_SHARED_DATA", str(tmp_path / "nowhere"))
    (proto,) = _resolve_protocols(["daem-k0"], root=tmp_path / "cave")
    assert proto.psf.path == str((beside / "0.mat").resolve())
