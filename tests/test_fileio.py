"""Atomic output: a failed or raced write never loses a file nor leaves a partial one."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bbans_numba import fileio
from bbans_numba.fileio import check_output, has_suffix, write_bytes, write_file, write_folder

REPO = Path(__file__).resolve().parents[1]


def names_in(folder):
    return sorted(path.name for path in Path(folder).iterdir())


def half_then_fail(stream):
    stream.write(b"half of the new file")
    raise RuntimeError("writer failed midway")


def test_write_bytes_creates_the_file_and_nothing_else(tmp_path):
    write_bytes(tmp_path / "out.bbans", b"content")
    assert (tmp_path / "out.bbans").read_bytes() == b"content" and names_in(tmp_path) == ["out.bbans"]


def test_new_file_gets_the_permissions_open_would_give(tmp_path):
    write_bytes(tmp_path / "atomic", b"x")
    (tmp_path / "plain").write_bytes(b"x")
    assert (tmp_path / "atomic").stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_existing_file_is_refused_before_the_writer_runs(tmp_path):
    (tmp_path / "out.npy").write_bytes(b"good")
    calls = []
    with pytest.raises(FileExistsError, match="use --force") as error:
        write_file(tmp_path / "out.npy", calls.append)
    assert error.value.filename == os.fspath(tmp_path / "out.npy")
    assert calls == [] and (tmp_path / "out.npy").read_bytes() == b"good"


def test_force_replaces(tmp_path):
    (tmp_path / "out.npy").write_bytes(b"old")
    write_bytes(tmp_path / "out.npy", b"new", force=True)
    assert (tmp_path / "out.npy").read_bytes() == b"new" and names_in(tmp_path) == ["out.npy"]


@pytest.mark.parametrize("force", [False, True])
def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path, force):
    target = tmp_path / "out.bbans"
    if force:
        target.write_bytes(b"good old file")
    with pytest.raises(RuntimeError, match="midway"):
        write_file(target, half_then_fail, force=force)
    assert names_in(tmp_path) == (["out.bbans"] if force else [])
    if force:
        assert target.read_bytes() == b"good old file"


def test_a_file_appearing_meanwhile_is_not_replaced(tmp_path):
    target = tmp_path / "out.bbans"

    def racing_writer(stream):
        target.write_bytes(b"another process's file")  # appears after the up-front check
        stream.write(b"ours")

    with pytest.raises(FileExistsError, match="file exists"):
        write_file(target, racing_writer)
    assert target.read_bytes() == b"another process's file" and names_in(tmp_path) == ["out.bbans"]


def test_without_hard_links_the_exclusive_create_still_refuses_to_clobber(tmp_path, monkeypatch):
    def no_links(source, target):
        raise OSError(errno.EPERM, "hard links not supported here")

    monkeypatch.setattr(os, "link", no_links)
    write_bytes(tmp_path / "a", b"first")
    assert (tmp_path / "a").read_bytes() == b"first" and names_in(tmp_path) == ["a"]

    def racing_writer(stream):
        (tmp_path / "b").write_bytes(b"theirs")

    with pytest.raises(FileExistsError):
        write_file(tmp_path / "b", racing_writer)
    assert (tmp_path / "b").read_bytes() == b"theirs" and names_in(tmp_path) == ["a", "b"]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("writer, limit, message", [
    ("lambda stream: stream.write(b'x' * 100_000)", 4096, "File too large"),
    # numpy.save loses the error of a write its C stdio buffer takes (here 1000 bytes past a 128-byte
    # header, with the limit at 200): only the size check catches it.
    ("lambda stream: numpy.save(stream, numpy.zeros(1000, numpy.uint8))", 200, "short write"),
], ids=["bytes", "numpy.save"])
def test_disk_full_during_a_forced_write_keeps_the_old_file(tmp_path, writer, limit, message):
    import resource

    target = tmp_path / "out.bbans"
    target.write_bytes(b"good old file")
    script = f"import sys, numpy; from bbans_numba.fileio import write_file; write_file(sys.argv[1], {writer}, True)"
    set_limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # noqa: E731 (prlimit --fsize)
    result = subprocess.run([sys.executable, "-c", script, os.fspath(target)], capture_output=True, text=True,
                            preexec_fn=set_limit, env={**os.environ, "PYTHONPATH": os.fspath(REPO)}, timeout=60)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert target.read_bytes() == b"good old file" and names_in(tmp_path) == ["out.bbans"]


def test_check_output_refuses_early(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder .*missing does not exist") as error:
        check_output(tmp_path / "missing" / "out.npy")
    assert error.value.filename == os.fspath(tmp_path / "missing" / "out.npy")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        check_output(tmp_path / "file" / "out.npy")
    with pytest.raises(IsADirectoryError):
        check_output(tmp_path)
    with pytest.raises(NotADirectoryError, match="exists and is not a folder"):
        check_output(tmp_path / "file", folder=True)
    with pytest.raises(FileExistsError, match="folder exists and is not empty"):
        check_output(tmp_path, folder=True)
    assert check_output(tmp_path, force=True, folder=True) == tmp_path
    assert check_output(tmp_path / "file", force=True) == tmp_path / "file"
    assert check_output(tmp_path / "new" , folder=True) == tmp_path / "new"


def test_has_suffix_ignores_case():
    assert has_suffix("x.NPY", ".npy") and has_suffix(Path("x.Npy"), ".NPY") and not has_suffix("x.npy.gz", ".npy")


# -- folders -------------------------------------------------------------------------------
def files(count, fail_at=None):
    for index in range(count):
        content = f"file {index}".encode()
        yield f"{index:06d}.png", (half_then_fail if index == fail_at else
                                   lambda stream, content=content: stream.write(content))


def test_write_folder_creates_a_new_folder_in_one_step(tmp_path):
    write_folder(tmp_path / "pngs", files(3))
    assert names_in(tmp_path) == ["pngs"] and names_in(tmp_path / "pngs") == ["000000.png", "000001.png", "000002.png"]
    assert (tmp_path / "pngs" / "000002.png").read_bytes() == b"file 2"
    os.mkdir(tmp_path / "plain")
    assert (tmp_path / "pngs").stat().st_mode == (tmp_path / "plain").stat().st_mode


@pytest.mark.parametrize("existing", [False, True])
def test_a_failing_folder_write_leaves_nothing_behind(tmp_path, existing):
    if existing:
        (tmp_path / "pngs").mkdir()
    with pytest.raises(RuntimeError, match="midway"):
        write_folder(tmp_path / "pngs", files(5, fail_at=3))
    assert names_in(tmp_path) == (["pngs"] if existing else [])
    if existing:
        assert names_in(tmp_path / "pngs") == []


def test_write_folder_into_an_existing_folder(tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    write_folder(folder, files(2))
    assert names_in(folder) == ["000000.png", "000001.png"]
    with pytest.raises(FileExistsError, match="not empty"):
        write_folder(folder, files(1))
    (folder / "notes.txt").write_text("kept")
    write_folder(folder, [("000000.png", lambda stream: stream.write(b"new"))], force=True)
    assert names_in(folder) == ["000000.png", "000001.png", "notes.txt"]
    assert (folder / "000000.png").read_bytes() == b"new" and names_in(tmp_path) == ["pngs"]


def test_a_folder_filled_meanwhile_is_not_written_into(tmp_path):
    folder = tmp_path / "pngs"

    def racing_writer(stream):
        folder.mkdir()
        (folder / "000001.png").write_bytes(b"theirs")
        stream.write(b"ours")

    with pytest.raises(FileExistsError, match="not empty"):
        write_folder(folder, [("000000.png", racing_writer)])
    assert names_in(folder) == ["000001.png"] and names_in(tmp_path) == ["pngs"]


def test_a_name_taken_meanwhile_rolls_back_the_files_published(tmp_path, monkeypatch):
    folder = tmp_path / "pngs"
    folder.mkdir()
    publish = fileio._publish

    def publish_with_a_race(temp, target, force):
        if target.name == "000002.png":
            target.write_bytes(b"theirs")
        publish(temp, target, force)

    monkeypatch.setattr(fileio, "_publish", publish_with_a_race)
    with pytest.raises(FileExistsError):
        write_folder(folder, files(4))
    assert names_in(folder) == ["000002.png"] and names_in(tmp_path) == ["pngs"]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "x\0y"])
def test_write_folder_refuses_names_that_are_not_plain(tmp_path, name):
    with pytest.raises(ValueError, match="not a plain file name"):
        write_folder(tmp_path / "out", [(name, lambda stream: None)])
    assert names_in(tmp_path) == []


def test_write_folder_refuses_a_name_given_twice(tmp_path):
    with pytest.raises(ValueError, match="given twice"):
        write_folder(tmp_path / "out", [("a", lambda stream: None)] * 2)
    assert names_in(tmp_path) == []
