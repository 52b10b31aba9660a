"""Training options that change speed or the start of training: channels-last, bfloat16
autocast, warm start from a classical fusion (``TrainConfig``; issue #15's dB-per-CPU-hour
study, ``benchmarks/mossfuse_cpu/speed_study.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mossfuse_testing import single_threaded_torch, tiny_config  # noqa: F401
from test_mossfuse_trainer import TINY_TRAIN, _case, _inputs, train_console_command

from mossfuse.methods.gsa import GSA
from mossfuse.methods.mossfuse.train import TrainConfig, Trainer, train
from mossfuse.methods.mossfuse.train.loop import warm_start_targets
from mossfuse.methods.mossfuse.train.sampling import PairBatcher


def _run(**kw):
    tc = TrainConfig(**{**TINY_TRAIN, "steps": 3, "lr": 2e-3, "seed": 1, **kw})
    return train(tiny_config(), tc, [_inputs(0), _inputs(1)])


def test_channels_last_trains_the_same_model():
    plain, cl = _run(), _run(channels_last=True)
    conv = next(m for m in cl.state.net.modules() if isinstance(m, torch.nn.Conv2d)
                and m.weight.shape[-1] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(plain.history, cl.history, strict=True):
        assert a["total"] == pytest.approx(b["total"], rel=1e-4)
    # (weights are not compared: Adam turns float-rounding-sized gradient differences of
    # near-zero parameters into lr-sized steps)


def test_bfloat16_autocast_rounds_the_forward_pass_only():
    plain, bf = _run(), _run(autocast="bfloat16")
    first_a, first_b = plain.history[0], bf.history[0]
    assert first_b["ma"] == pytest.approx(first_a["ma"], rel=2e-2)  # bf16: ~3 digits
    assert first_b["ma"] != first_a["ma"]  # it did run in bfloat16
    for p in bf.state.net.parameters():
        assert p.dtype == torch.float32  # weights and optimiser stay float32
    assert bf.state.net.inference_path() is not None


def test_warm_start_crops_follow_the_hr_msi_through_every_augmentation():
    case = _case()
    x = case.inputs.blind()
    # a target whose first 3 bands are the HR-MSI itself: its crop must equal the MSI crop
    target = np.concatenate([x.hr_msi, np.zeros((5, *x.hr_msi.shape[1:]), np.float32)])
    trainer = Trainer(tiny_config(), TrainConfig(steps=1, sampling="random", **TINY_TRAIN), [x])
    batcher = PairBatcher([x], trainer.batcher.geometry, [target])
    seen = set()
    for i in range(24):
        spec = trainer.sampler.sample(i)
        seen.add((spec.k_rot, spec.flip))
        lr, hr, warm = batcher.crop(spec, warm=True)
        lr0, hr0 = batcher.crop(spec)
        np.testing.assert_array_equal(lr, lr0)
        np.testing.assert_array_equal(hr, hr0)
        np.testing.assert_array_equal(warm[:3], hr)
        assert warm.shape == (8, *hr.shape[1:])
    assert len(seen) >= 5
    with pytest.raises(Exception, match="shape"):
        PairBatcher([x], trainer.batcher.geometry, [target[:, :4]])


def test_warm_start_targets_are_blind_gsa_of_the_inputs_alone():
    case = _case()
    known, blind = case.inputs, case.inputs.blind()
    (from_known,), (from_blind,) = warm_start_targets([known], "gsa"), warm_start_targets(
        [blind], "gsa")
    np.testing.assert_array_equal(from_known, from_blind)  # the known PSF/SRF is not used
    np.testing.assert_allclose(from_blind, np.clip(GSA().fuse(blind).hr_hsi, 0, 1))
    assert warm_start_targets([blind], "none") is None


def test_warm_start_adds_its_term_for_the_first_network_steps_only():
    res = _run(steps=4, degradation_warmup_steps=2, warm_start="gsa", warm_start_steps=2,
               warm_start_weight=0.5)
    warm = ["warm" in h for h in res.history]
    assert warm == [False, False, True, True, False, False]
    for h in res.history[2:4]:
        base = h["ma"] + tiny_config().alpha_sc * h["sc"]
        assert h["network"] == pytest.approx(base + 0.5 * h["warm"], rel=1e-5)


def test_warm_start_needs_its_steps():
    with pytest.raises(ValueError, match="go together"):
        TrainConfig(warm_start="gsa")
    with pytest.raises(ValueError, match="go together"):
        TrainConfig(warm_start_steps=5)


def test_train_command_speed_and_warm_start_options_through_the_console_script(tmp_path):
    import json
    import subprocess

    cmd = train_console_command(tmp_path, 5, 2)
    ok = subprocess.run(cmd + ["--out", str(tmp_path / "run"), "--autocast", "bfloat16",
                               "--channels-last", "--warm-start", "gsa",
                               "--warm-start-steps", "1"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    train_cfg = json.loads((tmp_path / "run" / "train_config.json").read_text())["train"]
    assert (train_cfg["autocast"], train_cfg["channels_last"], train_cfg["warm_start"],
            train_cfg["warm_start_steps"]) == ("bfloat16", True, "gsa", 1)
    log = [json.loads(line) for line in
           (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert ["warm" in r for r in log] == [True, False]
    for bad_args in (["--autocast", "float16"], ["--warm-start", "gsa"]):
        bad = subprocess.run(cmd + ["--out", str(tmp_path / "bad"), *bad_args],
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert not (tmp_path / "bad").exists()
