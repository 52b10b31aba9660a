"""`mossfuse fuse` in blind mode: the estimated SRF/PSF saved beside the output (CSV + PNG),
plausibility warnings on stderr, nothing for a known degradation, nothing partial on error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mossfuse.cli import main
from mossfuse.data.scene import Scene
from mossfuse.errors import MossfuseInputError
from mossfuse.physics import get_protocol

torch.set_num_threads(1)

WL = np.linspace(400.0, 700.0, 31)
PNG = b"\x89PNG\r\n\x1a\n"
SIDE = ("o.srf.csv", "o.srf.png", "o.psf.csv", "o.psf.png")


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Path:
    """wald-x8 (7-tap Gaussian PSF, Nikon D700 R, G, B SRF) of a random 31-band 64 x 64 cube,
    stored H x W x bands: ``lr.npy`` (8 x 8), ``hr.npy`` (64 x 64 R, G, B), ``hr_bgr.npy``
    (the same MSI with its bands in the wrong order)."""
    folder = tmp_path_factory.mktemp("pair")
    cube = np.random.default_rng(0).uniform(0.1, 0.9, (31, 64, 64)).astype(np.float32)
    case = get_protocol("wald-x8").simulate(Scene(cube, WL))
    np.save(folder / "lr.npy", np.moveaxis(case.inputs.lr_hsi, 0, -1))
    np.save(folder / "hr.npy", np.moveaxis(case.inputs.hr_msi, 0, -1))
    np.save(folder / "hr_bgr.npy", np.moveaxis(case.inputs.hr_msi[::-1], 0, -1))
    return folder


def _fuse(capsys, pair, out, *extra, hr="hr.npy"):
    return run(capsys, "fuse", "--lr-hsi", pair / "lr.npy", "--hr-msi", pair / hr,
               "--out", out, *extra)


def _srf_csv(path: Path) -> tuple[list[str], np.ndarray]:
    head = path.read_text().splitlines()[0].split(",")
    return head, np.loadtxt(path, delimiter=",", skiprows=1)


def _no_partials(folder: Path) -> None:
    assert not list(folder.glob(".*partial*")), list(folder.iterdir())


def test_plain_blind_fuse_writes_the_estimate_beside_the_output(capsys, pair, tmp_path):
    code, out, err = _fuse(capsys, pair, tmp_path / "o.npy", "--method", "gsa",
                           "--hsi-wavelengths", "400:700:31")
    assert code == 0, err
    assert "warning" not in err  # the right band order: a plausible estimate
    assert "o.srf.csv" in out and "o.psf.csv" in out
    for name in SIDE:
        assert (tmp_path / name).is_file(), name
    head, table = _srf_csv(tmp_path / "o.srf.csv")
    # one row per HSI band (wavelength, then one column per MSI band): the b x B SRF transposed
    assert head == ["wavelength_nm", "band0", "band1", "band2"]
    assert table.shape == (31, 4)
    np.testing.assert_allclose(table[:, 0], WL, atol=1e-3)
    srf = table[:, 1:].T
    assert srf.shape == (3, 31) and (srf >= 0).all()
    true = get_protocol("wald-x8").degradation(WL).srf
    assert np.abs(srf - true).max() < 0.05  # the estimate that was used, not noise
    psf = np.loadtxt(tmp_path / "o.psf.csv", delimiter=",")
    assert psf.shape == (7, 7)  # x8: 7 taps
    assert psf.sum() == pytest.approx(1.0, abs=1e-5)
    for name in ("o.srf.png", "o.psf.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    _no_partials(tmp_path)


def test_tiled_blind_fuse_saves_the_scene_estimate(capsys, pair, tmp_path):
    """Tiled: estimated once for the scene (central crop); the same files, band indices in the
    SRF header when the wavelengths are unknown."""
    code, out, err = _fuse(capsys, pair, tmp_path / "o.npy", "--method", "gsa",
                           "--tile-size", "32")
    assert code == 0, err
    for name in SIDE:
        assert (tmp_path / name).is_file(), name
    head, table = _srf_csv(tmp_path / "o.srf.csv")
    assert head[0] == "hsi_band" and table.shape == (31, 4)
    np.testing.assert_array_equal(table[:, 0], np.arange(31))
    assert np.loadtxt(tmp_path / "o.psf.csv", delimiter=",").shape == (7, 7)
    assert not (tmp_path / "o.npy.tiles").exists()
    _no_partials(tmp_path)


@pytest.mark.parametrize("extra", [
    ("--method", "gsa", "--protocol", "wald-x8"),
    ("--method", "gsa", "--protocol", "wald-x8", "--tile-size", "32"),
    ("--method", "bicubic"),
    ("--method", "bicubic", "--tile-size", "32"),
])
def test_known_degradation_or_no_degradation_writes_none(capsys, pair, tmp_path, extra):
    code, out, err = _fuse(capsys, pair, tmp_path / "o.npy", *extra)
    assert code == 0, err
    assert (tmp_path / "o.npy").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.npy"]
    assert "estimated degradation" not in out and "warning" not in err


def test_given_srf_saves_only_the_estimated_psf(capsys, pair, tmp_path):
    code, out, err = _fuse(capsys, pair, tmp_path / "o.npy", "--method", "gsa",
                           "--srf", "nikon_d700_nssr", "--hsi-wavelengths", "400:700:31")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.npy", "o.psf.csv", "o.psf.png"]


@pytest.mark.parametrize("tiled", [False, True])
def test_implausible_estimate_is_a_warning(capsys, pair, tmp_path, tiled):
    """B, G, R stored as R, G, B: the 'R' row peaks in the blue, the 'B' row in the red."""
    extra = ("--tile-size", "32") if tiled else ()
    code, out, err = _fuse(capsys, pair, tmp_path / "o.npy", "--method", "gsa",
                           "--hsi-wavelengths", "400:700:31", *extra, hr="hr_bgr.npy")
    assert code == 0, err
    warns = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert any("MSI band 'R'" in w and "560-720 nm" in w for w in warns), err
    assert any("MSI band 'B'" in w for w in warns), err
    assert (tmp_path / "o.srf.csv").is_file()  # still written: a warning, not an error


def test_learned_degradation_of_mossfuse_is_saved_the_same_tiled_or_not(capsys, pair, tmp_path):
    with pytest.warns(RuntimeWarning, match="untrained"):
        code, _, err = _fuse(capsys, pair, tmp_path / "o.npy", "--method", "mossfuse")
    assert code == 0, err
    with pytest.warns(RuntimeWarning, match="untrained"):
        code, _, err = _fuse(capsys, pair, tmp_path / "t.npy", "--method", "mossfuse",
                             "--tile-size", "32")
    assert code == 0, err
    _, a = _srf_csv(tmp_path / "o.srf.csv")
    _, b = _srf_csv(tmp_path / "t.srf.csv")
    assert a.shape == (31, 4)
    np.testing.assert_allclose(a, b)
    ka = np.loadtxt(tmp_path / "o.psf.csv", delimiter=",")
    assert ka.ndim == 2 and ka.shape[0] == ka.shape[1]
    np.testing.assert_allclose(ka, np.loadtxt(tmp_path / "t.psf.csv", delimiter=","))
    assert (tmp_path / "t.psf.png").is_file()


@pytest.mark.parametrize("where", ["psf_figure", "output", "tile"])
def test_error_midway_leaves_no_partial_files(capsys, pair, tmp_path, monkeypatch, where):
    """A failure after some files were staged (PSF figure), while writing the output, or in a
    tile: no output, no SRF/PSF file, no temporary; older files of those names untouched."""
    import mossfuse.data.io
    import mossfuse.engine.tiling
    import mossfuse.viz.degradation

    (tmp_path / "o.srf.csv").write_text("old\n")

    def boom(*a, **k):
        raise MossfuseInputError("disk full")

    if where == "psf_figure":
        real = mossfuse.viz.degradation.save_srf_psf_figure

        def figure(path, srf_true, srf_est, psf_true, psf_est, *a, **k):
            if psf_est is not None:
                boom()
            return real(path, srf_true, srf_est, psf_true, psf_est, *a, **k)

        monkeypatch.setattr(mossfuse.viz.degradation, "save_srf_psf_figure", figure)
    elif where == "output":
        monkeypatch.setattr(mossfuse.data.io, "write_cube", boom)
    else:
        monkeypatch.setattr(mossfuse.engine.tiling, "fuse_tile", boom)
    extra = ("--tile-size", "32") if where == "tile" else ()
    code, _, err = _fuse(capsys, pair, tmp_path / "o.npy", "--method", "gsa", *extra)
    assert code == 2 and "disk full" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.srf.csv"]
    assert (tmp_path / "o.srf.csv").read_text() == "old\n"
