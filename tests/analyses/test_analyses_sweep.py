"""Loss-weight sweep: point configs, loss bookkeeping and a tiny resumable run."""

from __future__ import annotations

import json

import pytest
from analyses_testing import write_small_cave

import mossfuse.analyses.sweep as sweep_mod
from mossfuse.analyses.sweep import SweepConfig, final_losses, point_configs, run_sweep
from mossfuse.errors import MossfuseInputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_point_configs_vary_one_weight_and_switch_sct_on_for_alpha2():
    cfg = SweepConfig(root=".", model={"channels": 8, "heads": 2}, train={"steps": 3})
    m, t = point_configs(cfg, "alpha_sc", 0.5)
    assert (m.alpha_sc, m.alpha_sct, m.alpha_de, m.use_sct_loss) == (0.5, 1.0, 1.0, False)
    assert t.steps == 3 and t.crop == 64 and t.batch_size == 4 and t.threads == 1
    m, _ = point_configs(cfg, "alpha_sct", 0.2)
    assert m.alpha_sct == 0.2 and m.use_sct_loss
    m, _ = point_configs(cfg, "alpha_de", 1e-4)
    assert m.alpha_de == 1e-4 and m.alpha_sc == 0.1
    with pytest.raises(MossfuseInputError, match="unknown weight"):
        point_configs(cfg, "alpha_ma", 1.0)


def test_final_losses_average_the_last_network_steps():
    hist = [{"step": 1, "de": 9.0}]  # a degradation warm-up step: no network terms
    hist += [{"step": i, "ma": float(i), "sc": 1.0, "de": 0.5, "total": 2.0 * i}
             for i in range(2, 7)]
    out = final_losses(hist, 2)
    assert out == {"loss_ma": 5.5, "loss_sc": 1.0, "loss_de": 0.5, "loss_total": 11.0}


def test_tiny_sweep_runs_and_resumes(cave_root, tmp_path_factory, tmp_path, monkeypatch):
    root = write_small_cave(cave_root, tmp_path_factory.mktemp("cave"), ("face", "cd"))
    cfg = SweepConfig(
        root=str(root), train_scenes=["face"], val_scenes=["cd"], val_crop=None,
        grid={"alpha_sc": [0.01, 1.0], "alpha_sct": [1.0]},
        model={"channels": 8, "heads": 2},
        train={"steps": 2, "degradation_warmup_steps": 1, "crop": 32, "batch_size": 2},
        loss_window=2,
    )
    out = tmp_path / "sweep"
    doc = run_sweep(cfg, out, progress=False)
    recs = {(r["weight"], r["value"]): r for r in doc["records"]}
    assert set(recs) == {("alpha_sc", 0.01), ("alpha_sc", 1.0), ("alpha_sct", 1.0)}
    for r in recs.values():
        assert r["steps"] == 3 and r["val_psnr"] > 0 and r["loss_term"] > 0
    assert recs[("alpha_sct", 1.0)]["use_sct_loss"]
    assert "loss_sct" not in recs[("alpha_sc", 1.0)]
    assert doc["train_scenes"] == ["face"] and doc["val_scenes"] == ["cd"]
    for name in ("sweep.md", "sweep.csv", "sweep.json", "sweep.png"):
        assert (out / name).stat().st_size > 0
    md = (out / "sweep.md").read_text()
    assert "## alpha1 (L_SC)" in md and "## alpha2 (L_SCT)" in md
    assert json.loads((out / "points" / "alpha_sc=0.01.json").read_text())["weight"] == "alpha_sc"

    def boom(*a, **k):
        raise AssertionError("a finished point was recomputed")

    monkeypatch.setattr(sweep_mod, "run_point", boom)
    again = run_sweep(cfg, out, progress=False)
    assert [r["val_psnr"] for r in again["records"]] == [r["val_psnr"] for r in doc["records"]]
