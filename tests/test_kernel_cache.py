"""Where Numba's kernel cache goes: a per-user folder, never the installed package."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import bbans_numba

REPO_ROOT = Path(__file__).resolve().parents[1]
# Prints whether the initial-heads kernel came from the disk cache, and where Numba caches.
CACHE_PROBE = """
import sys
if sys.argv[1] == "numba-first":
    import numba
import bbans_numba as bb
from bbans_numba import rans
import numba
bb.Message(num_lanes=2)
print(sum(rans._initial_heads.stats.cache_hits.values()), numba.config.CACHE_DIR)
"""


def run_probe(tmp_path, order):
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-c", CACHE_PROBE, order], env=env, capture_output=True, text=True,
                          check=True)
    hits, cache_dir = done.stdout.split()
    return int(hits), Path(cache_dir)


def test_a_second_process_loads_kernels_from_the_user_cache(tmp_path):
    expected = tmp_path / "cache" / "bbans_numba" / bbans_numba.__version__
    assert run_probe(tmp_path, "bbans-first") == (0, expected)
    assert list(expected.rglob("*.nbi")) and list(expected.rglob("*.nbc"))
    # Numba imported before bbans_numba still gets the folder, and finds the first process's kernels.
    hits, cache_dir = run_probe(tmp_path, "numba-first")
    assert hits > 0 and cache_dir == expected


def test_an_unusable_user_cache_falls_back_to_a_private_temporary_folder(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    folder = bbans_numba.kernel_cache_dir({"XDG_CACHE_HOME": str(not_a_folder)})
    assert folder.parent.parent == tmp_path / "tmp" and folder.name == bbans_numba.__version__
    assert folder.parent.stat().st_mode & 0o777 == 0o700


def test_a_temporary_folder_others_may_write_is_refused(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"bbans_numba-cache-{bbans_numba._user_id()}"
    shared.mkdir()
    shared.chmod(0o777)
    assert bbans_numba.kernel_cache_dir({"XDG_CACHE_HOME": str(not_a_folder)}) is None
