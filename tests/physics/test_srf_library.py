import numpy as np
import pytest

from mossfuse.errors import MossfuseInputError
from mossfuse.physics.spectral import resample_curves
from mossfuse.physics.srf_library import CAVE_WAVELENGTHS_NM, load_srf, nikon_d700_nssr


def test_embedded_nikon_matrix_equals_shared_file(shared_data):
    f = shared_data / "srf/camera/nikon_d700_nssr_createP_3x31_rownormalized.csv"
    ours = nikon_d700_nssr()
    np.testing.assert_allclose(ours.matrix, np.loadtxt(f, delimiter=",", skiprows=1)[:, 1:].T,
                               atol=1e-6)
    np.testing.assert_allclose(ours.matrix.sum(1), 1, atol=1e-6)
    assert ours.band_names == ["R", "G", "B"]


def test_resample_is_linear_and_zero_outside():
    out = resample_curves(np.array([400, 500]), np.array([[0.0, 1.0]]), np.array([350, 450, 550]))
    np.testing.assert_allclose(out, [[0, 0.5, 0]])


@pytest.mark.parametrize(
    ("rel", "kw", "bands"),
    [
        ("camera/nikon_d700_jiang2013_400-700nm_31bands.csv", {}, 3),
        ("camera/nikon_d700_akhtar2014_supresPALM_3x31.csv", {}, 3),
        ("camera/canon_eos_5d_mark_ii_rawtoaces_colour-science.csv", {}, 3),
        ("camera/camspec_jiang2013_28cameras_400-720nm_10nm.csv", {"camera": "Canon 20D"}, 3),
        ("camera/camspec_jiang2013_28cameras_400-720nm_10nm.npz", {"camera": "Canon 20D"}, 3),
        ("camera/camspec_database.txt", {"camera": "Canon 20D"}, 3),
        ("camera/nikon_d700_daem_31x3_BGR.mat", {}, 3),
        ("satellite/worldview2_OTB_350-1100nm_2.5nm.csv", {}, 9),
        ("satellite/ikonos_spec_resp_HySure.mat", {}, 5),
    ],
)
def test_every_shared_srf_file_loads_on_the_cave_grid(shared_data, rel, kw, bands):
    srf = load_srf(shared_data / "srf" / rel, CAVE_WAVELENGTHS_NM, **kw)
    assert srf.matrix.shape == (bands, 31)
    np.testing.assert_allclose(srf.matrix.sum(1), 1, atol=1e-5)
    assert (srf.matrix >= 0).all()


def test_satellite_bands_outside_range_raise(shared_data):
    with pytest.raises(MossfuseInputError, match="no response"):
        load_srf(shared_data / "srf/satellite/sentinel2a_msi_pyrsr_412-2320nm_1nm.csv",
                 CAVE_WAVELENGTHS_NM)
    wl = np.linspace(400, 2400, 200)
    s2 = load_srf(shared_data / "srf/satellite/sentinel2a_msi_pyrsr_412-2320nm_1nm.csv", wl)
    assert s2.matrix.shape == (13, 200)


def test_fusion_matrices_load_as_is(shared_data):
    r = load_srf(shared_data / "srf/fusion_R_matrices/R_HysureParis.mat", normalize=False)
    assert r.matrix.shape == (9, 128)
    r = load_srf(shared_data / "srf/fusion_R_matrices/R_avirSentin2.mat")
    assert r.matrix.shape == (10, 173)


def test_colour_science_camera():
    srf = load_srf("colour:Nikon 5100 (NPL)", CAVE_WAVELENGTHS_NM)
    assert srf.matrix.shape == (3, 31)
    with pytest.raises(MossfuseInputError, match="available"):
        load_srf("colour:NoSuchCam", CAVE_WAVELENGTHS_NM)


def test_curves_need_wavelengths(shared_data):
    with pytest.raises(MossfuseInputError, match="HSI band centres"):
        load_srf(shared_data / "srf/camera/nikon_d700_jiang2013_400-700nm_31bands.csv")
