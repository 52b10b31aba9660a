"""Tiles on a local Dask cluster (two worker processes on loopback): same result as in one
process, failed tiles retried, dead workers replaced, and no output when a tile cannot be
fused."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testing import Failing, PixelLocal, tile_key

from mossfuse.cli import main
from mossfuse.data.io import write_cube
from mossfuse.engine.distributed import DaskExecutor, dask_executor
from mossfuse.engine.files import fuse_files, work_folder
from mossfuse.engine.streaming import StreamedInputs
from mossfuse.engine.tiling import fuse_tiled, plan_tiles
from mossfuse.errors import MossfuseInputError
from mossfuse.methods import get_method

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

TILE, OVERLAP = 64, 32


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster for the module (starting one costs seconds); closed at the end."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(0)
    write_cube(rng.random((31, 20, 16), dtype=np.float32), folder / "lr.npy")
    write_cube(rng.random((3, 160, 128), dtype=np.float32), folder / "hr.tif")
    return folder


def _source(files):
    return StreamedInputs.open(files / "lr.npy", files / "hr.tif")


def _serial(files, method):
    return fuse_tiled(method, _source(files), tile=TILE, overlap=OVERLAP)


def _key_of_tile(files, index):
    t = plan_tiles((160, 128), 8, TILE, OVERLAP)[index]
    return tile_key(_source(files).window(t.lr_rows, t.lr_cols))


def test_two_workers_give_the_single_process_result(cluster, files):
    method = get_method("bicubic")
    with dask_executor(scheduler=cluster.scheduler_address) as ex:
        assert sum(ex.client.nthreads().values()) == 2
        report = fuse_files(_source(files), files / "a.npy", method, tile=TILE, overlap=OVERLAP,
                            scheduler=cluster.scheduler_address)
    assert report.tiles_fused == len(report.plan) == 12
    np.testing.assert_array_equal(np.moveaxis(np.load(files / "a.npy"), -1, 0),
                                  _serial(files, method))


def test_executor_runs_in_memory_inputs_too(cluster):
    from distributed import Client

    rng = np.random.default_rng(1)
    from mossfuse.data.scene import FusionInputs

    inputs = FusionInputs(rng.random((31, 8, 8), dtype=np.float32),
                          rng.random((3, 64, 64), dtype=np.float32), ratio=8)
    with Client(cluster) as client:
        out = fuse_tiled(PixelLocal(), inputs, tile=32, overlap=16,
                         executor=DaskExecutor(client, max_in_flight=3))
    np.testing.assert_array_equal(out, fuse_tiled(PixelLocal(), inputs, tile=32, overlap=16))


@pytest.mark.parametrize("kill", [False, True], ids=["tile-raises-once", "worker-dies"])
def test_failed_tile_is_retried_and_the_output_is_complete(cluster, files, tmp_path, kill):
    method = Failing(fail_key=_key_of_tile(files, 5), flag_dir=str(tmp_path), kill=kill)
    out = tmp_path / "b.tif"
    report = fuse_files(_source(files), out, method, tile=TILE, overlap=OVERLAP,
                        scheduler=cluster.scheduler_address, retries=2)
    assert (tmp_path / f"failed-{method.config.fail_key}").exists()  # it did fail once
    assert report.tiles_fused == 12
    from mossfuse.data.io import read_cube

    np.testing.assert_array_equal(read_cube(out).cube, _serial(files, PixelLocal()))


def test_unrecoverable_tile_leaves_no_output(cluster, files, tmp_path):
    method = Failing(fail_key=_key_of_tile(files, 7), always=True)
    out = tmp_path / "c.npy"
    with pytest.raises(RuntimeError, match="unrecoverable"):
        fuse_files(_source(files), out, method, tile=TILE, overlap=OVERLAP,
                   scheduler=cluster.scheduler_address, retries=2, resume=True)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial." in p.name] == []
    # the tiles that did finish are checkpointed for a later --resume
    assert 0 < len(list(work_folder(out).glob("tile_*.npy"))) < 12


def test_cli_fuse_on_an_existing_scheduler(cluster, files, tmp_path, capsys):
    out = tmp_path / "d.npy"
    try:
        main(["fuse", "--lr-hsi", str(files / "lr.npy"), "--hr-msi", str(files / "hr.tif"),
              "--out", str(out), "--tile-size", str(TILE), "--overlap", str(OVERLAP),
              "--scheduler", cluster.scheduler_address])
    except SystemExit as exc:  # pragma: no cover - only on failure
        pytest.fail(f"exit {exc.code}: {capsys.readouterr().err}")
    assert "12 tiles" in capsys.readouterr().out
    np.testing.assert_array_equal(np.moveaxis(np.load(out), -1, 0),
                                  _serial(files, get_method("bicubic")))


def test_dask_executor_needs_exactly_one_target():
    with pytest.raises(MossfuseInputError, match="exactly one"), dask_executor():
        pass


def test_local_workers_start_with_the_serial_process_malloc_policy(monkeypatch):
    """Local workers do not get dask's MALLOC_TRIM_THRESHOLD_ (it turns glibc's dynamic mmap
    threshold off: every tile-sized temporary becomes a fresh mmap, and a SCALMU tile ran 1.7
    times slower than serially), they get the task's thread count before start-up, and the
    client's environment is left as it was (nannies copy their variables into it)."""
    import os

    from mossfuse.engine.distributed import local_cores

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    before = dict(os.environ)
    with dask_executor(workers=1) as ex:
        seen = ex.client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                                      os.environ.get("MKL_NUM_THREADS")))
    (trim, mkl), = seen.values()
    assert trim is None
    assert mkl == str(max(1, local_cores()))
    assert dict(os.environ) == before


@pytest.mark.parametrize("victims", [1, 2], ids=["one-worker", "every-worker"])
def test_sigkill_of_workers_mid_run_reruns_their_tiles(files, tmp_path, victims):
    """Worker processes killed with SIGKILL while they run tiles (one of them, or both, one
    after the other): their tiles run again on the others and on the nanny's replacements, the
    run completes with the uninterrupted output, bit for bit. Nothing the run needs lives only
    on a worker (no scattered data), so even losing every worker does not hang it."""
    import os
    import signal
    import threading
    import time

    from engine_testing import Slow

    method = Slow(Slow.Config(seconds=0.4))  # 12 tiles on 2 workers: ~2.5 s uninterrupted
    with dask_executor(workers=2) as ex:
        client = ex.client
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)  # worker address -> pid (scheduler_info has no pid here)
        killed: list[int] = []

        def killer() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                busy = [w for w, keys in client.processing().items() if keys and w in pids]
                if busy:
                    time.sleep(0.6)  # a tile or so into the run
                    order = busy[:1] + [w for w in pids if w != busy[0]]
                    for w in order[:victims]:
                        os.kill(pids[w], signal.SIGKILL)
                        killed.append(pids[w])
                        time.sleep(0.3)
                    return
                time.sleep(0.02)

        box: dict = {}

        def run() -> None:
            try:
                box["report"] = fuse_files(_source(files), tmp_path / "k.npy", method,
                                           tile=TILE, overlap=OVERLAP,
                                           scheduler=client.scheduler.address)
            except BaseException as exc:  # pragma: no cover - reported below
                box["error"] = exc

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        t0 = time.monotonic()
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(timeout=60)
        seconds = time.monotonic() - t0
        thread.join(timeout=5)
        assert not worker.is_alive(), "the run hung after the kill"
        assert "error" not in box, box.get("error")
        assert len(killed) == victims
        assert not set(killed) & set(client.run(os.getpid).values())  # they did die
    report = box["report"]
    assert report.tiles_fused == len(report.plan) == 12
    assert seconds < 30
    np.testing.assert_array_equal(np.moveaxis(np.load(tmp_path / "k.npy"), -1, 0),
                                  _serial(files, PixelLocal()))
