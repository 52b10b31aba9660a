"""The MossFuse training loop: crops, augmentation geometry, schedules, exact resume, files,
validation kept apart from the reference, ``fit`` and the ``train`` command."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from mossfuse_testing import single_threaded_torch, tiny_config  # noqa: F401

from mossfuse.data.scene import FusionInputs, Scene
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.mossfuse import MossFuse
from mossfuse.methods.mossfuse.losses import subspace_clustering_loss
from mossfuse.methods.mossfuse.train import (
    CropSampler,
    PairBatcher,
    ReferenceEvaluator,
    TrainConfig,
    Trainer,
    latest_checkpoint,
    log_to_csv,
    model_geometry,
    network_lr,
    read_log,
    train,
)
from mossfuse.methods.mossfuse.train.step import global_subspace_clustering_loss
from mossfuse.physics import gaussian_kernel, spatial_degrade, spectral_degrade
from mossfuse.physics.degradation import Degradation


@dataclass
class _Case:
    inputs: FusionInputs  # with the known PSF/SRF, as a protocol makes them
    reference: np.ndarray
    kernel: np.ndarray
    srf: np.ndarray


def _case(seed: int = 0, size: int = 32, bands: int = 8) -> _Case:
    """An 8-band smooth synthetic scene degraded at x4 (3-tap Gaussian sigma 1, centre and
    phase 1: the ``wald-x4`` geometry) with a 3-band Gaussian SRF."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(3 * xx * (k + 1) + 2 * yy * k + seed) for k in range(bands)])
    ref = np.clip(0.5 + 0.3 * base + 0.05 * rng.standard_normal(base.shape), 0, 1)
    wl = np.linspace(0, 1, bands)
    srf = np.stack([np.exp(-0.5 * ((wl - c) / 0.15) ** 2) for c in (0.2, 0.5, 0.8)])
    srf /= srf.sum(axis=1, keepdims=True)
    kernel = gaussian_kernel(3, 1.0)
    lr = spatial_degrade(ref, kernel, 4, 1, centre=1)
    hr = spectral_degrade(ref, srf)
    inputs = FusionInputs(lr.astype(np.float32), hr.astype(np.float32), 4,
                          degradation=Degradation(kernel, srf, 4, phase=1, centre=1))
    return _Case(inputs, ref.astype(np.float32), kernel, srf)


def _inputs(seed: int = 0, size: int = 32) -> FusionInputs:
    return _case(seed, size).inputs.blind()


TINY_TRAIN = dict(crop=8, batch_size=2, progress=False, checkpoint_every=0)


# --- sampling ----------------------------------------------------------------------------------
def test_grid_epoch_visits_every_crop_once_and_shards_partition_the_batch():
    s = CropSampler([(8, 8), (6, 6)], lr_crop=2, lr_stride=2, shuffle=True, seed=3)
    assert s.epoch_size == 16 + 9
    epoch = {(c.scene, c.row, c.col) for c in (s.sample(i) for i in range(s.epoch_size))}
    assert len(epoch) == 25
    assert [s.sample(i) for i in range(10)] == [s.sample(i) for i in range(10)]  # pure
    other = CropSampler([(8, 8), (6, 6)], 2, 2, shuffle=True, seed=4)
    assert [s.sample(i) for i in range(25)] != [other.sample(i) for i in range(25)]
    full = s.batch(5, 4)
    assert s.batch(5, 4, rank=0, world_size=2) + s.batch(5, 4, rank=1, world_size=2) == full
    with pytest.raises(MossfuseInputError, match="divisible"):
        s.batch(0, 3, world_size=2)


def test_augmented_training_crops_keep_lr_and_hr_consistent():
    """For every rotation/flip the batcher draws, the true PSF of the HR-MSI crop equals the
    true SRF of the LR-HSI crop (both are the LR-MSI): the geometry survived augmentation."""
    case = _case()
    cfg = tiny_config()
    trainer = Trainer(cfg, TrainConfig(steps=1, augment=True, sampling="random", **TINY_TRAIN),
                      [case.inputs.blind()])
    seen = set()
    for i in range(24):
        spec = trainer.sampler.sample(i)
        seen.add((spec.k_rot, spec.flip))
        lr, hr = trainer.batcher.crop(spec)
        lr_msi_a = spectral_degrade(lr.astype(np.float64), case.srf)
        lr_msi_b = spatial_degrade(hr.astype(np.float64), case.kernel, 4, 1, centre=1)
        np.testing.assert_allclose(lr_msi_a, lr_msi_b, atol=2e-5)
    assert len(seen) >= 5


def test_training_sees_only_fusion_inputs():
    case = _case()
    geo = model_geometry(MossFuse(**tiny_config().model_dump()).degradation)
    with pytest.raises(TypeError, match="never a reference"):
        PairBatcher([case], geo)
    with pytest.raises(TypeError, match="never a reference"):
        Trainer(tiny_config(), TrainConfig(steps=1, **TINY_TRAIN), [Scene(case.reference)])
    batcher = PairBatcher([case.inputs], geo)  # keeps the two images only: PSF/SRF dropped
    assert set(vars(batcher._pairs[0])) == {"lr_hsi", "hr_msi", "warm_target"}
    assert batcher._pairs[0].warm_target is None


def test_cosine_schedule_with_warmup():
    tc = TrainConfig(lr_schedule="cosine", warmup_steps=4, lr_min=1e-6)
    lrs = [network_lr(tc, 1e-3, i, 104) for i in range(104)]
    assert lrs[0] == pytest.approx(2.5e-4) and lrs[3] == pytest.approx(1e-3)
    assert lrs[4] == pytest.approx(1e-3) and lrs[54] == pytest.approx(0.5 * (1e-3 + 1e-6))
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    assert network_lr(tc, 1e-3, 104, 104) == pytest.approx(1e-6)


def test_global_sc_loss_equals_the_single_process_one():
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 4, 5, 5, generator=g) for _ in range(4)]
    torch.testing.assert_close(global_subspace_clustering_loss(*feats),
                               subspace_clustering_loss(*feats), rtol=1e-5, atol=1e-6)


# --- the loop ----------------------------------------------------------------------------------
def test_degradation_warmup_trains_only_the_psf_and_srf():
    tc = TrainConfig(steps=0, degradation_warmup_steps=30, lr_degradation_warmup=0.1,
                     **TINY_TRAIN)
    trainer = Trainer(tiny_config(), tc, [_inputs()])
    net0 = {k: v.clone() for k, v in trainer.state.net.state_dict().items()}
    res = trainer.run()
    assert res.steps == 30 and set(res.last) >= {"de", "lr", "psf_sigma"} and "ma" not in res.last
    for k, v in trainer.state.net.state_dict().items():
        assert torch.equal(v, net0[k]), k
    assert res.last["psf_sigma"] > 0.3  # moved from 0.2 px towards the true 1 px
    assert res.history[0]["de"] > res.history[-1]["de"]


def _tc(**kw) -> TrainConfig:
    base = dict(TINY_TRAIN, steps=4, lr=2e-3, lr_degradation=1e-2, lr_schedule="cosine",
                warmup_steps=1, degradation_warmup_steps=2, shuffle=True, seed=7)
    base.update(kw)
    return TrainConfig(**base)


def test_resume_continues_exactly(tmp_path):
    """6 steps straight == 3 steps, stop, resume for 3 more (weights, BN stats, Adam state)."""
    inputs = [_inputs(0), _inputs(1)]
    cfg = tiny_config()
    straight = train(cfg, _tc(), inputs, tmp_path / "a")
    half = _tc(steps=1, checkpoint_every=3)  # 2 warm-up + 1 network step, then stop
    first = train(cfg, half, inputs, tmp_path / "b")
    assert first.steps == 3
    resumed = train(cfg, _tc(), inputs, tmp_path / "b", resume=True)
    assert resumed.steps == straight.steps == 6
    a, b = straight.state, resumed.state
    for (k, va), vb in zip(a.net.state_dict().items(), b.net.state_dict().values(), strict=True):
        torch.testing.assert_close(va, vb, rtol=0, atol=1e-6, msg=k)
    for va, vb in zip(a.degradation.parameters(), b.degradation.parameters(), strict=True):
        torch.testing.assert_close(va, vb, rtol=0, atol=1e-6)
    log_a = [r["total"] for r in read_log(tmp_path / "a" / "train_log.jsonl") if "total" in r]
    log_b = [r["total"] for r in read_log(tmp_path / "b" / "train_log.jsonl") if "total" in r]
    assert log_a == pytest.approx(log_b, abs=1e-6) and len(log_a) == 4
    # a changed trajectory setting is refused; the run folder is not silently reused
    with pytest.raises(MossfuseInputError, match="cannot resume"):
        train(cfg, _tc(batch_size=4), inputs, tmp_path / "b", resume=True)
    with pytest.raises(MossfuseInputError, match="already holds"):
        train(cfg, _tc(), inputs, tmp_path / "b")


def test_sessions_build_one_run_with_one_schedule(tmp_path):
    """A 7-step cosine run in three sessions (2 + 3 + the rest, new Trainer each time, as
    separate processes would) equals the run made in one go: same learning rates at every
    step, same weights; a session that ends early says so and leaves a checkpoint."""
    inputs = [_inputs(0), _inputs(1)]
    cfg, tc = tiny_config(), _tc(steps=5, checkpoint_every=0)  # 2 warm-up + 5 network steps
    straight = train(cfg, tc, inputs, tmp_path / "a")
    first = train(cfg, tc, inputs, tmp_path / "b", session_steps=2)
    assert first.steps == 2 and first.summary()["complete"] is False
    # checkpointed although checkpoint_every=0
    assert latest_checkpoint(tmp_path / "b").name == "ckpt_00000002"
    second = train(cfg, tc, inputs, tmp_path / "b", resume=True, session_steps=3)
    assert second.steps == 5 and not second.summary()["complete"]
    last = train(cfg, tc, inputs, tmp_path / "b", resume=True, session_steps=100)
    assert last.steps == straight.steps == 7 and last.summary()["complete"] is True
    for (k, va), vb in zip(straight.state.net.state_dict().items(),
                           last.state.net.state_dict().values(), strict=True):
        torch.testing.assert_close(va, vb, rtol=0, atol=1e-6, msg=k)
    rec_a = read_log(tmp_path / "a" / "train_log.jsonl")
    rec_b = read_log(tmp_path / "b" / "train_log.jsonl")
    assert [r["step"] for r in rec_b] == list(range(1, 8))
    assert [r["lr"] for r in rec_b] == pytest.approx([r["lr"] for r in rec_a], rel=1e-12)
    tot_a, tot_b = ([r["total"] for r in rec if "total" in r] for rec in (rec_a, rec_b))
    assert len(tot_a) == 5 and tot_b == pytest.approx(tot_a, abs=1e-6)
    # a time limit ends a session too (after its first step at the latest)
    timed = train(cfg, tc, inputs, tmp_path / "c", session_seconds=1e-9)
    assert timed.steps == 1 and not timed.summary()["complete"]
    with pytest.raises(MossfuseInputError, match="session_steps"):
        train(cfg, tc, inputs, tmp_path / "d", session_steps=0)


def test_run_folder_files_and_validation_apart_from_the_reference(tmp_path):
    case = _case(5)
    seen: list[object] = []

    class Spy(ReferenceEvaluator):
        def __call__(self, fuse):
            seen.append(fuse)
            with pytest.raises(TypeError):
                fuse(case)  # the fuse function takes FusionInputs only
            return super().__call__(fuse)

    ev = Spy([("s5", case.inputs, case.reference)])
    res = train(tiny_config(), _tc(validate_every=2, checkpoint_every=2), [_inputs(0)],
                tmp_path, evaluator=ev)
    assert len(seen) == 2  # steps 4 and 6: none during the 2 degradation warm-up steps
    rec = read_log(tmp_path / "train_log.jsonl")
    assert [r["step"] for r in rec] == [1, 2, 3, 4, 5, 6]
    assert {"ma", "sc", "de", "total", "lr", "psf_sigma", "seconds"} <= set(rec[-1])
    assert math.isfinite(rec[-1]["val_psnr"]) and "val_sam" in rec[-1] and "val_psnr/s5" in rec[-1]
    assert rec[0]["lr"] == 0.0 and rec[2]["lr"] == pytest.approx(2e-3)
    stem = latest_checkpoint(tmp_path)
    assert stem is not None and stem.name == "ckpt_00000006"
    assert len(list((tmp_path / "checkpoints").glob("ckpt_*.json"))) == 2  # keep_checkpoints
    doc = json.loads(stem.with_suffix(".json").read_text())
    assert doc["training"]["step"] == 6 and doc["training"]["train_config"]["seed"] == 7
    for name in ("model", "best"):
        m = MossFuse()
        m.load(tmp_path / f"{name}.safetensors")
        assert m.trained and m.config == res.state.cfg
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 6
    rows = log_to_csv(tmp_path / "train_log.jsonl", tmp_path / "curve.csv").read_text()
    assert rows.splitlines()[0].startswith("step,de,") and len(rows.splitlines()) == 7


def test_fit_single_scene_then_fuse():
    m = MossFuse(channels=8, heads=2)  # default B/b/r: adapted to the inputs
    x = _inputs(2)
    summary = m.fit(x, steps=2, crop=8, progress=False)
    assert m.trained and summary["steps"] == 2 and m.config.ratio == 4 and m.config.hsi_bands == 8
    assert m.fuse(x).hr_hsi.shape == (8, 32, 32)
    with pytest.raises(MossfuseInputError, match="exactly one"):
        MossFuse(channels=8, heads=2).fit([x, x], mode="single-scene", steps=1, crop=8)


# --- the command -------------------------------------------------------------------------------
def test_train_command_single_scene(tmp_path, capsys):
    from mossfuse.cli.train import main
    from mossfuse.data.io import write_cube

    case = _case(3)
    write_cube(case.inputs.lr_hsi, tmp_path / "lr.npy")
    write_cube(case.inputs.hr_msi, tmp_path / "hr.npy")
    write_cube(case.reference, tmp_path / "ref.npy")
    (tmp_path / "cfg.json").write_text(json.dumps(
        {"model": {"channels": 8, "heads": 2}, "train": {"crop": 8, "checkpoint_every": 0}}
    ))
    out = tmp_path / "run"
    main(["--lr-hsi", str(tmp_path / "lr.npy"), "--hr-msi", str(tmp_path / "hr.npy"),
          "--reference", str(tmp_path / "ref.npy"), "--protocol", "wald-x4",
          "--config", str(tmp_path / "cfg.json"), "--steps", "2", "--out", str(out),
          "--fused", str(tmp_path / "fused.npy"), "--threads", "1"])
    assert "done: 2 steps" in capsys.readouterr().out
    assert (out / "model.safetensors").exists() and (tmp_path / "fused.npy").exists()
    assert "val_psnr" in read_log(out / "train_log.jsonl")[-1]
    with pytest.raises(SystemExit) as exc:
        main(["--lr-hsi", str(tmp_path / "lr.npy"), "--out", str(out)])
    assert exc.value.code == 2


def train_console_command(tmp_path, seed: int, steps: int) -> list[str]:
    """The installed ``mossfuse train`` command (no ``--out``) on a tiny single-scene pair
    written to ``tmp_path`` (a tiny model, 8 px crops, one thread, no progress bar)."""
    import shutil
    import sys

    from mossfuse.data.io import write_cube

    case = _case(seed)
    write_cube(case.inputs.lr_hsi, tmp_path / "lr.npy")
    write_cube(case.inputs.hr_msi, tmp_path / "hr.npy")
    (tmp_path / "cfg.json").write_text(json.dumps(
        {"model": {"channels": 8, "heads": 2}, "train": {"crop": 8, "checkpoint_every": 0}}))
    exe = shutil.which("mossfuse")
    return ([exe] if exe else [sys.executable, "-m", "mossfuse.cli"]) + [
        "train", "--lr-hsi", str(tmp_path / "lr.npy"), "--hr-msi", str(tmp_path / "hr.npy"),
        "--config", str(tmp_path / "cfg.json"), "--steps", str(steps), "--threads", "1",
        "--no-progress"]


def test_train_command_in_sessions_through_the_console_script(tmp_path):
    """``mossfuse train --session-steps`` ends with a checkpoint and says how to go on; the
    same command with ``--resume`` finishes the run (installed console script, subprocess)."""
    import subprocess

    cmd = train_console_command(tmp_path, 4, 3) + ["--out", str(tmp_path / "run")]
    first = subprocess.run(cmd + ["--session-steps", "2"], capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    assert "stopped at step 2 of 3" in first.stdout and "--resume" in first.stdout
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "done: 3 steps" in again.stdout
    assert [r["step"] for r in read_log(tmp_path / "run" / "train_log.jsonl")] == [1, 2, 3]
    bad = subprocess.run(cmd + ["--session-steps", "0"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


@pytest.mark.shared_data
def test_train_command_cave_keeps_references_out_of_training(tmp_path, monkeypatch,
                                                             cave_root):
    from mossfuse.cli.train import main
    from mossfuse.methods.mossfuse import train as trainer_mod

    got = {}
    real_train = trainer_mod.train

    def spy(model_cfg, train_cfg, inputs, out_dir, **kw):
        got["inputs"], got["evaluator"] = inputs, kw["evaluator"]
        return real_train(model_cfg, train_cfg, inputs, out_dir, **kw)

    monkeypatch.setattr(trainer_mod, "train", spy)
    (tmp_path / "cfg.json").write_text(json.dumps({"model": {"channels": 8, "heads": 2}}))
    main(["--dataset", "cave", "--root", str(cave_root), "--scenes", "beads",
          "--val-scenes", "face", "--val-crop", "64", "--crop", "64", "--steps", "1",
          "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "run")])
    (x,) = got["inputs"]
    assert isinstance(x, FusionInputs) and x.srf is None and x.psf is None and x.phase == 15
    assert got["evaluator"].names == ["face"]
    assert "val_psnr" in read_log(tmp_path / "run" / "train_log.jsonl")[-1]


# --- training against a known degradation ------------------------------------------------------
def test_known_degradation_is_held_fixed_while_the_network_trains():
    from mossfuse.methods.mossfuse.degradation import DegradationModule

    case = _case(2)
    deg = DegradationModule.from_known(case.kernel, case.srf, 4, 1, 1)
    assert torch.allclose(deg.kernel(), torch.as_tensor(case.kernel, dtype=torch.float32))
    assert torch.allclose(deg.srf(), torch.as_tensor(case.srf, dtype=torch.float32))
    tc = TrainConfig(steps=3, lr=1e-3, known_degradation=True, degradation_after_warmup="frozen",
                     **TINY_TRAIN)
    cfg = tiny_config(degradation_model="free", psf_size=3, phase=1)
    trainer = Trainer(cfg, tc, [case.inputs.blind()], degradation=deg)
    net0 = {k: v.clone() for k, v in trainer.state.net.state_dict().items()}
    deg0 = {k: v.clone() for k, v in deg.state_dict().items()}
    trainer.run()
    for k, v in trainer.state.degradation.state_dict().items():
        assert torch.equal(v, deg0[k]), k
    assert any(not torch.equal(v, net0[k]) for k, v in trainer.state.net.state_dict().items())


def test_known_degradation_needs_a_frozen_module_and_no_warmup():
    with pytest.raises(ValueError, match="known_degradation"):
        TrainConfig(known_degradation=True)
    with pytest.raises(ValueError, match="known_degradation"):
        TrainConfig(known_degradation=True, degradation_after_warmup="frozen",
                    degradation_warmup_steps=5)


def test_train_command_known_degradation_refuses_single_scene(tmp_path, capsys):
    from mossfuse.cli.train import main
    from mossfuse.data.io import write_cube

    case = _case(3)
    write_cube(case.inputs.lr_hsi, tmp_path / "lr.npy")
    write_cube(case.inputs.hr_msi, tmp_path / "hr.npy")
    with pytest.raises(SystemExit) as exc:
        main(["--lr-hsi", str(tmp_path / "lr.npy"), "--hr-msi", str(tmp_path / "hr.npy"),
              "--known-degradation", "--out", str(tmp_path / "run")])
    assert exc.value.code == 2
    assert "--known-degradation needs --dataset" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.shared_data
def test_train_command_cave_known_degradation(tmp_path, cave_root):
    from mossfuse.cli.train import main
    from mossfuse.physics import get_protocol

    (tmp_path / "cfg.json").write_text(json.dumps({"model": {"channels": 8, "heads": 2}}))
    main(["--dataset", "cave", "--root", str(cave_root), "--scenes", "beads",
          "--crop", "64", "--steps", "1", "--known-degradation",
          "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "run")])
    m = MossFuse()
    m.load(tmp_path / "run" / "model.safetensors")
    true = get_protocol("mossfuse-x32").degradation(np.arange(400, 701, 10.0))
    est = m.degradation.export()
    assert np.abs(est["kernel"] - true.psf).max() < 1e-6
    assert np.abs(est["srf"] - true.srf).max() < 1e-6
    doc = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert doc["train"]["known_degradation"] is True
