"""Start-up regression tests: what a CLI call imports (issue #16, item 4).

Each case runs in a fresh interpreter (``sys.modules`` of this test process is polluted by the
other tests) and reports which heavy packages were imported by the end of the call. The
wall-time targets themselves are measured by ``benchmarks/startup/run.py``, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HEAVY = ("torch", "dask", "distributed", "matplotlib", "rasterio", "colour", "scipy",
         "scipy.optimize", "scipy.stats", "scipy.ndimage", "skimage", "h5py", "safetensors",
         "spectral")

_PROBE = """
import json, sys
heavy = {heavy!r}
code = None
try:
{body}
except SystemExit as exc:
    code = exc.code
print("@@" + json.dumps({{"exit": code, "loaded": [m for m in heavy if m in sys.modules]}}))
"""


def _probe(body: str, cwd: Path) -> dict:
    code = _PROBE.format(heavy=HEAVY, body="\n".join("    " + ln for ln in body.splitlines()))
    run = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("@@")][-1]
    return json.loads(line[2:])


def _cli(argv: list[str], cwd: Path) -> dict:
    return _probe(f"import mossfuse.cli\nmossfuse.cli.main({argv!r})", cwd)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Path:
    """A tiny synthetic x8 pair (H x W x bands files): 31-band 4 x 4 LR-HSI, 3-band 32 x 32
    HR-MSI."""
    d = tmp_path_factory.mktemp("pair")
    rng = np.random.default_rng(0)
    np.save(d / "lr.npy", rng.uniform(0.1, 0.9, (4, 4, 31)).astype(np.float32))
    np.save(d / "hr.npy", rng.uniform(0.1, 0.9, (32, 32, 3)).astype(np.float32))
    return d


def test_help_imports_nothing_heavy(tmp_path):
    for argv in (["--help"], ["fuse", "--help"], []):
        res = _cli(argv, tmp_path)
        assert res["exit"] in (0, None), res
        assert res["loaded"] == [], (argv, res)


def test_fuse_bicubic_imports_no_torch_nor_scipy(pair):
    res = _cli(["fuse", "--lr-hsi", "lr.npy", "--hr-msi", "hr.npy", "--out", "bic.npy",
                "--method", "bicubic"], pair)
    assert res["exit"] in (0, None), res
    assert (pair / "bic.npy").exists()
    assert res["loaded"] == [], res


def test_fuse_gsa_blind_imports_no_torch_nor_scipy_optimize(pair):
    res = _cli(["fuse", "--lr-hsi", "lr.npy", "--hr-msi", "hr.npy", "--out", "gsa.npy",
                "--method", "gsa"], pair)
    assert res["exit"] in (0, None), res
    assert (pair / "gsa.npy").exists()
    assert (pair / "gsa.srf.csv").exists()  # the blind estimator ran
    forbidden = {"torch", "dask", "distributed", "rasterio", "scipy.optimize", "scipy.stats",
                 "scipy.ndimage"}
    assert not forbidden & set(res["loaded"]), res


def test_registry_imports_only_the_asked_method(tmp_path):
    res = _probe("import sys\n"
                 "from mossfuse.methods import available_methods, get_method\n"
                 "assert 'scalmu' in available_methods() and 'bicubic' in available_methods()\n"
                 "assert not [m for m in sys.modules if m.startswith('mossfuse.methods.')\n"
                 "            and m not in ('mossfuse.methods.base',)], sorted(sys.modules)\n"
                 "get_method('bicubic')\n"
                 "get_method('gsa')\n"
                 "assert 'mossfuse.methods.scalmu' not in sys.modules", tmp_path)
    assert "torch" not in res["loaded"], res


def test_package_exports_stay_reachable():
    """The lazy ``__init__`` files still export every public name, and submodules stay
    reachable as attributes."""
    import importlib

    for pkg in ("mossfuse.physics", "mossfuse.methods", "mossfuse.pipeline", "mossfuse.engine",
                "mossfuse.data", "mossfuse.metrics", "mossfuse.methods.mossfuse",
                "mossfuse.methods.scalmu"):
        mod = importlib.import_module(pkg)
        for name in mod.__all__:
            assert getattr(mod, name) is not None, (pkg, name)
        assert set(mod.__all__) <= set(dir(mod))
    import mossfuse.physics

    assert mossfuse.physics.protocols.get_protocol is mossfuse.physics.get_protocol
    with pytest.raises(AttributeError):
        _ = mossfuse.physics.no_such_name
