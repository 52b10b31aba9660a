"""Efficiency table: parameters, FLOPs, timing and memory of the registered methods, and the
``mossfuse analyze`` CLI."""

from __future__ import annotations

import json

import pytest
import torch

from mossfuse.analyses.efficiency import (
    count_flops,
    parameter_counts,
    run_efficiency,
    training_seconds,
)
from mossfuse.errors import MossfuseInputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_count_flops_of_a_matmul():
    a, b = torch.rand(8, 16), torch.rand(16, 4)
    assert count_flops(lambda: a @ b) == 2 * 8 * 16 * 4


def test_parameter_counts():
    from mossfuse.methods import get_method
    from mossfuse.methods.mossfuse.network import count_parameters

    assert parameter_counts(get_method("gsa")) == {"inference": 0, "total": 0}
    m = get_method("mossfuse", {"hsi_bands": 8, "channels": 8, "heads": 2, "ratio": 4})
    c = count_parameters(m.net, m.degradation)
    assert parameter_counts(m) == {"inference": c.inference, "total": c.total}
    assert 0 < c.inference < c.total


def test_training_seconds_from_summary_log_and_checkpoint_json(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"seconds": 120.0, "steps": 7}))
    (tmp_path / "log.jsonl").write_text('{"step": 1, "seconds": 1.0}\n'
                                        '{"step": 2, "seconds": 2.5}\n')
    (tmp_path / "model.json").write_text(json.dumps({"training_summary": {"seconds": 60.0}}))
    assert training_seconds(tmp_path / "summary.json")["seconds"] == 120.0
    assert training_seconds(tmp_path / "log.jsonl")["steps"] == 2
    assert training_seconds(tmp_path / "model.json")["seconds"] == 60.0
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(MossfuseInputError):
        training_seconds(tmp_path / "bad.json")


def test_efficiency_table_on_a_small_synthetic_scene(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"seconds": 600.0, "steps": 10}))
    doc = run_efficiency(tmp_path / "eff", size=64, protocol="wald-x8",
                         methods=["bicubic", "gsa", "mossfuse"], repeats=1,
                         training={"mossfuse": str(tmp_path / "summary.json")}, progress=False)
    rows = {r["method"]: r for r in doc["rows"]}
    assert rows["gsa"]["params_inference"] == 0 and rows["gsa"]["training_minutes"] == 0
    mf = rows["mossfuse"]
    assert mf["params_inference"] > 100_000 and mf["flops"] > 1e8
    assert mf["flops_training_form"] > 0
    assert mf["training_minutes"] == pytest.approx(10.0)
    assert mf["seconds_median"] > 0 and mf["peak_memory_mb"] >= 0
    md = (tmp_path / "eff" / "efficiency.md").read_text()
    assert "| mossfuse |" in md and ">=" in md  # classical FLOPs marked as lower bounds
    assert (tmp_path / "eff" / "efficiency.csv").read_text().startswith("method,")


def test_analyze_cli_help_and_a_small_efficiency_run(tmp_path, capsys):
    from typer.testing import CliRunner

    from mossfuse.cli import app, main

    runner = CliRunner()
    for cmd in ("robustness", "decoupling", "sweep", "efficiency"):
        res = runner.invoke(app, ["analyze", cmd, "--help"])
        assert res.exit_code == 0, res.output
        assert "Usage" in res.output
    main(["analyze", "efficiency", "--out", str(tmp_path / "e"), "--size", "32",
          "--protocol", "wald-x8", "--methods", "bicubic", "--repeats", "1"])
    assert "bicubic: params 0" in capsys.readouterr().out
    assert (tmp_path / "e" / "efficiency.md").exists()
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "sweep", "--root", str(tmp_path), "--out", str(tmp_path / "s"),
              "--alpha1", "none", "--alpha2", "none", "--alpha3", "none"])
    assert exc.value.code == 2
    assert "nothing to sweep" in capsys.readouterr().err
