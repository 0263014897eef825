"""The CLI's outputs cannot lose a file (issue 12, item 5): ``cli.py`` writes through
``bbans_numba.fileio`` (atomic writes, outputs checked before the work).

They use ``test_cli``'s fake codec, so they run in milliseconds.
"""

import contextlib
import sys

import numpy as np
import pytest
from test_cli import assert_one_line_error, bbans_file, fake_codec, images, npy_input, run_main  # noqa: F401

import bbans_numba as bb


@contextlib.contextmanager
def file_size_limit(limit):
    """Like ``prlimit --fsize``: writes beyond ``limit`` bytes fail with EFBIG (Python ignores SIGXFSZ)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_forced_write_that_fails_keeps_the_old_file(capsys, bbans_file, tmp_path, fake_codec):
    output = tmp_path / "out.npy"
    output.write_bytes(b"good old file")
    with file_size_limit(200):  # the .npy needs 428 bytes
        status, _, err = run_main(capsys, "decompress", bbans_file, output, "--force")
    assert_one_line_error(status, err, "File too large")
    assert output.read_bytes() == b"good old file"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["images.bbans", "out.npy"]


def test_an_upper_case_npy_suffix_writes_that_very_file(capsys, bbans_file, tmp_path, images, fake_codec):
    (tmp_path / "out.NPY.npy").write_bytes(b"someone's file")
    assert run_main(capsys, "decompress", bbans_file, tmp_path / "out.NPY", "--quiet")[0] == 0
    assert np.array_equal(np.load(tmp_path / "out.NPY"), images)
    assert (tmp_path / "out.NPY.npy").read_bytes() == b"someone's file"


@pytest.mark.parametrize(("command", "output"), [("compress", "out.npy"), ("decompress", "out.npy"),
                                                ("decompress", "pngs")])
def test_a_missing_output_folder_is_refused_before_the_work(capsys, monkeypatch, npy_input, bbans_file, tmp_path,
                                                            command, output):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the codec ran before the output was checked")

    monkeypatch.setattr(bb, command, must_not_run)
    source = npy_input if command == "compress" else bbans_file
    status, _, err = run_main(capsys, command, source, tmp_path / "missing" / output)
    assert_one_line_error(status, err, "missing does not exist")
    assert not (tmp_path / "missing").exists()


def test_a_file_appearing_during_the_work_is_not_replaced(capsys, monkeypatch, bbans_file, tmp_path, fake_codec):
    output = tmp_path / "out.npy"
    decompress_to_npy = bb.decompress_to_npy  # a .npy is decoded straight into the (temporary) output file

    def slow_decompress_to_npy(*args, **kwargs):
        output.write_bytes(b"another process's file")
        return decompress_to_npy(*args, **kwargs)

    monkeypatch.setattr(bb, "decompress_to_npy", slow_decompress_to_npy)
    status, _, err = run_main(capsys, "decompress", bbans_file, output)
    assert_one_line_error(status, err, "file exists")
    assert output.read_bytes() == b"another process's file"


def test_png_output_is_not_left_partial(capsys, monkeypatch, bbans_file, tmp_path, fake_codec):
    from PIL import Image

    save = Image.Image.save
    saved = []

    def failing_save(self, *args, **kwargs):
        if len(saved) == 3:
            raise OSError("No space left on device")
        saved.append(1)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    status, _, err = run_main(capsys, "decompress", bbans_file, tmp_path / "pngs")
    assert_one_line_error(status, err, "No space left on device")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["images.bbans"]
