"""CAVE reader, splits, dataset cache and checksums. Reads at most a couple of real scenes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mossfuse.data.cave as cave_mod
from mossfuse.data.cave import (
    ALL_SCENES,
    CAVE_WAVELENGTHS_NM,
    DEV_SPLIT,
    OFFICIAL_TEST_SPLIT,
    OFFICIAL_TRAIN_SPLIT,
    CaveDataset,
    read_cave_scene,
    verify_checksums,
)
from mossfuse.data.io import read_cube
from mossfuse.data.scene import Scene
from mossfuse.errors import MossfuseInputError, check_cube

LOCAL_SCENES = (
    "beads", "cd", "chart_and_stuffed_toy", "cloth", "face", "fake_and_real_food",
    "fake_and_real_lemon_slices", "fake_and_real_strawberries", "fake_and_real_sushi",
    "feathers", "flowers", "glass_tiles", "jelly_beans", "oil_painting", "paints", "watercolors",
)


@pytest.fixture(scope="module")
def cd_scene(cave_root: Path) -> Scene:
    return read_cave_scene(cave_root / "cd_ms")


def _link_bands(src: Path, dst: Path, skip: tuple[int, ...] = ()) -> None:
    dst.mkdir(parents=True)
    stem = src.name
    for i in range(1, 32):
        if i not in skip:
            os.symlink(src / f"{stem}_{i:02d}.png", dst / f"{stem}_{i:02d}.png")


# ------------------------------------------------------------------------------ splits
def test_split_constants_partition_the_32_scenes():
    assert len(ALL_SCENES) == len(set(ALL_SCENES)) == 32
    assert len(OFFICIAL_TEST_SPLIT) == 12 and len(OFFICIAL_TRAIN_SPLIT) == 20
    assert set(OFFICIAL_TEST_SPLIT) | set(OFFICIAL_TRAIN_SPLIT) == set(ALL_SCENES)
    assert not set(OFFICIAL_TEST_SPLIT) & set(OFFICIAL_TRAIN_SPLIT)


def test_dev_split_is_12_plus_4_of_the_local_training_scenes():
    train, val = set(DEV_SPLIT["dev-train"]), set(DEV_SPLIT["dev-val"])
    assert len(train) == 12 and len(val) == 4 and not train & val
    assert train | val == set(LOCAL_SCENES)
    assert train | val <= set(OFFICIAL_TRAIN_SPLIT)  # never a test scene


def test_dataset_lists_local_scenes_and_reports_missing_split_members(cave_root, caplog):
    ds = CaveDataset(cave_root)
    assert ds.scenes == LOCAL_SCENES
    assert ds.split("dev-val").present == DEV_SPLIT["dev-val"]
    assert ds.split("dev-val").complete
    with caplog.at_level(logging.WARNING, logger="mossfuse.data.cave"):
        test = ds.split("test")
    assert test.present == () and test.missing == OFFICIAL_TEST_SPLIT
    assert "12 of 12 scenes missing" in caplog.text
    train = ds.split("train")
    assert set(train.present) == set(LOCAL_SCENES) and len(train.missing) == 4
    with pytest.raises(MossfuseInputError, match="unknown CAVE split"):
        ds.split("validation")
    with pytest.raises(MossfuseInputError, match="not found"):
        ds.load("balloons")


# ------------------------------------------------------------------------------ reading
def test_cd_reads_as_31_bands_over_400_700nm_divided_by_65535(cave_root, cd_scene):
    assert cd_scene.name == "cd"
    assert cd_scene.cube.shape == (31, 512, 512) and cd_scene.cube.dtype == np.float32
    np.testing.assert_array_equal(cd_scene.wavelengths_nm, np.arange(400, 701, 10))
    assert cd_scene.meta["scale"] == 65535.0
    check_cube(cd_scene.cube)
    raw = np.asarray(Image.open(cave_root / "cd_ms" / "cd_ms_17.png"))
    assert raw.dtype == np.uint16
    np.testing.assert_allclose(cd_scene.cube[16], raw / 65535.0, rtol=1e-6)


def test_watercolors_quirk_takes_channel_0_of_8bit_rgba(cave_root):
    scene = read_cube(cave_root / "watercolors_ms")  # read_cube dispatches on a folder
    assert scene.name == "watercolors" and scene.cube.shape == (31, 512, 512)
    assert scene.meta["scale"] == 255.0
    raw = np.asarray(Image.open(cave_root / "watercolors_ms" / "watercolors_ms_05.png"))
    assert raw.shape == (512, 512, 4) and raw.dtype == np.uint8
    np.testing.assert_allclose(scene.cube[4], raw[..., 0] / 255.0, rtol=1e-6)
    check_cube(scene.cube)


def test_nested_official_layout_reads_the_same(cave_root, cd_scene, tmp_path):
    _link_bands(cave_root / "cd_ms", tmp_path / "cd_ms" / "cd_ms")
    np.testing.assert_array_equal(read_cave_scene(tmp_path / "cd_ms").cube, cd_scene.cube)
    assert CaveDataset(tmp_path).scenes == ("cd",)


def test_missing_band_is_named(cave_root, tmp_path):
    _link_bands(cave_root / "cd_ms", tmp_path / "cd_ms", skip=(17,))
    with pytest.raises(MossfuseInputError, match="cd_ms_17.png"):
        read_cave_scene(tmp_path / "cd_ms")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_band_is_named(cave_root, tmp_path, damage):
    _link_bands(cave_root / "cd_ms", tmp_path / "cd_ms", skip=(3,))
    raw = (cave_root / "cd_ms" / "cd_ms_03.png").read_bytes()
    content = {"garbage": b"not a png" * 10, "truncated": raw[: len(raw) // 2], "empty": b""}
    (tmp_path / "cd_ms" / "cd_ms_03.png").write_bytes(content[damage])
    with pytest.raises(MossfuseInputError, match="cd_ms_03.png"):
        read_cave_scene(tmp_path / "cd_ms")


def test_folder_without_bands_or_wrong_name_raises(tmp_path):
    (tmp_path / "x_ms").mkdir()
    with pytest.raises(MossfuseInputError, match="no CAVE band files"):
        read_cave_scene(tmp_path / "x_ms")
    (tmp_path / "x").mkdir()
    with pytest.raises(MossfuseInputError, match="_ms"):
        read_cave_scene(tmp_path / "x")
    with pytest.raises(MossfuseInputError, match="not found"):
        CaveDataset(tmp_path / "absent")


# ------------------------------------------------------------------------------ cache
def test_load_caches_lru_and_returns_independent_copies(tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}_ms").mkdir()
        (tmp_path / f"{name}_ms" / f"{name}_ms_01.png").touch()
    calls: list[str] = []

    def fake_read(folder):
        calls.append(Path(folder).name)
        return Scene(np.zeros((31, 2, 2), np.float32), CAVE_WAVELENGTHS_NM, Path(folder).name)

    monkeypatch.setattr(cave_mod, "read_cave_scene", fake_read)
    ds = CaveDataset(tmp_path, cache_size=2)
    first = ds.load("a")
    first.cube[:] = 1.0  # must not leak into the cache
    assert ds.load("a").cube.max() == 0.0
    ds.load("b")
    ds.load("a")  # a is now the most recent
    ds.load("c")  # evicts b
    ds.load("a")
    ds.load("b")
    assert calls == ["a_ms", "b_ms", "c_ms", "b_ms"]


# ------------------------------------------------------------------------------ checksums
def test_checksums_of_one_scene_match(cave_root):
    report = verify_checksums(cave_root, ["cd"])
    assert report.ok and len(report.checked) == 32  # 31 bands + the RGB preview


def test_checksum_mismatch_and_missing_file_are_reported(cave_root, tmp_path):
    root = tmp_path / "cave"
    _link_bands(cave_root / "cd_ms", root / "cd_ms", skip=(2,))
    (root / "cd_ms" / "cd_ms_02.png").write_bytes(b"tampered")
    lines = [ln for ln in (cave_root / "SHA256SUMS").read_text().splitlines() if "/cd_ms/" in ln]
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    report = verify_checksums(root, ["cd"])
    assert not report.ok
    assert report.mismatched == ("cave/cd_ms/cd_ms_02.png",)
    assert report.missing == ("cave/cd_ms/cd_RGB.png",)
    with pytest.raises(MossfuseInputError, match="cd_RGB.png|cd_ms_02.png"):
        verify_checksums(root, ["cd"], strict=True)
