import json

import numpy as np
import pytest
from PIL import Image

from mossfuse.data.scene import FusionInputs, Scene
from mossfuse.errors import MossfuseInputError
from mossfuse.physics import PROTOCOLS, Protocol, get_protocol
from mossfuse.physics.srf_library import CAVE_WAVELENGTHS_NM
from reference_testing import independent_x32 as _independent_x32


def test_builtin_protocols_serialise_round_trip():
    for name, proto in PROTOCOLS.items():
        again = Protocol.model_validate(json.loads(proto.to_json()))
        assert again == proto, name


def test_protocol_from_json_file(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(get_protocol("wald-x8").model_copy(update={"name": "mine", "seed": 3}).to_json())
    assert get_protocol(p).seed == 3
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(MossfuseInputError, match="bad.json"):
        get_protocol(bad)
    with pytest.raises(MossfuseInputError, match="unknown protocol"):
        get_protocol("wald-x5")


def test_wald_x8_is_the_mossfuse_code_convention():
    p = get_protocol("wald-x8")
    assert (p.ratio, p.phase, p.psf.size, p.psf.sigma) == (8, 3, 7, 2.0)


def test_simulate_synthetic_matches_independent(rng):
    cube = rng.random((31, 64, 64)).astype(np.float32)
    case = get_protocol("mossfuse-x32").simulate(Scene(cube, CAVE_WAVELENGTHS_NM))
    lr, hr = _independent_x32(cube.astype(np.float64), case.inputs.srf.astype(np.float64))
    assert np.abs(case.inputs.lr_hsi - lr).max() <= 1e-6
    assert np.abs(case.inputs.hr_msi - hr).max() <= 1e-6
    assert isinstance(case.inputs, FusionInputs) and not hasattr(case.inputs, "reference")


def test_simulate_crops_to_multiple_of_ratio(rng):
    case = get_protocol("wald-x8").simulate(Scene(rng.random((31, 70, 67)).astype(np.float32),
                                                 CAVE_WAVELENGTHS_NM))
    assert case.crop == (64, 64)
    assert case.inputs.lr_hsi.shape == (31, 8, 8)


def test_noise_is_seeded(rng):
    scene = Scene(rng.random((31, 32, 32)).astype(np.float32), CAVE_WAVELENGTHS_NM)
    p = get_protocol("wald-x8").model_copy(update={"snr_db_hsi": 30.0, "snr_db_msi": 40.0})
    a, b = p.simulate(scene), p.simulate(scene)
    np.testing.assert_array_equal(a.inputs.lr_hsi, b.inputs.lr_hsi)
    c = p.model_copy(update={"seed": 1}).simulate(scene)
    assert not np.array_equal(a.inputs.lr_hsi, c.inputs.lr_hsi)
    clean = get_protocol("wald-x8").simulate(scene)
    err = a.inputs.hr_msi - clean.inputs.hr_msi
    snr = 10 * np.log10((clean.inputs.hr_msi**2).mean() / (err**2).mean())
    assert 38 < snr < 42


def test_band_count_mismatch_is_one_clear_error(rng):
    with pytest.raises(MossfuseInputError, match="31 HSI bands"):
        get_protocol("mossfuse-x32").simulate(Scene(rng.random((30, 64, 64)).astype(np.float32)))


def test_mossfuse_x32_on_real_cave_scene_matches_spec(cave_root, shared_data):
    folder = cave_root / "cd_ms"
    cube = np.stack([
        np.asarray(Image.open(folder / f"cd_ms_{k:02d}.png"), dtype=np.float64) / 65535.0
        for k in range(1, 32)
    ])
    srf_file = shared_data / "srf/camera/nikon_d700_nssr_createP_3x31_rownormalized.csv"
    srf = np.loadtxt(srf_file, delimiter=",", skiprows=1)[:, 1:].T  # columns R, G, B -> rows
    scene = Scene(cube.astype(np.float32), CAVE_WAVELENGTHS_NM)
    case = get_protocol("mossfuse-x32").simulate(scene)
    lr, hr = _independent_x32(cube, srf)
    assert case.inputs.lr_hsi.shape == (31, 16, 16)
    assert case.inputs.hr_msi.shape == (3, 512, 512)
    assert np.abs(case.inputs.lr_hsi - lr).max() <= 1e-6
    assert np.abs(case.inputs.hr_msi - hr).max() <= 1e-6
