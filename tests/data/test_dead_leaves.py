"""Dead-leaves scenes and the spectral libraries that paint them."""

from __future__ import annotations

import numpy as np
import pytest

from mossfuse.data import dead_leaves as dl
from mossfuse.data.dead_leaves import (
    DeadLeavesConfig,
    dead_leaves_labels,
    dead_leaves_stream,
    generate_dead_leaves,
    sample_radii,
)
from mossfuse.data.spectral_library import (
    SpectralLibrary,
    reflectance_library,
    spectra_from_cube,
)
from mossfuse.errors import MossfuseInputError

FULL = dict(shape="mixed", texture="spectral", gradient=0.4, blur_sigma=0.7)


@pytest.fixture(scope="module")
def library() -> SpectralLibrary:
    return reflectance_library()


def test_reflectance_library_is_measured_spectra_in_unit_range(library):
    assert library.spectra.shape == (len(library.names), 31)
    assert len(library) > 250
    assert library.spectra.dtype == np.float32
    assert library.spectra.min() >= 0 and library.spectra.max() <= 1
    assert any(n.startswith("ColorChecker") for n in library.names)
    # exact duplicates are gone (colour-science ships ISO 17321-1 = Ohta twice)
    d = np.abs(library.spectra[:, None] - library.spectra[None]).max(axis=2)
    assert (d + np.eye(len(library)) > 1e-6).all()


def test_reflectance_library_resamples_onto_any_grid():
    wl = np.arange(420.0, 681.0, 20.0)
    lib = reflectance_library(wl)
    assert lib.spectra.shape[1] == wl.size
    np.testing.assert_array_equal(lib.wavelengths_nm, wl)


def test_spectra_from_cube_pixels_are_pixels_of_the_cube(rng):
    cube = rng.random((8, 5, 6)).astype(np.float32)
    lib = spectra_from_cube(cube, 10, "pixels", rng)
    flat = cube.reshape(8, -1).T
    for s in lib.spectra:
        assert np.isclose(flat, s).all(axis=1).any()


def test_spectra_from_cube_nmf_recovers_endmembers(rng):
    wl = np.linspace(400, 700, 31)
    ends = np.stack([np.exp(-((wl - c) / 40) ** 2) * 0.8 + 0.05 for c in (450, 550, 650)])
    abund = rng.dirichlet(np.full(3, 0.3), size=400).T  # sparse-ish, near-pure pixels
    cube = (ends.T @ abund).reshape(31, 20, 20).astype(np.float32)
    lib = spectra_from_cube(cube, 3, "nmf", rng)
    cos = (lib.spectra / np.linalg.norm(lib.spectra, axis=1, keepdims=True)) @ (
        ends / np.linalg.norm(ends, axis=1, keepdims=True)
    ).T
    angles = np.degrees(np.arccos(np.clip(cos.max(axis=0), -1, 1)))
    assert angles.max() < 5.0, angles
    assert lib.spectra.min() >= 0 and lib.spectra.max() <= 1


def test_same_seed_gives_identical_scene(library):
    cfg = DeadLeavesConfig(size=(48, 40), seed=7, **FULL)
    a = generate_dead_leaves(cfg, library)
    b = generate_dead_leaves(cfg, library)
    np.testing.assert_array_equal(a.cube, b.cube)
    c = generate_dead_leaves(cfg, library, np.random.default_rng(7))
    np.testing.assert_array_equal(a.cube, c.cube)


def test_different_seed_gives_different_scene(library):
    a = generate_dead_leaves(DeadLeavesConfig(size=(48, 48), seed=1), library)
    b = generate_dead_leaves(DeadLeavesConfig(size=(48, 48), seed=2), library)
    assert np.abs(a.cube - b.cube).mean() > 0.01


def _distinct_spectra(cube: np.ndarray) -> int:
    return len(np.unique(cube.reshape(cube.shape[0], -1).T.round(6), axis=0))


@pytest.mark.parametrize("k", [1, 3])
def test_palette_limits_the_scene_to_its_materials(library, k):
    cfg = DeadLeavesConfig(size=(64, 64), seed=5, brightness=(1.0, 1.0), n_materials=k)
    scene = generate_dead_leaves(cfg, library)
    assert scene.meta["n_leaves"] > 10 * k
    assert _distinct_spectra(scene.cube) == k
    free = generate_dead_leaves(cfg.model_copy(update={"n_materials": None}), library)
    assert _distinct_spectra(free.cube) > 10 * k


@pytest.mark.parametrize(
    "options",
    [{}, FULL, dict(FULL, n_materials=4),
     dict(shape="rectangle", texture="brightness", brightness=(1.0, 1.0)),
     dict(shape="ellipse", gradient=1.0)],
)
def test_scene_shape_dtype_and_range(library, options):
    scene = generate_dead_leaves(DeadLeavesConfig(size=(40, 56), seed=3, **options), library)
    assert scene.cube.shape == (31, 40, 56)
    assert scene.cube.dtype == np.float32
    assert scene.cube.min() >= 0 and scene.cube.max() <= 1
    assert np.isfinite(scene.cube).all()
    np.testing.assert_array_equal(scene.wavelengths_nm, np.arange(400.0, 701.0, 10.0))
    assert scene.meta["coverage"] == 1.0
    assert DeadLeavesConfig.model_validate(scene.meta["config"]).seed == 3


def test_every_pixel_is_covered_by_a_leaf():
    layout = dead_leaves_labels(DeadLeavesConfig(size=(64, 64), **FULL), np.random.default_rng(0))
    assert layout.coverage == 1.0
    assert layout.labels.min() >= 0 and layout.labels.max() < layout.n_leaves
    assert np.isfinite(layout.radii).all()  # no background needed
    # every listed leaf is visible
    assert np.unique(layout.labels).size == layout.n_leaves


def test_background_fills_what_max_leaves_leaves_uncovered(library):
    cfg = DeadLeavesConfig(size=(64, 64), r_max=4.0, max_leaves=20)
    layout = dead_leaves_labels(cfg, np.random.default_rng(0))
    assert layout.n_drawn == 20 and layout.coverage < 0.5
    assert np.isinf(layout.radii[-1])  # the background is the back-most label
    assert (layout.labels == layout.n_leaves - 1).mean() == pytest.approx(1 - layout.coverage)
    scene = generate_dead_leaves(cfg, library)
    assert scene.cube.min() >= 0 and scene.meta["coverage"] == layout.coverage


@pytest.mark.parametrize("budget", [dl._PAIR_BUDGET, 300])
def test_each_pixel_shows_the_front_most_leaf_containing_it(monkeypatch, budget):
    """Exact occlusion: a pixel lies inside its leaf and inside no leaf in front of it
    (hidden leaves never cover an uncovered pixel, so the visible ones suffice). A small pair
    budget forces many sub-batches and the per-pixel path."""
    monkeypatch.setattr(dl, "_PAIR_BUDGET", budget)
    H, W = 40, 48
    layout = dead_leaves_labels(
        DeadLeavesConfig(size=(H, W), shape="mixed", r_min=1.5, r_max=20),
        np.random.default_rng(5),
    )
    yy, xx = np.mgrid[0:H, 0:W]
    first = np.full((H, W), -1)
    for i in range(layout.n_leaves - 1, -1, -1):  # painter's algorithm, back to front
        c, s = np.cos(layout.angles[i]), np.sin(layout.angles[i])
        inside = dl._inside(yy - layout.centres[i, 0], xx - layout.centres[i, 1],
                            layout.radii[i], layout.kinds[i], layout.aspects[i], c, s)
        first[inside] = i
    np.testing.assert_array_equal(first, layout.labels)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0, 4.0])
def test_sampled_radii_follow_the_power_law(alpha):
    r_min, r_max = 1.0, 100.0
    r = sample_radii(400_000, r_min, r_max, alpha, np.random.default_rng(0))
    assert r.min() >= r_min and r.max() <= r_max
    edges = np.geomspace(r_min, r_max, 13)
    counts, _ = np.histogram(r, edges)
    density = counts / np.diff(edges)
    centres = np.sqrt(edges[1:] * edges[:-1])
    ok = counts > 50
    slope = np.polyfit(np.log(centres[ok]), np.log(density[ok]), 1)[0]
    assert slope == pytest.approx(-alpha, abs=0.1)


def test_leaf_radii_stay_in_the_configured_range():
    layout = dead_leaves_labels(DeadLeavesConfig(size=(64, 64), r_min=3, r_max=10),
                                np.random.default_rng(1))
    assert layout.radii.min() >= 3 and layout.radii.max() <= 10


def test_library_on_another_grid_is_refused():
    lib = reflectance_library(np.arange(400.0, 701.0, 20.0))
    with pytest.raises(MossfuseInputError, match="same grid"):
        generate_dead_leaves(DeadLeavesConfig(size=(16, 16)), lib)


def test_config_rejects_inverted_radius_range():
    with pytest.raises(ValueError):
        DeadLeavesConfig(r_min=5, r_max=2)


def test_stream_scenes_are_reproducible_from_seed_and_index(library):
    cfg = DeadLeavesConfig(size=(24, 24))
    all4 = list(dead_leaves_stream(cfg, library, seed=3, count=4))
    odd = list(dead_leaves_stream(cfg, library, seed=3, start=1, step=2, count=2))
    np.testing.assert_array_equal(all4[1].cube, odd[0].cube)
    np.testing.assert_array_equal(all4[3].cube, odd[1].cube)
    assert [s.meta["stream_index"] for s in odd] == [1, 3]
    assert not np.array_equal(all4[0].cube, all4[1].cube)
