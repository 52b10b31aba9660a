"""Importing the MossFuse authors' released checkpoint: safe reading, mapping by name, golden
outputs of the authors' own code, the ``mossfuse weights`` CLI and the default-weights order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mossfuse_testing import (  # noqa: F401
    randomise_eval_state,
    single_threaded_torch,
)

from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.mossfuse import MossFuse
from mossfuse.methods.mossfuse import method as method_mod
from mossfuse.methods.mossfuse.degradation import DegradationModule
from mossfuse.methods.mossfuse.official import (
    _psf_factor_from_release,
    read_official_state,
    translate_key,
)
from mossfuse.methods.mossfuse.weights import describe_weights, user_weights_dir

TINY = dict(hsi_bands=8, msi_bands=3, ratio=4, channels=8, heads=2)


def _official(shared_data: Path) -> Path:
    p = shared_data / "weights" / "mossfuse_official" / "CAVE_32_model.pth"
    if not p.exists():
        pytest.fail(f"{p} missing from the shared data")
    return p


# --- mapping rules (no data needed) ---------------------------------------------------------


def test_translate_key_maps_by_name_not_position():
    t = translate_key
    # DRB branches: the (kernel, dilation) pair picks our branch index
    assert t("modelE_MSI.baseFeature.0.dwconv.dil_conv_k3_3.weight") == \
        "net.encoder_msi.shared.0.dwconv.branches.2.weight"
    assert t("modelE_HSI.baseFeature.1.dwconv.dil_bn_k5_1.running_var") == \
        "net.encoder_hsi.shared.1.dwconv.branch_bns.0.running_var"
    assert t("modelE_MSI.detailFeature.2.act.1.gamma") == \
        "net.encoder_msi.complementary.2.grn.gamma"
    assert t("modelE_HSI.detailFeature.attn.qkv.weight") == \
        "net.encoder_hsi.complementary.0.attn.qkv.qkv.weight"
    assert t("modelD_HR.fuse.weight") == "net.decoder_fused.combine.reduce.weight"
    assert t("modelD_HR.fuse1.attn.DWConv.weight") == "net.decoder_fused.spatial.attn.y_conv.weight"
    assert t("modelD_HR.fuse2.attn.Spectral_Att.spectral_atten.4.weight") == \
        "net.decoder_fused.spectral.attn.channel_gate.fc3.weight"
    assert t("modelD_LR.reduce_channel.weight") == "net.decoder_lr_msi.combine.reduce.weight"
    assert t("modelD_MSI.output.2.weight") == "net.decoder_msi.head.conv2.weight"
    assert t("modelE_MSI.baseFeature.0.pwconv2.2.running_mean") == \
        "net.encoder_msi.shared.0.out_bn.running_mean"
    assert t("blind.srf") == "degradation.srf_param"
    assert t("blind.blur_down.KernelParam") == "degradation.psf_factor"
    assert t("modelE_MSI.baseFeature.0.dwconv.dil_conv_k9_4.weight") is None
    assert t("somethingElse.weight") is None


def test_psf_factor_refactoring_reproduces_the_authors_kernel():
    """The authors build exp(-z^T M^T M z / 2) with z = (row, col) offsets from tap 15; our
    factor (x, y order) must give the same 31 x 31 kernel for an anisotropic M."""
    q = torch.tensor([[0.55, 7.0], [-0.21, 0.38]])  # the upper entry is masked by both
    m = q * torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    prec = (m.T @ m).double()
    z = torch.stack(torch.meshgrid(torch.arange(31.0), torch.arange(31.0), indexing="ij"), -1)
    z = (z - 15).double()
    theirs = torch.exp(-0.5 * torch.einsum("ijk,kl,ijl->ij", z, prec, z))
    theirs = theirs / theirs.sum()
    deg = DegradationModule(31, 3, 32)
    with torch.no_grad():
        deg.psf_factor.copy_(_psf_factor_from_release(q))
    ours = deg.kernel().double()
    assert not torch.allclose(theirs, theirs.T, atol=1e-4)  # anisotropic: a swap would show
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


class _Evil:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("kind", ["torch.save", "raw pickle"])
def test_a_pickle_that_would_run_code_is_refused_without_running(tmp_path, kind):
    import pickle

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    payload = {"Model_stage1": {"w": _Evil(marker)}}
    if kind == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=2))
    assert not marker.exists()
    with pytest.raises(MossfuseInputError, match="refused") as exc:
        MossFuse().load(evil)
    assert str(evil) in str(exc.value)
    assert not marker.exists()


def test_weights_import_cli_refuses_evil_pickle_with_one_error_line(tmp_path, capsys):
    from mossfuse.cli import main

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"Model_stage1": {"w": _Evil(marker)}}, evil)
    with pytest.raises(SystemExit) as exc:
        main(["weights", "import", str(evil), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2
    assert len(err) == 1 and err[0].startswith("error:") and "evil.pth" in err[0]
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_not_the_authors_layout_is_one_clear_error(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"state": 3}, p)
    with pytest.raises(MossfuseInputError, match="Model_stage1"):
        MossFuse().load(p)


# --- the real checkpoint ------------------------------------------------------------------


def test_official_checkpoint_loads_all_tensors_by_name(shared_data):
    path = _official(shared_data)
    state = read_official_state(path)
    assert len(state) == 387
    m = MossFuse()
    m.load(path)
    assert m.trained and m.config.hsi_bands == 31 and m.config.msi_bands == 3
    sd = m.net.state_dict()
    # spot checks of the reshaped / re-ordered tensors
    torch.testing.assert_close(
        sd["encoder_msi.shared.0.grn.gamma"],
        state["modelE_MSI.baseFeature.0.act.1.gamma"][0, 0, 0])
    torch.testing.assert_close(
        sd["encoder_hsi.shared.1.dwconv.branches.1.weight"],
        state["modelE_HSI.baseFeature.1.dwconv.dil_conv_k3_2.weight"])
    torch.testing.assert_close(m.degradation.srf_param, state["blind.srf"][:, :, 0, 0])
    est = m.degradation.export()
    assert est["sigma"] == pytest.approx(2.0, abs=0.01)  # the README: sigma 2.00 px learned


def test_unknown_missing_or_misshapen_keys_are_one_error_naming_them(shared_data, tmp_path):
    state = read_official_state(_official(shared_data))

    def attempt(st, name, **cfg):
        p = tmp_path / name
        torch.save({"Model_stage1": {f"module.{k}": v for k, v in st.items()}}, p)
        with pytest.raises(MossfuseInputError) as exc:
            MossFuse(**cfg).load(p)
        assert str(p) in str(exc.value)
        return str(exc.value)

    extra = dict(state, **{"modelD_HR.extra_head.weight": torch.zeros(2)})
    assert "unknown key(s): modelD_HR.extra_head.weight" in attempt(extra, "extra.pth")
    gone = {k: v for k, v in state.items() if k != "modelD_HR.fuse1.attn.temperature"}
    assert "net.decoder_fused.spatial.attn.temperature" in attempt(gone, "gone.pth")
    bad = dict(state, **{"modelD_HR.output.2.weight": torch.zeros(8, 24, 3, 3)})
    msg = attempt(bad, "bad.pth")
    assert "shape mismatch" in msg and "modelD_HR.output.2.weight (8, 24, 3, 3)" in msg
    # a checkpoint for another B where the caller asked for B = 31
    other = dict(state, **{"modelE_HSI.patch_embed.proj.weight": torch.zeros(48, 8, 3, 3)})
    msg = attempt(other, "b8.pth", hsi_bands=31)
    assert "hsi_bands=8 from modelE_HSI.patch_embed.proj.weight (expected 31)" in msg


def _golden(shared_data: Path, scene: str):
    g = np.load(shared_data / "weights" / "mossfuse_official" / f"golden_{scene}_x32.npz")
    lr = np.ascontiguousarray(g["lr_hsi"].transpose(2, 0, 1))
    hr = np.ascontiguousarray(g["hr_msi"].transpose(2, 0, 1))
    return g, lr, hr


@pytest.mark.parametrize("scene", ["cd", "face"])
def test_official_weights_reproduce_the_authors_golden_outputs(shared_data, scene):
    """Our fused inference path with the imported checkpoint equals the authors' own code
    (their forward, eval mode, float32, unclipped) to 1e-4 on a crop and the band means."""
    m = MossFuse()
    m.load(_official(shared_data))
    g, lr, hr = _golden(shared_data, scene)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            out = m.inference_path()(torch.from_numpy(hr)[None], torch.from_numpy(lr)[None])[0]
    finally:
        torch.set_num_threads(old)
    out = out.numpy()
    r0, c0 = int(g["crop_rows"][0]), int(g["crop_cols"][0])
    crop = out[:, r0 : r0 + 128, c0 : c0 + 128].transpose(1, 2, 0)
    np.testing.assert_allclose(crop, g["fused_crop"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out.mean(axis=(1, 2), dtype=np.float64), g["fused_band_means"],
                               atol=1e-4, rtol=0)


def _console(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("mossfuse")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "mossfuse.cli"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_console_import_then_fuse_reproduces_the_golden_crop(shared_data, tmp_path):
    g, _, _ = _golden(shared_data, "cd")
    np.save(tmp_path / "lr.npy", g["lr_hsi"])  # H x W x bands
    np.save(tmp_path / "hr.npy", g["hr_msi"])
    res = _console("weights", "import", _official(shared_data), "--out", tmp_path / "w")
    assert res.returncode == 0, res.stderr
    weights = tmp_path / "w" / "CAVE_32_model.safetensors"
    assert weights.exists() and weights.with_suffix(".json").exists()
    doc = json.loads(weights.with_suffix(".json").read_text())
    assert doc["trained"] and doc["origin"]["file"].endswith("CAVE_32_model.pth")
    assert not list((tmp_path / "w").glob(".*partial*"))
    res = _console("fuse", "--method", "mossfuse", "--weights", weights, "--lr-hsi",
                   tmp_path / "lr.npy", "--hr-msi", tmp_path / "hr.npy", "--out",
                   tmp_path / "fused.npy", env={"MOSSFUSE_WEIGHTS": ""})
    assert res.returncode == 0, res.stderr
    fused = np.load(tmp_path / "fused.npy")  # H x W x bands, clipped to [0, 1]
    r0, c0 = int(g["crop_rows"][0]), int(g["crop_cols"][0])
    np.testing.assert_allclose(fused[r0 : r0 + 128, c0 : c0 + 128],
                               np.clip(g["fused_crop"], 0, 1), atol=1e-4, rtol=0)


# --- which weights by default -------------------------------------------------------------


def _tiny_inputs() -> FusionInputs:
    rng = np.random.default_rng(0)
    return FusionInputs(rng.random((8, 3, 2), dtype=np.float32),
                        rng.random((3, 12, 8), dtype=np.float32), 4)


def _tiny_checkpoint(path: Path, seed: int) -> Path:
    m = MossFuse(**TINY)
    randomise_eval_state(m.net, seed=seed)
    m.trained = True
    m.save(path)
    return path.with_name(path.name + ".safetensors")


def test_default_weights_order_given_env_user_folder_shipped(tmp_path, monkeypatch):
    shipped = _tiny_checkpoint(tmp_path / "ship" / "tiny_x4", seed=1)
    monkeypatch.setattr(method_mod, "WEIGHTS_DIR", shipped.parent)
    monkeypatch.setattr(method_mod, "SHIPPED_WEIGHTS", {(8, 3, 4): "tiny_x4"})
    monkeypatch.setenv("MOSSFUSE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MOSSFUSE_WEIGHTS", raising=False)

    def used() -> tuple[str, str]:
        info = MossFuse(**TINY).fuse(_tiny_inputs()).info
        return info["weights_path"], info["weights_source"]

    assert used() == (str(shipped), "shipped with mossfuse")
    assert str(shipped) in describe_weights(8, 3, 4)
    user = _tiny_checkpoint(user_weights_dir() / "mine", seed=2)
    _tiny_checkpoint(user_weights_dir() / "other_ratio", seed=3)  # not x4 once edited below
    meta = user_weights_dir() / "other_ratio.json"
    doc = json.loads(meta.read_text())
    doc["config"]["ratio"] = 8
    meta.write_text(json.dumps(doc))
    path, source = used()
    assert path == str(user) and source.startswith("user weights folder")
    env = _tiny_checkpoint(tmp_path / "env" / "e", seed=4)
    monkeypatch.setenv("MOSSFUSE_WEIGHTS", str(env))
    assert used() == (str(env), "MOSSFUSE_WEIGHTS")
    assert "[MOSSFUSE_WEIGHTS]" in describe_weights(8, 3, 4)
    given = MossFuse(**TINY)
    given.load(shipped)  # --weights: never overridden
    info = given.fuse(_tiny_inputs()).info
    assert info["weights_path"] == str(shipped) and info["weights_source"] == "given"
    assert info["weights"] == f"{shipped} [given]"
    monkeypatch.setenv("MOSSFUSE_WEIGHTS", str(tmp_path / "nope.safetensors"))
    with pytest.raises(MossfuseInputError, match="MOSSFUSE_WEIGHTS"):
        MossFuse(**TINY).fuse(_tiny_inputs())


def test_import_without_out_goes_to_the_user_folder_and_is_then_the_default(
        shared_data, tmp_path, monkeypatch):
    from mossfuse.methods.mossfuse.weights import import_official

    monkeypatch.setenv("MOSSFUSE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MOSSFUSE_WEIGHTS", raising=False)
    target = import_official(_official(shared_data))
    assert target.parent == tmp_path / "home" / "weights"
    rng = np.random.default_rng(0)
    inputs = FusionInputs(rng.random((31, 2, 2), dtype=np.float32),
                          rng.random((3, 64, 64), dtype=np.float32), 32)
    info = MossFuse().fuse(inputs).info
    assert info["weights_path"] == str(target)
    assert info["weights_source"].startswith("user weights folder")
    assert "imported from CAVE_32_model.pth" in describe_weights()


# --- per-scene adaptation -----------------------------------------------------------------


def test_adaptation_fine_tunes_a_copy_on_the_pair_and_survives_loading(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path / "tiny", seed=1)
    plain = MossFuse(**TINY)
    plain.load(ckpt)
    adapting = MossFuse({**TINY, "adapt_steps": 3, "adapt_crop": 8})  # as from --config JSON
    adapting.load(ckpt)
    assert adapting.config.adapt_steps == 3  # an explicit setting survives load
    before = {k: v.clone() for k, v in adapting.net.state_dict().items()}
    inputs = _tiny_inputs()
    base = plain.fuse(inputs)
    res = adapting.fuse(inputs)
    ad = res.info["adaptation"]
    assert ad["steps"] == 3 and ad["crop"] == 8 and ad["seconds"] > 0
    assert set(ad["last_losses"]) >= {"ma", "sc", "de"}
    assert np.abs(res.hr_hsi - base.hr_hsi).max() > 1e-6  # the adapted weights fused it
    for k, v in adapting.net.state_dict().items():  # the loaded weights stay as loaded
        torch.testing.assert_close(v, before[k], atol=0, rtol=0)
    again = adapting.fuse(inputs)  # deterministic (seeded crops), not compounding
    np.testing.assert_allclose(again.hr_hsi, res.hr_hsi, atol=1e-5)
    # a checkpoint never carries adaptation: saving an adapting model and loading it plainly
    adapting.save(tmp_path / "saved")
    reloaded = MossFuse(**TINY)
    reloaded.load(tmp_path / "saved")
    assert reloaded.config.adapt_steps == 0


def _tiny_fuse_args(tmp_path: Path, **config) -> list[str]:
    """``mossfuse fuse`` arguments (no ``--out``) for the tiny pair and a tiny checkpoint,
    with ``config`` as the method's ``--config`` JSON."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    ckpt = _tiny_checkpoint(tmp_path / "tiny", seed=1)
    inputs = _tiny_inputs()
    np.save(tmp_path / "lr.npy", inputs.lr_hsi.transpose(1, 2, 0))
    np.save(tmp_path / "hr.npy", inputs.hr_msi.transpose(1, 2, 0))
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    return ["fuse", "--lr-hsi", str(tmp_path / "lr.npy"), "--hr-msi", str(tmp_path / "hr.npy"),
            "--method", "mossfuse", "--weights", str(ckpt), "--config",
            str(tmp_path / "cfg.json"), "-q"]


def test_cli_adapt_steps_fine_tunes_before_fusing(tmp_path, capsys):
    from mossfuse.cli import main

    common = _tiny_fuse_args(tmp_path, adapt_crop=8)
    main([*common, "--out", str(tmp_path / "plain.npy")])
    main([*common, "--out", str(tmp_path / "adapted.npy"), "--adapt-steps", "2"])
    plain, adapted = np.load(tmp_path / "plain.npy"), np.load(tmp_path / "adapted.npy")
    assert plain.shape == adapted.shape == (12, 8, 8)
    assert np.abs(plain - adapted).max() > 1e-6  # the adapted copy fused it
    assert "adapted 2 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:  # a flag of mossfuse only: a usage error
        main(["fuse", "--lr-hsi", "a.npy", "--hr-msi", "b.npy", "--out", "c.npy",
              "--method", "gsa", "--adapt-steps", "2"])
    assert exc.value.code == 2


def test_adaptation_time_budget_ends_it_after_the_step_that_reaches_it(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path / "tiny", seed=1)
    timed = MossFuse({**TINY, "adapt_seconds": 1e-9, "adapt_crop": 8})  # budget alone
    timed.load(ckpt)
    assert timed.config.adapt_seconds == 1e-9 and timed.config.adapts  # survives load
    assert timed.adapt_train_config(_tiny_inputs()).steps > 1000  # no step count: time bounds
    ad = timed.fuse(_tiny_inputs()).info["adaptation"]
    assert ad["steps"] == 1 and ad["stopped_by"] == "time"
    # with a step count too, whichever ends first
    both = MossFuse({**TINY, "adapt_seconds": 3600, "adapt_steps": 2, "adapt_crop": 8})
    both.load(ckpt)
    ad = both.fuse(_tiny_inputs()).info["adaptation"]
    assert ad["steps"] == 2 and ad["stopped_by"] == "steps"
    # the budget is a setting of how to fuse: a saved checkpoint does not carry it
    timed.save(tmp_path / "saved")
    reloaded = MossFuse(**TINY)
    reloaded.load(tmp_path / "saved")
    assert reloaded.config.adapt_seconds is None and not reloaded.config.adapts


def test_cli_adapt_seconds_says_the_budget_ended_it(tmp_path, capsys):
    from mossfuse.cli import main

    main([*_tiny_fuse_args(tmp_path, adapt_crop=8), "--out", str(tmp_path / "o.npy"),
          "--adapt-seconds", "0.000001"])
    assert "adapted 1 steps" in (out := capsys.readouterr().out)
    assert "time budget reached" in out
    assert np.load(tmp_path / "o.npy").shape == (12, 8, 8)


def test_a_diverging_adaptation_falls_back_to_the_loaded_weights(tmp_path, capsys):
    from mossfuse.cli import main

    ckpt = _tiny_checkpoint(tmp_path / "tiny", seed=1)
    plain = MossFuse(**TINY)
    plain.load(ckpt)
    wild = MossFuse({**TINY, "adapt_steps": 3, "adapt_crop": 8, "adapt_lr": 100.0})
    wild.load(ckpt)
    with pytest.warns(RuntimeWarning, match="adaptation diverged"):
        res = wild.fuse(_tiny_inputs())
    assert res.info["adaptation"]["stopped_by"] == "diverged"
    np.testing.assert_array_equal(res.hr_hsi, plain.fuse(_tiny_inputs()).hr_hsi)
    # the console line says so (and the output is the unadapted fusion)
    args = _tiny_fuse_args(tmp_path / "cli", adapt_crop=8, adapt_lr=100.0)
    with pytest.warns(RuntimeWarning, match="adaptation diverged"):
        main([*args, "--out", str(tmp_path / "o.npy"), "--adapt-steps", "3"])
    assert "adaptation diverged: fused with the loaded weights" in capsys.readouterr().out
    assert (tmp_path / "o.npy").exists()


def test_adaptation_speed_settings_reach_its_training_config(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path / "tiny", seed=1)
    fast = MossFuse({**TINY, "adapt_steps": 2, "adapt_crop": 8, "adapt_autocast": "bfloat16",
                     "adapt_channels_last": True})
    fast.load(ckpt)
    assert fast.config.adapt_autocast == "bfloat16"  # runtime settings survive load
    tc = fast.adapt_train_config(_tiny_inputs())
    assert tc.autocast == "bfloat16" and tc.channels_last
    res = fast.fuse(_tiny_inputs())
    assert res.info["adaptation"]["steps"] == 2 and np.isfinite(res.hr_hsi).all()
