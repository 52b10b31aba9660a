"""The one degradation value (mossfuse.physics.degradation.Degradation): construction from a
protocol or a fusion result, the forward model, the files beside an output and their reading
back, and what FusionInputs / the estimator / tiling carry."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mossfuse.data.scene import FusionInputs, Scene
from mossfuse.engine.sidecars import staged_degradation_files
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.degradation import Degradation, degradation_paths
from mossfuse.physics.forward import FusionForwardModel
from mossfuse.physics.protocols import get_protocol
from mossfuse.physics.psf import gaussian_kernel, kernel_moments
from mossfuse.physics.spatial import SpatialDegradation
from mossfuse.physics.srf_library import load_srf

WL = np.arange(400.0, 701.0, 10.0)


def _rgb_srf() -> np.ndarray:
    rows = [np.exp(-0.5 * ((WL - c) / 30.0) ** 2) for c in (610.0, 540.0, 460.0)]
    srf = np.stack(rows)
    return (srf / srf.sum(1, keepdims=True)).astype(np.float32)


def _estimate() -> Degradation:
    return Degradation(gaussian_kernel(7, 1.5), _rgb_srf(), 8, 3, 3, wavelengths_nm=WL,
                       band_names=("R", "G", "B"), source="classical estimator")


@pytest.mark.parametrize("name", ["wald-x8", "mossfuse-x32"])
def test_from_protocol_holds_the_protocols_kernel_srf_and_geometry(name):
    proto = get_protocol(name)
    deg = proto.degradation(WL)
    assert isinstance(deg, Degradation) and deg == Degradation.from_protocol(proto, WL)
    srf = load_srf(proto.srf, WL)
    np.testing.assert_array_equal(deg.psf, proto.psf.kernel())
    np.testing.assert_array_equal(deg.srf, srf.matrix)
    assert deg.psf.dtype == deg.srf.dtype == np.float32
    assert (deg.ratio, deg.phase, deg.centre, deg.padding) == (
        proto.ratio, proto.phase, proto.psf.centre_index, proto.padding)
    assert deg.band_names == tuple(srf.band_names) and deg.srf_name == srf.name
    assert deg.source == f"protocol {name}" and deg.known and not deg.empty
    np.testing.assert_array_equal(deg.wavelengths_nm, WL)


def test_forward_model_is_the_spatial_operator_and_the_srf():
    deg = get_protocol("wald-x8").degradation(WL)
    cube = np.random.default_rng(0).random((31, 64, 48))
    lr, hr = deg.forward_model()(cube)
    ref = FusionForwardModel(SpatialDegradation(deg.psf, 8, 3, centre=3, padding="valid"),
                             deg.srf)
    lr_ref, hr_ref = ref(cube)
    np.testing.assert_array_equal(lr, lr_ref)
    np.testing.assert_array_equal(hr, hr_ref)
    assert lr.shape == (31, 8, 6) and hr.shape == (3, 64, 48)
    with pytest.raises(MossfuseInputError, match="no SRF"):
        Degradation(deg.psf, None, 8, 3).forward_model()
    with pytest.raises(MossfuseInputError, match="sampling phase"):
        Degradation(deg.psf, deg.srf, 8).spatial()


def test_sigma_is_the_kernels_unless_its_producer_measured_it():
    k = gaussian_kernel(7, 2.0)
    deg = Degradation(k, None, 8, 3, 3)
    assert deg.sigma == pytest.approx(kernel_moments(k, (3, 3))["sigma"]) and deg.sigma < 2.0
    assert Degradation(k, None, 8, psf_sigma=1.25).sigma == 1.25
    assert Degradation(None, _rgb_srf(), 8).sigma is None


def test_from_result_takes_the_learned_or_estimated_parts_not_given():
    res = SimpleNamespace(estimated_srf=_rgb_srf(), estimated_psf=gaussian_kernel(7, 1.0),
                          info={})
    deg = Degradation.from_result(res, ratio=8, srf_given=False, psf_given=False,
                                  wavelengths_nm=WL, band_names=("R", "G", "B"),
                                  method="mossfuse")
    assert deg.source == "mossfuse (learned)" and deg.known and deg.info == {}
    res.info = {"degradation": {"residual": 0.02, "offset": (0, 1), "sigma": 1.0}}
    deg = Degradation.from_result(res, ratio=8, srf_given=False, psf_given=True, method="gsa")
    assert deg.source == "classical estimator" and deg.psf is None
    assert deg.info == {"residual": 0.02, "offset": (0, 1)}


def test_save_writes_the_csvs_of_the_files_beside_an_output(tmp_path):
    est = _estimate()
    with staged_degradation_files(tmp_path / "a.npy", est) as staged:
        pass
    saved = est.save(tmp_path / "b.npy")
    assert set(saved) == {"srf_csv", "psf_csv"} and set(staged) >= set(saved)
    for key in saved:
        assert saved[key].read_bytes() == (tmp_path / f"a.{key[:3]}.csv").read_bytes()
    # only the parts it holds, and nothing for an empty one
    assert set(Degradation(None, est.srf, 8).save(tmp_path / "c.npy")) == {"srf_csv"}
    assert Degradation(None, None, 8).save(tmp_path / "d.npy") == {}
    assert not list(tmp_path.glob(".*partial*"))


def test_load_reads_back_what_save_wrote(tmp_path):
    est = _estimate()
    est.save(tmp_path / "o.tif")
    back = Degradation.load(tmp_path / "o.tif", ratio=8, phase=3, centre=3)
    np.testing.assert_allclose(back.srf, est.srf, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(back.psf, est.psf, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(back.wavelengths_nm, WL)
    assert back.band_names == ("R", "G", "B") and back.source == "file"
    assert (back.ratio, back.phase, back.centre) == (8, 3, 3)
    # written again, the files are the same text
    back.save(tmp_path / "again.tif")
    for key, path in degradation_paths(tmp_path / "o.tif").items():
        if key.endswith("_csv"):
            again = degradation_paths(tmp_path / "again.tif")[key]
            assert again.read_text() == path.read_text()
    # unnamed bands and unknown wavelengths read back as such; one file alone
    Degradation(None, est.srf, 8).save(tmp_path / "u.npy")
    paths = degradation_paths(tmp_path / "u.npy")
    only = Degradation.load({"srf_csv": paths["srf_csv"]}, ratio=8)
    assert only.psf is None and only.band_names == () and only.wavelengths_nm is None
    with pytest.raises(MossfuseInputError, match="no degradation files"):
        Degradation.load(tmp_path / "none.npy", ratio=8)
    (tmp_path / "bad.srf.csv").write_text("x,y\n1,2\n")
    with pytest.raises(MossfuseInputError, match="not an SRF file"):
        Degradation.load(tmp_path / "bad.npy", ratio=8)


def test_fusion_inputs_carry_one_degradation():
    rng = np.random.default_rng(0)
    lr, hr = rng.random((31, 4, 4), dtype=np.float32), rng.random((3, 32, 32), dtype=np.float32)
    deg = get_protocol("wald-x8").degradation(WL)
    inputs = FusionInputs(lr, hr, 8, WL, ("R", "G", "B"), degradation=deg)
    assert inputs.degradation is deg and inputs.known_degradation
    assert inputs.srf is deg.srf and inputs.psf is deg.psf
    assert (inputs.phase, inputs.psf_centre) == (3, 3)
    blind = inputs.blind()
    assert blind.srf is None and blind.psf is None and blind.psf_centre is None
    assert blind.phase == 3 and blind.degradation.ratio == 8
    plain = FusionInputs(lr, hr, 8)
    assert plain.degradation is None and plain.srf is None and plain.phase is None
    with pytest.raises(MossfuseInputError, match="ratio 4"):
        FusionInputs(lr, hr, 8, degradation=Degradation(None, None, 4))
    with pytest.raises(MossfuseInputError, match="SRF shape"):
        FusionInputs(lr, hr, 8, degradation=Degradation(None, deg.srf[:, :30], 8))


def test_the_estimator_returns_a_degradation_and_its_estimated_parts():
    from mossfuse.physics.estimation import estimate_degradation, resolve_degradation

    cube = np.random.default_rng(1).uniform(0.1, 0.9, (31, 64, 64)).astype(np.float32)
    case = get_protocol("wald-x8").simulate(Scene(cube, WL))
    est = resolve_degradation(case.inputs.blind())
    assert isinstance(est, Degradation) and est.source == "classical estimator"
    assert est.info["estimated"] == {"srf": True, "psf": True}
    assert (est.ratio, est.phase, est.centre) == (8, 3, 3) and est.psf_sigma == est.sigma
    assert est.band_names == ("R", "G", "B")
    np.testing.assert_array_equal(est.wavelengths_nm, WL)
    only_psf = estimate_degradation(case.inputs.blind(), srf=case.inputs.srf)
    part = only_psf.estimated()
    assert part.srf is None and part.psf is not None and part.psf_sigma is None
    assert part.sigma == pytest.approx(only_psf.sigma, abs=1e-6)
    known = resolve_degradation(case.inputs)
    assert known.info["estimated"] == {"srf": False, "psf": False}
    assert known.estimated().empty


def test_tiles_receive_the_scenes_one_degradation():
    from mossfuse.engine.checkpoint import run_fingerprint
    from mossfuse.engine.streaming import StreamedInputs
    from mossfuse.engine.tiling import plan_tiles, resolve_tile_degradation
    from mossfuse.methods import get_method

    cube = np.random.default_rng(2).uniform(0.1, 0.9, (31, 128, 128)).astype(np.float32)
    case = get_protocol("wald-x8").simulate(Scene(cube, WL))
    source = StreamedInputs.from_inputs(case.inputs.blind())
    gsa = get_method("gsa")
    deg, info = resolve_tile_degradation(gsa, source)
    assert isinstance(deg, Degradation) and info["source"] == "estimated"
    tile = source.window((0, 8), (0, 8), degradation=deg)
    assert tile.degradation is deg and tile.phase == deg.phase
    assert resolve_tile_degradation(get_method("bicubic"), source)[0] is None
    assert resolve_tile_degradation(gsa, source, deg) == (
        deg, {"source": "given", "phase": 3, "centre": 3})
    plan = plan_tiles(source.hr_shape, 8, 64, 16)
    with_deg = run_fingerprint(source, gsa, plan, deg)
    known = StreamedInputs.from_inputs(case.inputs.blind().__class__(
        case.inputs.lr_hsi, case.inputs.hr_msi, 8, WL, ("R", "G", "B"), deg))
    # the same degradation, given to the tiles or held by the scene: the same fingerprint
    assert run_fingerprint(known, gsa, plan)["degradation"] == with_deg["degradation"]
    assert run_fingerprint(source, gsa, plan)["degradation"] != with_deg["degradation"]
