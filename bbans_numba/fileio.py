"""Write output files and folders so that a failure never loses a file and never leaves half a file.

Every write goes to a temporary file in the destination's own folder (same file system),
is flushed and fsynced, and is then *published* in one atomic step:

- with ``force``: :func:`os.replace`, which swaps the new file in for any old one;
- without ``force``: :func:`os.link` of the finished file to its name, which fails if a
  file of that name appeared meanwhile (no window between checking and writing in which a
  file could be silently replaced). Where hard links are not supported, an exclusive create
  (``O_EXCL``) reserves the name first and :func:`os.replace` then fills it.

On any failure (an exception from the writer, a full disk, an interrupt) the temporary file
is removed and an existing file is left exactly as it was.  A folder of files is written into
a temporary folder beside it and renamed into place when it is new, or published file by file
into an existing one (:func:`write_folder`).  Temporary names are hidden and marked
``.<name>.<random>.tmp``; only a killed process can leave one behind.

:func:`check_output` checks, before any expensive work, that an output can be written at all:
its folder exists and, without ``force``, nothing would be replaced.  Error messages are
one line and speak the CLI's language (``--force``): they are ``OSError`` subclasses whose
``filename`` is the output path, printed by the CLI as ``PATH: message``.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_bytes(folder / "out.bin", b"first")
>>> try:
...     write_bytes(folder / "out.bin", b"second")
... except FileExistsError as error:
...     print(error.strerror)
file exists (use --force to overwrite it)
>>> write_bytes(folder / "out.bin", b"second", force=True)
>>> (folder / "out.bin").read_bytes(), sorted(p.name for p in folder.iterdir())
(b'second', ['out.bin'])
>>> write_folder(folder / "pngs", [("a.txt", lambda stream: stream.write(b"A"))])
>>> sorted(p.name for p in (folder / "pngs").iterdir())
['a.txt']
"""

import errno
import os
import secrets
import shutil
from pathlib import Path

__all__ = ["check_output", "has_suffix", "write_file", "write_bytes", "write_folder"]

# Longest part of the output's name kept in a temporary name (file names are limited to 255 bytes).
_TEMP_STEM_CHARS = 100
_TEMP_ATTEMPTS = 100
_BINARY = getattr(os, "O_BINARY", 0)  # Windows only: no newline translation


def has_suffix(path, suffix):
    """Whether ``path`` ends in ``suffix``, ignoring case (``out.NPY`` is a ``.npy`` file).

    Examples
    --------
    >>> has_suffix("restored.NPY", ".npy"), has_suffix("restored.npy.png", ".npy")
    (True, False)
    """
    return Path(path).suffix.lower() == suffix.lower()


def check_output(path, force=False, folder=False):
    """Refuse, before any expensive work, an output that could not be written.

    Parameters
    ----------
    path : str or os.PathLike
        The output file, or with ``folder`` the output folder (which may not exist yet).
    force : bool
        Allow replacing an existing file, or writing into a non-empty folder.
    folder : bool
        ``path`` is a folder to fill with files rather than one file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        The folder that would contain ``path`` does not exist.
    NotADirectoryError
        That folder is a file, or (``folder``) ``path`` itself is a file.
    IsADirectoryError
        (not ``folder``) ``path`` is a folder.
    FileExistsError
        Without ``force``: ``path`` is an existing file, or (``folder``) a non-empty folder.
    PermissionError
        The containing folder is not writable.

    Examples
    --------
    >>> try:
    ...     check_output(Path("/nonexistent-folder") / "out.bbans")
    ... except FileNotFoundError as error:
    ...     print(error.strerror)
    folder /nonexistent-folder does not exist (create it first)
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        if parent.exists():
            raise NotADirectoryError(errno.ENOTDIR, f"{parent} is not a folder", os.fspath(path))
        raise FileNotFoundError(errno.ENOENT, f"folder {parent} does not exist (create it first)", os.fspath(path))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"folder {parent} is not writable", os.fspath(path))
    if folder:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", os.fspath(path))
        if not force and path.is_dir() and any(path.iterdir()):
            raise _exists(path, folder=True)
    elif path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", os.fspath(path))
    elif not force and (path.exists() or path.is_symlink()):
        raise _exists(path)
    return path


def write_file(path, write, force=False):
    """Create (or with ``force`` replace) the file ``path`` with what ``write(stream)`` writes, atomically.

    Parameters
    ----------
    path : str or os.PathLike
    write : callable
        Called once with a binary stream open for writing, e.g.
        ``lambda stream: numpy.save(stream, images)`` (which, given a stream, adds no suffix).
    force : bool
        Replace an existing file; without it an existing file, or one that appears while
        ``write`` runs, is never replaced (:class:`FileExistsError`).

    Either the whole new file is at ``path`` afterwards, or nothing changed there.
    """
    path = check_output(path, force)
    temp, descriptor = _create_temp(path, _create_file)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            _write_durably(stream, write, path)
        _publish(temp, path, force)
    except BaseException:
        _remove_quietly(temp)
        raise
    _fsync_folder(path.parent)


def write_bytes(path, data, force=False):
    """:func:`write_file` of the bytes ``data``."""
    write_file(path, lambda stream: stream.write(data), force)


def write_folder(folder, files, force=False):
    """Write ``files`` into ``folder`` so that a failure leaves no partial output behind.

    Parameters
    ----------
    folder : str or os.PathLike
        Created if missing (its parent must exist). Without ``force`` it must be missing or
        empty; with ``force`` files of the same names are replaced and other files kept.
    files : iterable of (str, callable)
        ``(name, write)`` pairs: a plain file name and a function that writes the file's
        content to a binary stream. Consumed lazily, one file at a time.
    force : bool

    All files are first written and fsynced in a temporary folder beside ``folder``. A new
    folder is then renamed into place in one step; into an existing folder the files are
    published one by one, as :func:`write_file` publishes one (without ``force``, files
    already published are removed again if one name turns out to be taken).
    """
    folder = check_output(folder, force, folder=True)
    staging, _ = _create_temp(folder, _create_folder)
    try:
        names, seen = [], set()
        for name, write in files:
            _check_file_name(name, seen)
            seen.add(name)
            with open(staging / name, "xb") as stream:
                _write_durably(stream, write, folder / name)
            names.append(name)
        _fsync_folder(staging)
        if not _rename_new_folder(staging, folder):
            _publish_into(staging, folder, names, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)  # already gone after a rename; empty otherwise
    _fsync_folder(folder.parent)


# -- helpers --------------------------------------------------------------------------------
def _write_durably(stream, write, path):
    """``write(stream)``, then flush and fsync; refuse a file shorter than what was written.

    The size check catches writers that lose errors: ``numpy.save`` to a real file writes
    through its own C ``FILE*`` and ignores a failed flush, so on a full disk or past a file
    size limit it returns normally, leaving the file truncated (measured: numpy 2.4 under
    ``RLIMIT_FSIZE``, ``tell()`` 1128 bytes, file 200).
    """
    write(stream)
    stream.flush()
    written, size = stream.tell(), os.fstat(stream.fileno()).st_size
    if size < written:
        raise OSError(errno.EIO, f"short write: only {size} of {written} bytes reached the file "
                                 f"(disk full or file size limit?)", os.fspath(path))
    os.fsync(stream.fileno())


def _exists(path, folder=False):
    if folder:
        return FileExistsError(errno.EEXIST, "folder exists and is not empty (use --force to write into it)",
                               os.fspath(path))
    return FileExistsError(errno.EEXIST, "file exists (use --force to overwrite it)", os.fspath(path))


def _create_temp(path, create):
    """(temporary path beside ``path``, result of ``create(temp)``), retrying on a name collision."""
    stem = path.name[:_TEMP_STEM_CHARS]
    for _ in range(_TEMP_ATTEMPTS):
        temp = path.parent / f".{stem}.{secrets.token_hex(4)}.tmp"
        try:
            return temp, create(temp)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name after {_TEMP_ATTEMPTS} attempts", os.fspath(path))


def _publish(temp, target, force):
    """Move the finished file ``temp`` to ``target`` atomically; without ``force`` never replace a file."""
    if force:
        os.replace(temp, target)
        return
    try:
        os.link(temp, target)
    except FileExistsError:
        raise _exists(target) from None
    except OSError:  # no hard links on this file system: reserve the name exclusively, then fill it
        try:
            os.close(_create_file(target))
        except FileExistsError:
            raise _exists(target) from None
        try:
            os.replace(temp, target)
        except BaseException:
            _remove_quietly(target)  # the empty file we reserved
            raise
        return
    _remove_quietly(temp)


def _rename_new_folder(staging, folder):
    """Rename ``staging`` to ``folder`` if ``folder`` does not exist; False if it does (or appeared)."""
    if folder.exists() or folder.is_symlink():
        return False
    try:
        # POSIX rename replaces only an *empty* folder that appeared meanwhile: nothing is lost.
        os.rename(staging, folder)
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR, errno.EACCES):
            if folder.exists():
                return False
        raise
    return True


def _publish_into(staging, folder, names, force):
    """Publish each staged file into the existing ``folder``; on failure remove the new names published."""
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", os.fspath(folder))
    if not force and any(folder.iterdir()):
        raise _exists(folder, folder=True)
    created = []
    try:
        for name in names:
            target = folder / name
            existed = target.exists() or target.is_symlink()
            _publish(staging / name, target, force)
            if not existed:
                created.append(target)
    except BaseException:
        for target in created:
            _remove_quietly(target)
        raise
    _fsync_folder(folder)


def _check_file_name(name, seen):
    """Refuse anything but a plain file name (no folder part, no ``.``/``..``) not in ``seen``."""
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name
            or os.sep in name or (os.altsep and os.altsep in name)):
        raise ValueError(f"{name!r} is not a plain file name")
    if name in seen:
        raise ValueError(f"file name {name!r} is given twice")


def _create_file(path):
    """A descriptor of the new file ``path`` (``O_EXCL``; permissions from the umask, as ``open`` gives)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)


def _create_folder(path):
    os.mkdir(path, 0o777)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_folder(folder):
    """Make a rename in ``folder`` durable (POSIX; best effort where folders cannot be fsynced)."""
    if os.name != "posix":
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
