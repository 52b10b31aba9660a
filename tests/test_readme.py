"""The README's set-up and test commands are the ones CI runs."""

import re
import subprocess
import sys

from conftest import REPO_ROOT


def _readme_commands() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [blocks[0].strip(), blocks[1].strip()]


def test_ci_runs_the_readme_commands():
    setup, tests = _readme_commands()
    ci = (REPO_ROOT / ".ci/run").read_text()
    setup_install = setup.split("&&")[0].strip()
    assert setup_install in ci
    assert tests in ci
    assert "MOSSFUSE_REQUIRE_SHARED_DATA=1" in ci
    assert "mossfuse demo" in setup


def test_every_subcommand_has_help():
    out = subprocess.run([sys.executable, "-m", "mossfuse.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for cmd in ("simulate", "fuse", "evaluate", "demo", "methods", "protocols"):
        assert cmd in out
        sub = subprocess.run([sys.executable, "-m", "mossfuse.cli", cmd, "--help"],
                             capture_output=True, text=True)
        assert sub.returncode == 0, sub.stderr
        assert "Usage" in sub.stdout


def test_ci_lints_in_its_own_step():
    ci = (REPO_ROOT / ".ci/run").read_text()
    assert "python -m ruff check src tests benchmarks" in ci
