import numpy as np

from mossfuse.bench.memory import PeakMemory


def test_peak_memory_sees_a_large_temporary_allocation():
    with PeakMemory(interval_s=0.001) as m:
        a = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        a += 1
        import time

        time.sleep(0.05)
        del a
    assert m.delta_bytes > 40 * 2**20
