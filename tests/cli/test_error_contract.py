"""The CLI error contract, tested through the installed ``mossfuse`` console script (a real
process: exit codes, stderr lines, signals and the files left behind are what a user sees).

Contract: usage errors and bad input -> one ``error:`` line on stderr and exit 2, before any
work; Ctrl-C -> exit 130, one line, no output file; an output never overwrites an input;
temporary ``.partial`` files never outlive a run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest


def _console_script() -> str:
    here = Path(sys.executable).with_name("mossfuse")
    found = str(here) if here.exists() else shutil.which("mossfuse")
    if found is None:
        pytest.fail("the `mossfuse` console script is not installed (pip install -e .)")
    return found


def cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([_console_script(), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    return errors[0]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "lr.npy", rng.random((4, 4, 8), dtype=np.float32))
    np.save(tmp_path / "hr.npy", rng.random((16, 16, 3), dtype=np.float32))
    return tmp_path / "lr.npy", tmp_path / "hr.npy"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("args", [
    ("fuse", "--bogus"),
    ("fuse",),
    ("fusee",),
    ("fuse", "--lr-hsi", "a.npy", "--hr-msi", "b.npy", "--out", "c.npy", "--ratio", "abc"),
    ("evaluate", "--pred", "a.npy"),
    ("benchmark", "--root"),
])
def test_usage_errors_are_one_line_and_exit_2(args):
    res = cli(*args)
    assert res.returncode == 2, (res.returncode, res.stderr)
    line = _one_error_line(res)
    assert "--help" in line
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1, res.stderr


@pytest.mark.parametrize("extra", [
    ("--method", "mossfuse", "--adapt-seconds", "0"),       # a budget must be > 0
    ("--method", "mossfuse", "--adapt-seconds", "soon"),
    ("--method", "gsa", "--adapt-seconds", "30"),           # a flag of mossfuse only
])
def test_adaptation_budget_usage_errors(tmp_path, pair, extra):
    lr, hr = pair
    res = cli("fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", tmp_path / "o.npy", *extra)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "adapt-seconds" in _one_error_line(res)
    assert not (tmp_path / "o.npy").exists()


def test_bare_command_prints_help_and_exits_0():
    res = cli()
    assert res.returncode == 0 and "Usage" in res.stdout


def test_bad_input_file_is_one_line_exit_2(tmp_path, pair):
    lr, _ = pair
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    res = cli("fuse", "--lr-hsi", lr, "--hr-msi", tmp_path / "bad.npy", "--out",
              tmp_path / "o.npy")
    assert res.returncode == 2
    assert "bad.npy" in _one_error_line(res)
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("how", ["same", "dotdot", "symlink", "hardlink"])
def test_out_resolving_to_an_input_is_refused(tmp_path, pair, how):
    lr, hr = pair
    before = _digest(hr)
    if how == "same":
        out = hr
    elif how == "dotdot":
        (tmp_path / "sub").mkdir()
        out = tmp_path / "sub" / ".." / hr.name
    elif how == "symlink":
        out = tmp_path / "link.npy"
        out.symlink_to(hr)
    else:
        out = tmp_path / "hard.npy"
        os.link(hr, out)
    res = cli("fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", out)
    assert res.returncode == 2
    assert "overwrite the input" in _one_error_line(res)
    assert _digest(hr) == before


def test_unknown_output_extension_refused_before_work(tmp_path, pair):
    lr, hr = pair
    res = cli("fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", tmp_path / "o.xyz",
              "--method", "hysure")
    assert res.returncode == 2
    assert "extension" in _one_error_line(res)
    assert "fusing" not in res.stderr


def test_output_folder_under_a_file_refused(tmp_path, pair):
    lr, hr = pair
    (tmp_path / "afile").write_text("x")
    res = cli("fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", tmp_path / "afile" / "o.npy")
    assert res.returncode == 2
    assert "not a folder" in _one_error_line(res)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders (the probe "
                    "itself is tested in tests/pipeline/test_pipeline.py)")
def test_read_only_output_folder_refused(tmp_path, pair):
    lr, hr = pair
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = cli("fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", ro / "o.npy")
    finally:
        ro.chmod(0o755)
    assert res.returncode == 2
    assert "not writable" in _one_error_line(res)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign", "bad_json", "no_json"])
def test_corrupt_or_foreign_checkpoint_is_one_line_exit_2(tmp_path, pair, damage):
    from mossfuse.methods.scalmu.method import shipped_weights

    lr, hr = pair
    shipped = shipped_weights()
    src = next(iter(shipped.values()))
    ck = tmp_path / "ck.safetensors"
    shutil.copy(src, ck)
    shutil.copy(src.with_suffix(".json"), ck.with_suffix(".json"))
    if damage == "garbage":
        ck.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    elif damage == "foreign":
        from safetensors.numpy import save_file

        save_file({"conv.weight": np.zeros((3, 3), np.float32)}, str(ck))
    elif damage == "bad_json":
        ck.with_suffix(".json").write_text("{not json")
    else:
        ck.with_suffix(".json").unlink()
    res = cli("fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", tmp_path / "o.npy",
              "--method", "scalmu", "--weights", ck, "--protocol", "wald-x4")
    assert res.returncode == 2, res.stderr
    line = _one_error_line(res)
    assert "ck." in line
    assert "fusing" not in res.stderr
    assert not (tmp_path / "o.npy").exists()


def test_stale_partial_files_of_a_killed_run_are_removed(tmp_path, pair):
    lr, hr = pair
    out = tmp_path / "o.npy"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".o.partial.{dead.pid}.abc123.npy"
    stale.write_bytes(b"x" * 1000)
    legacy = tmp_path / ".o.partial.k2j3h4.npy"  # an older name, without the PID
    legacy.write_bytes(b"x")
    res = cli("fuse", "--lr-hsi", lr, "--hr-msi", hr, "--out", out)
    assert res.returncode == 0, res.stderr
    assert not stale.exists() and not legacy.exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial." in p.name] == []


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_kill_exits_with_one_line_and_no_output(tmp_path, sig, code, word):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "lr.npy", rng.random((64, 64, 31), dtype=np.float32))
    np.save(tmp_path / "hr.npy", rng.random((512, 512, 3), dtype=np.float32))
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.Popen(
        [_console_script(), "fuse", "--lr-hsi", tmp_path / "lr.npy", "--hr-msi",
         tmp_path / "hr.npy", "--out", tmp_path / "out.npy", "--method", "hysure"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    deadline = time.monotonic() + 120
    assert proc.stderr is not None
    while time.monotonic() < deadline:  # wait until the fusion itself is running
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("mossfuse: fusing"):
            break
    assert seen and seen[-1].startswith("mossfuse: fusing"), "".join(seen)
    proc.send_signal(sig)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == code, (proc.returncode, rest)
    errors = [ln for ln in rest.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and word in errors[0], rest
    assert "Traceback" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_benchmark_refuses_a_used_folder_without_resume(tmp_path):
    out = tmp_path / "bench"
    (out / "records").mkdir(parents=True)
    (out / "records" / "cd__bicubic.json").write_text("{}")
    res = cli("benchmark", "--root", tmp_path, "--out", out)
    assert res.returncode == 2
    assert "--resume" in _one_error_line(res)


def test_simulate_never_overwrites_its_input(tmp_path):
    folder = tmp_path / "reference"
    folder.mkdir()
    src = folder / "reference.npy"
    np.save(src, np.random.default_rng(0).random((64, 64, 31), dtype=np.float32))
    before = _digest(src)
    res = cli("simulate", "--input", src, "--protocol", "wald-x8", "--out", tmp_path)
    assert res.returncode == 2
    assert "overwrite the input" in _one_error_line(res)
    assert _digest(src) == before
    assert sorted(p.name for p in folder.iterdir()) == ["reference.npy"]
