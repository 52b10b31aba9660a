"""`mossfuse train --method scalmu` (synthetic pairs only) and its refusals."""

from __future__ import annotations

import json

import pytest

from mossfuse.cli.train import main


def test_train_scalmu_cli(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"n_layers": 1, "n_endmembers": 3, "n_init": 3, "n_sub": 1,
                               "n_val": 1, "validate_every": 1}))
    main(["--method", "scalmu", "--protocol", "wald-x8", "--crop", "32", "--steps", "1",
          "--threads", "1", "--config", str(cfg), "--out", str(tmp_path / "run"), "--no-progress"])
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["protocol"] == "wald-x8" and meta["ratio"] == 8


def test_train_scalmu_refuses_real_datasets(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--method", "scalmu", "--dataset", "cave", "--out", str(tmp_path / "r")])
    assert exc.value.code == 2
    assert "synthetic dead-leaves pairs only" in capsys.readouterr().err


def test_unknown_method(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--method", "nope", "--out", str(tmp_path / "r")])
    assert exc.value.code == 2
