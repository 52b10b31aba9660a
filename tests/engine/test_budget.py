"""The memory budget: parsing sizes, the default limit, the peak model and the tiling choice."""

from __future__ import annotations

import builtins

import pytest

from mossfuse.engine import budget
from mossfuse.engine.budget import (
    choose_tiling,
    default_memory_limit,
    estimate_tiled_peak,
    estimate_whole_image_peak,
    parse_memory,
)
from mossfuse.engine.tiling import default_overlap, default_tile, plan_tiles
from mossfuse.errors import MossfuseInputError


@pytest.mark.parametrize("text, expected", [
    ("4GB", 4 * 10**9), ("4 gb", 4 * 10**9), ("512MiB", 512 * 2**20), ("2g", 2 * 2**30),
    ("1.5GiB", 3 * 2**29), ("1048576", 1048576), ("300 kB", 300_000), (" 7 B ", 7), (2048, 2048),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "4 parsecs", "-1GB", "0", "1e3", "four", "4 G B",
                                  True])
def test_parse_memory_rejects(text):
    with pytest.raises(MossfuseInputError):
        parse_memory(text)


def test_default_memory_limit_is_half_available_capped(monkeypatch):
    monkeypatch.setattr(budget, "_available_ram", lambda: 2 * 2**30)
    assert default_memory_limit() == 2**30
    monkeypatch.setattr(budget, "_available_ram", lambda: 64 * 2**30)
    assert default_memory_limit() == 4 * 2**30
    monkeypatch.setattr(budget, "_available_ram", lambda: None)
    assert default_memory_limit() == 4 * 2**30


def test_available_ram_without_psutil(monkeypatch):
    real_import = builtins.__import__

    def no_psutil(name, *args, **kwargs):
        if name == "psutil":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psutil)
    avail = budget._available_ram()
    assert avail is not None and avail > 2**20  # /proc/meminfo (Linux) or sysconf


def test_whole_peak_grows_with_pixels_and_bands():
    small = estimate_whole_image_peak("scalmu", 31, 3, (512, 512), 32)
    big = estimate_whole_image_peak("scalmu", 31, 3, (2048, 2048), 32)
    more_bands = estimate_whole_image_peak("scalmu", 62, 3, (2048, 2048), 32)
    assert small < big < more_bands
    # calibrated at 2048 px: 3139 MiB measured (benchmarks/memory_model/table.md)
    assert 2.9e9 < big < 3.7e9
    # a plugin without a calibration gets the most memory-hungry model
    assert estimate_whole_image_peak("plugin-x", 31, 3, (2048, 2048), 32) >= big


def test_choose_tiling_none_when_it_fits():
    assert choose_tiling("gsa", 31, 3, (512, 512), 32, 4 * 2**30) is None
    assert choose_tiling("scalmu", 31, 3, (8192, 8192), 32, 10**12) is None


def test_choose_tiling_tiles_large_scenes_within_budget():
    limit = 4 * 2**30
    c = choose_tiling("scalmu", 31, 3, (8192, 8192), 32, limit)
    assert c is not None and c.fits
    assert c.tile == default_tile(32, "scalmu") and c.overlap == default_overlap(c.tile, 32)
    assert c.tiled_peak_bytes <= limit < c.whole_peak_bytes
    assert "tiling" in c.reason and "memory limit" in c.reason and "\n" not in c.reason
    plan_tiles((8192, 8192), 32, c.tile, c.overlap)  # a valid plan


def test_choose_tiling_shrinks_tiles_for_a_small_budget():
    limit = 600 * 2**20
    c = choose_tiling("scalmu", 31, 3, (8192, 8192), 32, limit)
    assert c is not None and c.tile < default_tile(32, "scalmu") and c.tile % 32 == 0
    assert c.fits == (c.tiled_peak_bytes <= limit)
    tiny = choose_tiling("scalmu", 31, 3, (8192, 8192), 32, 2**20)
    assert tiny is not None and not tiny.fits and tiny.tile == 4 * 32
    assert "still over the limit" in tiny.reason


def test_buffered_output_counts_the_whole_output():
    streamed = estimate_tiled_peak("gsa", 31, 3, (4096, 4096), 32, 1024, 128)
    buffered = estimate_tiled_peak("gsa", 31, 3, (4096, 4096), 32, 1024, 128,
                                   streamed_output=False)
    assert buffered - streamed == 4 * 31 * 4096 * 4096


def test_serial_and_dask_share_the_default_tile():
    # one function decides: TiledFusion.plan passes the method's name whatever the executor
    from mossfuse.engine.tiling import TiledFusion
    from mossfuse.methods import get_method

    class FakeSource:
        hr_shape, ratio = (4096, 4096), 32

    m = get_method("gsa")
    serial = TiledFusion(m).plan(FakeSource())
    dask = TiledFusion(m, executor=object()).plan(FakeSource())  # type: ignore[arg-type]
    assert serial.tile == dask.tile == default_tile(32, "gsa")


def test_method_default_tiles_come_from_the_quality_benchmark_and_respect_16r():
    from mossfuse.engine.tiling import METHOD_TILE_PX

    # benchmarks/tile_quality/results_2048.md: 512 px tiles scored best for these at x32
    for name in ("gsa", "scalmu", "cnmf", "hysure"):
        assert METHOD_TILE_PX[name] == 512 and default_tile(32, name) == 512
    assert default_tile(64, "scalmu") == 16 * 64  # never under 16 LR samples a side
    assert default_tile(32, "bicubic") == 1024 and default_tile(8, None) == 512
    for r in (4, 8, 32, 64):
        for name in (*METHOD_TILE_PX, "mossfuse", None):
            t = default_tile(r, name)
            assert t % r == 0 and t >= 16 * r
