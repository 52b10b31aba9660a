"""The ``paper`` training recipe (the paper's stated schedule) and ``mossfuse train --recipe``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mossfuse_testing import single_threaded_torch  # noqa: F401

from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.train import TrainConfig, read_log, recipe


def test_paper_recipe_is_the_papers_schedule():
    model, train = recipe("paper")
    tc, mc = TrainConfig(**train), MossFuseConfig(**model)
    assert (tc.epochs, tc.crop, tc.batch_size, tc.sampling) == (300, 128, 2, "grid")
    assert (tc.lr, tc.lr_schedule, tc.lr_min) == (1e-3, "cosine", 1e-6)
    assert tc.device == "auto" and tc.steps is None
    assert (mc.alpha_sc, mc.alpha_sct, mc.alpha_de, mc.use_sct_loss) == (0.1, 1.0, 1.0, True)
    # 49 grid crops per 512 px image, 16 images, batch 2: 392 steps an epoch
    assert tc.network_steps(49 * 16) == 300 * 392
    with pytest.raises(ValueError, match="unknown training recipe"):
        recipe("nope")


def test_train_command_runs_the_paper_recipe_on_cpu_for_a_few_steps(tmp_path, capsys):
    from mossfuse.cli.train import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "lr.npy", rng.random((32, 32, 8), dtype=np.float32))  # H x W x bands
    np.save(tmp_path / "hr.npy", rng.random((128, 128, 3), dtype=np.float32))
    (tmp_path / "small.json").write_text(json.dumps({"model": {"channels": 8, "heads": 2}}))
    out = tmp_path / "run"
    main(["--lr-hsi", str(tmp_path / "lr.npy"), "--hr-msi", str(tmp_path / "hr.npy"),
          "--recipe", "paper", "--config", str(tmp_path / "small.json"), "--steps", "3",
          "--device", "cpu", "--threads", "1", "--out", str(out)])
    assert "done: 3 steps" in capsys.readouterr().out
    doc = json.loads((out / "train_config.json").read_text())
    t, m = doc["train"], doc["model"]
    assert (t["crop"], t["lr"], t["lr_schedule"], t["lr_min"], t["device"]) == (
        128, 1e-3, "cosine", 1e-6, "cpu")
    assert t["steps"] == 3 and t["epochs"] is None  # --steps replaces the 300 epochs
    assert m["use_sct_loss"] and (m["alpha_sc"], m["alpha_sct"], m["alpha_de"]) == (0.1, 1, 1)
    assert m["channels"] == 8  # --config overrides the recipe
    log = read_log(out / "train_log.jsonl")
    assert log[0]["lr"] == pytest.approx(1e-3) and log[-1]["lr"] < log[0]["lr"]  # cosine
    assert "sct" in log[-1]
    with pytest.raises(SystemExit) as exc:
        main(["--lr-hsi", str(tmp_path / "lr.npy"), "--hr-msi", str(tmp_path / "hr.npy"),
              "--device", "tpu", "--out", str(tmp_path / "run2")])
    assert exc.value.code == 2
