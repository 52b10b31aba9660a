"""Shared test fixtures.

Tests that need the real data in ``../shared/data`` use the ``shared_data`` fixture: it skips
with a reason when the folder is absent (a user's machine) and fails instead when
``MOSSFUSE_REQUIRE_SHARED_DATA=1`` (set by ``.ci/run``), so CI can never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MOSSFUSE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if path.exists():
        return path
    msg = f"real data not found at {path} (set MOSSFUSE_SHARED_DATA or place ../shared/data)"
    if os.environ.get("MOSSFUSE_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(msg + "; MOSSFUSE_REQUIRE_SHARED_DATA=1 forbids skipping")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data`` (skip, or fail in CI, when absent)."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def cave_root(shared_data: Path) -> Path:
    return _require(shared_data / "cave")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread (tiny tensors; on the shared 2-core machine OpenMP's
    barriers made multi-threaded runs of these tests several times slower under load). Use it
    module-wide with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True, scope="session")
def _isolated_mossfuse_weights(tmp_path_factory):
    """Keep the developer's own MossFuse weights out of the tests: ``MOSSFUSE_WEIGHTS`` unset
    and ``MOSSFUSE_HOME`` (the user's weights folder) an empty temporary folder, so
    ``mossfuse fuse --method mossfuse`` picks the shipped weights as on a fresh install."""
    saved = {k: os.environ.get(k) for k in ("MOSSFUSE_WEIGHTS", "MOSSFUSE_HOME")}
    os.environ.pop("MOSSFUSE_WEIGHTS", None)
    os.environ["MOSSFUSE_HOME"] = str(tmp_path_factory.mktemp("mossfuse_home"))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _method_registry_restored():
    """Methods a test registers (spies, plugins) are unregistered after it, so the registry
    seen by later tests and the doctests is the built-in one."""
    from mossfuse.methods import base

    before = dict(base._REGISTRY)
    yield
    base._REGISTRY.clear()
    base._REGISTRY.update(before)
