import json

import numpy as np
import pytest
from PIL import Image

from mossfuse.bench.runner import BenchmarkConfig, run_benchmark
from mossfuse.data.scene import FusionInputs
from mossfuse.methods.base import FusionMethod, FusionResult, register_method


def _fake_cave(root, names=("alpha", "beta"), size=64, seed=0):
    """A CAVE-layout folder of tiny smooth synthetic scenes (16-bit PNG bands)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for n in names:
        folder = root / f"{n}_ms"
        folder.mkdir(parents=True)
        a, b = rng.random(2)
        for k in range(31):
            band = 0.5 + 0.4 * np.sin(6 * (a + k / 31) * xx + 4 * b * yy)
            png = Image.fromarray((band * 65535).astype(np.uint16))
            png.save(folder / f"{n}_ms_{k + 1:02d}.png")
    return root


calls: list[str] = []


class _Spy(FusionMethod):
    """Records what it receives; returns bicubic-free nearest upsampling."""

    name = "_spy_for_tests"

    def _fuse(self, inputs):
        calls.append(type(inputs).__name__)
        assert isinstance(inputs, FusionInputs)
        r = inputs.ratio
        return FusionResult(np.repeat(np.repeat(inputs.lr_hsi, r, 1), r, 2))


def test_benchmark_writes_tables_and_resumes(tmp_path):
    register_method(_Spy)  # unregistered after the test (tests/conftest.py)
    root = _fake_cave(tmp_path / "cave")
    cfg = BenchmarkConfig(root=str(root), protocol="wald-x8", methods=["bicubic", "_spy_for_tests"],
                          profiles=["mossfuse-paper", "standard"], figures=True)
    calls.clear()
    summary = run_benchmark(cfg, tmp_path / "out", progress=False)
    assert calls == ["FusionInputs", "FusionInputs"]
    out = tmp_path / "out"
    for f in ("config.json", "per_scene.csv", "summary.json", "results.md"):
        assert (out / f).stat().st_size > 0
    assert len(list((out / "records").glob("*.json"))) == 4
    assert (out / "figures" / "alpha_composites.png").exists()
    means = summary["means"]
    paper = {m: v["mossfuse-paper"] for m, v in means.items()}
    assert paper["bicubic"]["psnr"] > paper["_spy_for_tests"]["psnr"]
    assert "versions" in json.loads((out / "config.json").read_text())
    # resume: nothing is recomputed
    calls.clear()
    again = run_benchmark(cfg, out, progress=False)
    assert calls == []
    assert again["means"] == summary["means"]


def test_blind_mode_hides_degradation(tmp_path):
    root = _fake_cave(tmp_path / "cave", names=("alpha",))
    seen = []

    @register_method
    class _Check(FusionMethod):
        name = "_check_blind"

        def _fuse(self, inputs):
            seen.append((inputs.srf, inputs.psf))
            r = inputs.ratio
            return FusionResult(np.repeat(np.repeat(inputs.lr_hsi, r, 1), r, 2))

    cfg = BenchmarkConfig(root=str(root), protocol="wald-x8", methods=["_check_blind"],
                          degradation="blind", figures=False)
    run_benchmark(cfg, tmp_path / "out", progress=False)
    assert seen == [(None, None)]


def test_unknown_scene_or_method_is_a_clear_error(tmp_path):
    from mossfuse.errors import MossfuseInputError

    root = _fake_cave(tmp_path / "cave", names=("alpha",))
    with pytest.raises(MossfuseInputError, match="present"):
        run_benchmark(BenchmarkConfig(root=str(root), scenes=["nope"]), tmp_path / "o",
                      progress=False)
    with pytest.raises(MossfuseInputError, match="unknown methods"):
        run_benchmark(BenchmarkConfig(root=str(root), methods=["nope"]), tmp_path / "o",
                      progress=False)
