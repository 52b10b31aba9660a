import numpy as np
import pytest

from mossfuse.data.io import load_mat_variables
from mossfuse.data.scene import Scene
from mossfuse.physics import get_protocol
from mossfuse.physics.protocols import daem_protocol
from mossfuse.physics.psf import covariance_from_eigen, kernel_moments
from mossfuse.physics.srf_library import CAVE_WAVELENGTHS_NM


@pytest.mark.parametrize("k", range(6))
def test_daem_lr_hsi_equals_independent_computation(shared_data, rng, k):
    kernel_dir = shared_data / "psf/daem_kernels"
    proto = daem_protocol(k, kernel_dir)
    kernel = load_mat_variables(kernel_dir / f"{k}.mat")["data"]
    cube = rng.random((31, 64, 64))
    case = proto.simulate(Scene(cube.astype(np.float32), CAVE_WAVELENGTHS_NM))
    # windows [32 a, 32 a + 32) weighted by the kernel (centre 16 on pixel 32 a + 16)
    expected = np.einsum("bhiwj,ij->bhw", cube.reshape(31, 2, 32, 2, 32), kernel)
    assert np.abs(case.inputs.lr_hsi - expected).max() <= 1e-6
    assert case.inputs.lr_hsi.shape == (31, 2, 2)


def test_daem_kernel_moments_match_their_parameters(shared_data):
    """The stored kernels are noisy Gaussians of the stated covariance (loose tolerance)."""
    proto = daem_protocol(0, shared_data / "psf/daem_kernels")
    mom = kernel_moments(proto.psf.kernel(), centre=(16, 16))
    np.testing.assert_allclose(mom["covariance"], covariance_from_eigen(2.34, 7.49, 1.911),
                               atol=0.6)


def test_get_protocol_finds_daem_by_name(shared_data, monkeypatch):
    monkeypatch.setenv("MOSSFUSE_DAEM_KERNELS", str(shared_data / "psf/daem_kernels"))
    from mossfuse.physics.protocols import register_daem_protocols

    assert register_daem_protocols() == [f"daem-k{k}" for k in range(6)]
    assert get_protocol("daem-k5").phase == 16
