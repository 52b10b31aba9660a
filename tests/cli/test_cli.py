"""End-to-end CLI behaviour, in process (``mossfuse.cli.main``), as a user would call it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io as sio

from mossfuse.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _pair(tmp_path, r=4, bands=31, h=4, w=5, lr_dtype=np.float32):
    rng = np.random.default_rng(0)
    lr = rng.random((h, w, bands)).astype(lr_dtype)
    hr = rng.random((h * r, w * r, 3)).astype(np.float32)
    np.save(tmp_path / "lr.npy", lr)
    np.save(tmp_path / "hr.npy", hr)
    return tmp_path / "lr.npy", tmp_path / "hr.npy"


def test_simulate_fuse_evaluate_on_real_cave_scene(capsys, tmp_path, cave_root):
    from reference_testing import independent_x32

    code, out, err = run(capsys, "simulate", "--dataset", "cave", "--root", cave_root,
                         "--protocol", "mossfuse-x32", "--scenes", "cd", "--out", tmp_path)
    assert code == 0, err
    folder = tmp_path / "cd"
    lr = np.load(folder / "lr_hsi.npy")
    hr = np.load(folder / "hr_msi.npy")
    ref = np.load(folder / "reference.npy")
    assert lr.shape == (16, 16, 31) and hr.shape == (512, 512, 3) and ref.shape == (512, 512, 31)
    assert json.loads((folder / "protocol.json").read_text())["name"] == "mossfuse-x32"
    exp_lr, exp_hr = independent_x32(np.moveaxis(ref.astype(np.float64), -1, 0))
    assert np.abs(np.moveaxis(lr, -1, 0) - exp_lr).max() <= 1e-6
    assert np.abs(np.moveaxis(hr, -1, 0) - exp_hr).max() <= 1e-6

    code, out, err = run(capsys, "fuse", "--lr-hsi", folder / "lr_hsi.npy", "--hr-msi",
                         folder / "hr_msi.npy", "--method", "bicubic", "--out", tmp_path / "f.npy")
    assert code == 0, err
    code, out, err = run(capsys, "evaluate", "--pred", tmp_path / "f.npy", "--ref",
                         folder / "reference.npy", "--ratio", "32", "--profile",
                         "mossfuse-paper", "--json")
    assert code == 0, err
    vals = json.loads(out)
    assert abs(vals["psnr"] - 25.25) < 0.01  # spec anchor: bicubic on cd
    assert abs(vals["sam"] - 9.34) < 0.02


def test_fuse_with_protocol_and_mat_output(capsys, tmp_path):
    lr, hr = _pair(tmp_path, r=8, h=2, w=3)
    code, _, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--protocol", "wald-x8",
                       "--out", tmp_path / "o.mat")
    assert code == 0, err
    assert sio.loadmat(tmp_path / "o.mat")["cube"].shape == (16, 24, 31)


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        ("ratio", "not an integer multiple"),
        ("ratio_flag", "not ratio 3"),
        ("bands_vs_srf", "31"),
        ("nan", "NaN"),
        ("negative", "[0, 1]"),
        ("int32", "int"),
        ("empty", "empty"),
        ("corrupt_mat", "lr.mat"),
        ("mat_key", "variables found"),
    ],
)
def test_bad_input_one_clear_error_no_output(capsys, tmp_path, setup, needle):
    lr, hr = _pair(tmp_path)
    extra: list[str] = []
    if setup == "ratio":
        np.save(hr, np.zeros((17, 20, 3), np.float32))
    elif setup == "ratio_flag":
        extra = ["--ratio", "3"]
    elif setup == "bands_vs_srf":
        np.save(lr, np.zeros((2, 3, 30), np.float32))
        np.save(hr, np.zeros((16, 24, 3), np.float32))
        extra = ["--protocol", "wald-x8"]
    elif setup == "nan":
        a = np.load(lr)
        a[0, 0, 0] = np.nan
        np.save(lr, a)
    elif setup == "negative":
        np.save(lr, -np.ones((4, 5, 31), np.float32))
    elif setup == "int32":
        np.save(lr, np.ones((4, 5, 31), np.int32))
    elif setup == "empty":
        lr.write_bytes(b"")
    elif setup == "corrupt_mat":
        lr = tmp_path / "lr.mat"
        lr.write_bytes(b"MATLAB 5.0 MAT-file garbage" + bytes(50))
    elif setup == "mat_key":
        lr = tmp_path / "lr.mat"
        sio.savemat(lr, {"a": np.zeros((4, 5, 31)), "b": np.zeros((4, 5, 31))})
    out_file = tmp_path / "fused.npy"
    code, out, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", out_file,
                         *extra)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], lines[0]
    assert not out_file.exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_failed_run_keeps_the_users_existing_output(capsys, tmp_path):
    lr, hr = _pair(tmp_path)
    out_file = tmp_path / "fused.npy"
    np.save(out_file, np.arange(3))
    np.save(hr, np.zeros((17, 20, 3), np.float32))
    code, _, _ = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", out_file)
    assert code == 2
    np.testing.assert_array_equal(np.load(out_file), np.arange(3))


def test_unknown_method_and_profile(capsys, tmp_path):
    lr, hr = _pair(tmp_path)
    code, _, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--method", "nope",
                       "--out", tmp_path / "o.npy")
    assert code == 2 and "available" in err
    code, _, err = run(capsys, "evaluate", "--pred", hr, "--ref", hr, "--ratio", "4",
                       "--profile", "nope")
    assert code == 2 and "profile" in err


def test_fuse_loads_learned_weights_and_refuses_them_for_classical_methods(capsys, tmp_path):
    from mossfuse.methods import get_method

    lr, hr = _pair(tmp_path, r=4, bands=8, h=4, w=4)
    model = get_method("mossfuse", {"hsi_bands": 8, "msi_bands": 3, "ratio": 4,
                                    "channels": 16, "heads": 2})
    model.save(tmp_path / "tiny")
    code, out, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--method", "mossfuse",
                         "--weights", tmp_path / "tiny", "--out", tmp_path / "o.npy")
    assert code == 0, err
    assert np.load(tmp_path / "o.npy").shape == (16, 16, 8)
    code, _, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--method", "bicubic",
                       "--weights", tmp_path / "tiny", "--out", tmp_path / "b.npy")
    assert code == 2 and "no weights" in err
