"""The registered method: fuse, checkpoints, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mossfuse_testing import (  # noqa: F401
    randomise_eval_state,
    single_threaded_torch,
    tiny_config,
)

from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError
from mossfuse.methods import available_methods, get_method
from mossfuse.methods.mossfuse import MossFuse
from mossfuse.methods.mossfuse.method import _bf16_is_fast

TINY = dict(hsi_bands=8, msi_bands=3, ratio=4, channels=8, heads=2)


def _inputs(bands: int = 8, seed: int = 0) -> FusionInputs:
    rng = np.random.default_rng(seed)
    return FusionInputs(rng.random((bands, 3, 2), dtype=np.float32),
                        rng.random((3, 12, 8), dtype=np.float32), 4)


def test_registered_and_fuses_clipped_output():
    assert "mossfuse" in available_methods()
    m = get_method("mossfuse", TINY)
    assert isinstance(m, MossFuse)
    with pytest.warns(RuntimeWarning, match="untrained"):
        res = m.fuse(_inputs())
    assert res.hr_hsi.shape == (8, 12, 8) and res.hr_hsi.dtype == np.float32
    assert res.hr_hsi.min() >= 0 and res.hr_hsi.max() <= 1
    assert res.estimated_psf.shape == (3, 3) and res.estimated_srf.shape == (3, 8)
    assert res.info["psf_sigma_px"] == pytest.approx(0.2)
    assert res.info["config"]["srf_constraint"] == "clamp"


def test_fuse_matches_the_training_form_network():
    m = MossFuse(**TINY)
    randomise_eval_state(m.net)
    m.trained = True
    inp = _inputs()
    with torch.no_grad():
        ref = m.net.fuse_forward(torch.from_numpy(inp.hr_msi)[None],
                                 torch.from_numpy(inp.lr_hsi)[None])[0].clamp(0, 1).numpy()
    np.testing.assert_allclose(m.fuse(inp).hr_hsi, ref, atol=1e-5)


def test_band_mismatch_raises():
    with pytest.raises(MossfuseInputError, match="B=8"):
        MossFuse(**TINY).fuse(_inputs(bands=5))


def test_checkpoint_roundtrip(tmp_path):
    m = MossFuse(**TINY, srf_constraint="softplus")
    randomise_eval_state(m.net, seed=3)
    with torch.no_grad():
        m.degradation.psf_factor.copy_(torch.tensor([[1.5, 0.0], [0.2, 0.8]]))
        m.degradation.srf_param.uniform_(0, 2)
    m.trained = True
    m.save(tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt.json").read_text())
    assert meta["method"] == "mossfuse" and meta["config"]["channels"] == 8
    assert (tmp_path / "ckpt.safetensors").exists()

    other = MossFuse()  # default (release-size) config: replaced by the saved one
    other.load(tmp_path / "ckpt.safetensors")
    assert other.config == m.config and other.trained
    a, b = m.fuse(_inputs()), other.fuse(_inputs())
    np.testing.assert_array_equal(a.hr_hsi, b.hr_hsi)
    np.testing.assert_array_equal(a.estimated_srf, b.estimated_srf)
    np.testing.assert_array_equal(a.estimated_psf, b.estimated_psf)


def test_load_rejects_missing_or_foreign_files(tmp_path):
    with pytest.raises(MossfuseInputError, match="not found"):
        MossFuse(**TINY).load(tmp_path / "nothing")
    m = MossFuse(**TINY)
    m.save(tmp_path / "c")
    (tmp_path / "c.json").write_text(json.dumps({"method": "other", "format_version": 1}))
    with pytest.raises(MossfuseInputError, match="not a MossFuse checkpoint"):
        MossFuse(**TINY).load(tmp_path / "c")


def test_fit_trains_and_marks_the_model_trained():
    m = MossFuse(**TINY)
    summary = m.fit([_inputs()], steps=1, crop=m.config.ratio, progress=False)
    assert m.trained and summary["steps"] == 1


def test_untrained_model_loads_matching_shipped_weights(tmp_path, monkeypatch):
    import warnings

    from mossfuse.methods.mossfuse import method as method_mod

    trained = MossFuse(**TINY)
    randomise_eval_state(trained.net, seed=5)
    trained.trained = True
    trained.save(tmp_path / "tiny_x4")
    monkeypatch.setattr(method_mod, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(method_mod, "SHIPPED_WEIGHTS", {(8, 3, 4): "tiny_x4"})
    fresh = MossFuse(**TINY, inference_dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "untrained" warning
        res = fresh.fuse(_inputs())
    assert res.info["trained"] and res.info["weights_path"].endswith("tiny_x4.safetensors")
    assert res.info["weights_source"] == "shipped with mossfuse"
    assert res.info["weights"].startswith(res.info["weights_path"])
    np.testing.assert_allclose(res.hr_hsi, trained.fuse(_inputs()).hr_hsi, atol=1e-6)
    # another ratio has no shipped checkpoint: random weights, with the warning
    with pytest.warns(RuntimeWarning, match="no shipped checkpoint"):
        rng = np.random.default_rng(1)
        MossFuse(**{**TINY, "ratio": 2}).fuse(
            FusionInputs(rng.random((8, 3, 2), dtype=np.float32),
                         rng.random((3, 6, 4), dtype=np.float32), 2)
        )


def test_shipped_x32_checkpoint_is_in_the_package():
    from mossfuse.methods.mossfuse.method import shipped_weights

    path = shipped_weights(31, 3, 32)
    assert path is not None, "src/mossfuse/weights/mossfuse_x32_cave16.* missing"
    m = MossFuse()
    m.load(path)
    assert m.trained and m.config.ratio == 32 and m.config.hsi_bands == 31


def test_memory_guard_refuses_an_image_too_large_for_the_limit():
    m = MossFuse(**TINY, memory_limit_gb=1e-6)
    m.trained = True
    with pytest.raises(MossfuseInputError, match="--tile-size"):
        m.fuse(_inputs())
    assert m.inference_bytes(512, 512) < 1.5 * 2**30 * TINY["channels"] / 48 + 2**26
    # the default limit (available memory) lets a small image through
    assert MossFuse(**TINY).inference_bytes(12, 8) < 2**20


def test_bfloat16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    m = MossFuse(**TINY)
    randomise_eval_state(m.net, seed=4)
    m.trained = True
    m.save(tmp_path / "f32")
    m.save(tmp_path / "b16", storage_dtype=torch.bfloat16)
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "b16.safetensors"))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.bfloat16}
    small = (tmp_path / "b16.safetensors").stat().st_size  # tiny model: header dominates
    assert small < 0.7 * (tmp_path / "f32.safetensors").stat().st_size
    back = MossFuse()
    back.load(tmp_path / "b16")
    for (k, a), b in zip(m.net.state_dict().items(), back.net.state_dict().values(), strict=True):
        assert b.dtype == a.dtype, k
        if a.is_floating_point():
            torch.testing.assert_close(b, a.to(torch.bfloat16).float(), msg=k)


def test_explicit_runtime_settings_survive_loading_a_checkpoint(tmp_path):
    # a checkpoint's config replaces the method's, except how to run that the caller chose
    m = MossFuse(tiny_config(inference_dtype="bfloat16", num_threads=3))
    m.save(tmp_path / "ck")
    loaded = MossFuse({"inference_dtype": "float32"})
    loaded.load(tmp_path / "ck")
    assert loaded.config.inference_dtype == "float32"
    assert loaded.config.num_threads == 3 and loaded.config.channels == 8
    plain = MossFuse(num_threads=1)  # sets only the thread count
    plain.load(tmp_path / "ck")
    assert plain.config.num_threads == 1
    expected = "bfloat16" if _bf16_is_fast() else "float32"
    assert plain.config.inference_dtype == expected
