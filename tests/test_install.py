"""Installing the package as the docs say, in a fresh virtual environment (slow: ``-m slow``).

README's Quickstart installs with ``pip install .``; docs/models.md then installs
``pip install -e ".[train]"`` in the same environment.  Numba's on-disk cache used to live
in ``site-packages/bbans_numba/__pycache__``: it survived the uninstall, the leftover folder
became a namespace package and hid the editable install, so even ``bbans --version`` failed.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Compiles one small cached kernel (the initial rANS heads), enough to fill a Numba cache.
COMPILE_ONE_KERNEL = "import bbans_numba as bb; bb.Message(num_lanes=2)"


def tracked_files_copy(destination):
    """A copy of the checkout's tracked files (what a fresh clone holds), at ``destination``."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs a git checkout of the repository")
    for name in listed.stdout.decode().split("\0"):
        if name and (REPO_ROOT / name).is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, target)
    return destination


def pip_cache_dir():
    """The pip cache of the running interpreter, so the fresh environment reuses downloaded wheels."""
    found = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None


@pytest.mark.slow
def test_pip_install_then_editable_install_keeps_the_cli_working(tmp_path):
    source = tracked_files_copy(tmp_path / "clone")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    scripts = Path(sysconfig.get_path("scripts", vars={"base": str(venv), "platbase": str(venv)}))
    python = scripts / "python"
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "VIRTUAL_ENV", "PYTHONHOME")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "user-cache")  # where bbans_numba's kernel cache must go
    if pip_cache_dir():
        env["PIP_CACHE_DIR"] = pip_cache_dir()

    def run(*command):
        done = subprocess.run([str(part) for part in command], cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    run(python, "-m", "pip", "install", "--quiet", source)  # README Quickstart
    assert run(scripts / "bbans", "format").startswith("# The `.bbans` file format")  # shipped as package data
    run(python, "-c", COMPILE_ONE_KERNEL)
    run(python, "-m", "pip", "install", "--quiet", "-e", f"{source}[train]")  # docs/models.md
    version = subprocess.run([scripts / "bbans", "--version"], env=env, capture_output=True, text=True)
    assert (version.returncode, version.stdout.strip()) == (0, f"bbans {version_of(source)}"), version.stderr

    site_packages = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    assert not (site_packages / "bbans_numba").exists(), "the uninstall left a bbans_numba folder behind"
    assert list((tmp_path / "user-cache" / "bbans_numba").rglob("*.nbi")), "no Numba cache in the user cache folder"


def version_of(source):
    """The version in ``setup.cfg`` (what ``bbans --version`` must print)."""
    for line in (source / "setup.cfg").read_text().splitlines():
        if line.startswith("version"):
            return line.partition("=")[2].strip()
    raise AssertionError("setup.cfg names no version")
