"""Interruption safety: finished tiles are checkpointed, a resumed run skips them and gives the
uninterrupted result, and no partial output ever exists under the final name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_testing import Failing, PixelLocal

from mossfuse.cli import main
from mossfuse.data.io import write_cube
from mossfuse.engine.files import fuse_files, work_folder
from mossfuse.engine.streaming import StreamedInputs
from mossfuse.errors import MossfuseInputError


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    write_cube(rng.random((31, 12, 10), dtype=np.float32), tmp_path / "lr.npy")
    write_cube(rng.random((3, 96, 80), dtype=np.float32), tmp_path / "hr.npy")
    return tmp_path


def _source(folder):
    return StreamedInputs.open(folder / "lr.npy", folder / "hr.npy")


def _run(files, out, method, **kw):
    return fuse_files(_source(files), out, method, tile=32, overlap=16, **kw)


def test_interrupted_run_resumes_to_the_uninterrupted_result(files):
    out = files / "fused.npy"
    reference = fuse_files(_source(files), files / "ref.npy", PixelLocal(), tile=32, overlap=16)
    n_tiles = len(reference.plan)
    assert n_tiles == 20

    with pytest.raises(RuntimeError, match="interruption"):
        _run(files, out, Failing(interrupt_after=5), resume=True)
    assert not out.exists()
    work = work_folder(out)
    assert sorted(p.name for p in work.glob("tile_*.npy")) == [
        f"tile_{i:06d}.npy" for i in range(5)]
    assert json.loads((work / "manifest.json").read_text())["run"]["tiling"]["tile"] == 32

    method = Failing()
    report = fuse_files(_source(files), out, method, tile=32, overlap=16, resume=True)
    assert (report.tiles_resumed, report.tiles_fused) == (5, n_tiles - 5)
    assert method.calls == n_tiles - 5  # finished tiles are not fused again
    np.testing.assert_array_equal(np.load(out), np.load(files / "ref.npy"))
    assert not work.exists()  # removed after success


def test_resume_refuses_a_work_folder_of_another_run(files):
    out = files / "fused.npy"
    with pytest.raises(RuntimeError):
        _run(files, out, Failing(interrupt_after=2), resume=True)
    with pytest.raises(MossfuseInputError, match="tiling"):
        fuse_files(_source(files), out, PixelLocal(), tile=48, overlap=16, resume=True)
    with pytest.raises(MossfuseInputError, match="method"):
        fuse_files(_source(files), out, PixelLocal(gain=0.5), tile=32, overlap=16, resume=True)
    assert not out.exists()
    # without --resume the folder is not used (and is left alone)
    fuse_files(_source(files), out, PixelLocal(), tile=48, overlap=16)
    assert out.exists() and len(list(work_folder(out).glob("tile_*.npy"))) == 2


def test_a_damaged_checkpoint_tile_is_recomputed(files):
    out = files / "fused.npy"
    with pytest.raises(RuntimeError):
        _run(files, out, Failing(interrupt_after=4), resume=True)
    (work_folder(out) / "tile_000001.npy").write_bytes(b"truncated")
    method = Failing()
    fuse_files(_source(files), out, method, tile=32, overlap=16, resume=True)
    assert method.calls == 20 - 3
    ref = fuse_files(_source(files), files / "ref.npy", PixelLocal(), tile=32, overlap=16)
    assert ref.tiles_fused == 20
    np.testing.assert_array_equal(np.load(out), np.load(files / "ref.npy"))


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_fuse_resume_flow(files, capsys):
    args = ["fuse", "--lr-hsi", files / "lr.npy", "--hr-msi", files / "hr.npy",
            "--method", "bicubic", "--overlap", "16"]
    code, out, err = _cli(capsys, *args, "--tile-size", "32", "--out", files / "a.npy",
                          "--resume")
    assert code == 0, err
    assert "20 tiles of 32 px overlap 16 px (0 resumed)" in out
    assert np.load(files / "a.npy").shape == (96, 80, 31)
    assert not work_folder(files / "a.npy").exists()
    code, _, err = _cli(capsys, *args, "--tile-size", "30", "--out", files / "b.npy")
    assert code == 2
    assert "multiple of the ratio 8" in err
    assert not (files / "b.npy").exists()


def test_sigterm_removes_the_partial_output_and_keeps_the_checkpoints(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(0)
    write_cube(rng.random((31, 64, 64), dtype=np.float32), tmp_path / "lr.npy")
    write_cube(rng.random((3, 2048, 2048), dtype=np.float32), tmp_path / "hr.npy")
    out = tmp_path / "fused.npy"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from mossfuse.cli import main; main()", "fuse",
         "--lr-hsi", str(tmp_path / "lr.npy"), "--hr-msi", str(tmp_path / "hr.npy"),
         "--out", str(out), "--tile-size", "128", "--overlap", "64", "--resume"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if len(list(work_folder(out).glob("tile_*.npy"))) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial." in p.name] == []
    assert len(list(work_folder(out).glob("tile_*.npy"))) >= 3
