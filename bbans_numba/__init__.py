"""bbans_numba: lossless image compression with bits-back ANS over a Numba rANS coder.

Public surface (see README.md)::

    import bbans_numba as bb
    m = bb.Message(num_lanes=4)
    c = bb.codecs.Categorical(probs, precision_bits=16)
    blob = bb.compress(images, model="mnist")
    images = bb.decompress(blob)
    part = bb.decompress(blob, images=slice(100, 200))   # decodes only the chunks holding them
    blob = bb.compress_dask(dask_images)                  # the same bytes, one Dask task per chunk

Submodules are imported on first use, so ``import bbans_numba`` stays cheap.

Numba's on-disk cache of compiled kernels goes to a per-user folder,
``$XDG_CACHE_HOME/bbans_numba/VERSION`` (``~/.cache/bbans_numba/VERSION`` by default),
never into the installed package: cache files left in ``site-packages/bbans_numba`` survive
``pip uninstall`` and turn the folder into a namespace package that hides a later install.
A ``NUMBA_CACHE_DIR`` set by the user wins; see :func:`kernel_cache_dir`.
"""

import importlib
import os
import sys
import tempfile
from pathlib import Path

__version__ = "0.3.0"

_LAZY_ATTRS = {
    "Message": ("bbans_numba.rans", "Message"),
    "compress": ("bbans_numba.bbans", "compress"),
    "decompress": ("bbans_numba.bbans", "decompress"),
    "compress_to": ("bbans_numba.bbans", "compress_to"),
    "decompress_to_npy": ("bbans_numba.bbans", "decompress_to_npy"),
    "compress_dask": ("bbans_numba.on_dask", "compress_dask"),
    "decompress_dask": ("bbans_numba.on_dask", "decompress_dask"),
    "load_model": ("bbans_numba.model", "load_model"),
    "load_images": ("bbans_numba.datasets", "load_images"),
}
_LAZY_MODULES = {"rans", "quantize", "codecs", "bbans", "settings", "model", "container", "container_v2", "chunks",
                 "on_dask", "npy_stream", "datasets", "cli"}

__all__ = sorted(set(_LAZY_ATTRS) | _LAZY_MODULES | {"kernel_cache_dir"})


def kernel_cache_dir(environ=os.environ):
    """The folder for Numba's kernel cache: the first writable of the per-user candidates.

    In order: ``$XDG_CACHE_HOME/bbans_numba/VERSION`` (``~/.cache`` when unset), then
    ``TMPDIR/bbans_numba-cache-UID/VERSION`` (created private to the user; refused if another
    user owns it or may write to it, since Numba's cache files are pickles).  Returns None
    when neither is writable (Numba then falls back to its own locations).

    Examples
    --------
    >>> import tempfile
    >>> base = tempfile.mkdtemp()
    >>> kernel_cache_dir({"XDG_CACHE_HOME": base}) == Path(base, "bbans_numba", __version__)
    True
    """
    user_cache = environ.get("XDG_CACHE_HOME") or Path("~", ".cache").expanduser()
    candidates = [(Path(user_cache, "bbans_numba"), False),
                  (Path(tempfile.gettempdir(), f"bbans_numba-cache-{_user_id()}"), True)]
    for root, shared_parent in candidates:
        folder = root / __version__
        if _writable_folder(folder, root if shared_parent else None):
            return folder
    return None


def _user_id():
    return os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")


def _writable_folder(folder, private_root=None):
    """Create ``folder`` if needed and check that a file can be written in it.

    ``private_root``, if given, is made with mode 0700 and must belong to this user and be
    writable by nobody else (it sits in a shared temporary folder).
    """
    try:
        if private_root is not None:
            private_root.mkdir(mode=0o700, exist_ok=True)
            if hasattr(os, "getuid"):
                status = private_root.stat()
                if status.st_uid != os.getuid() or status.st_mode & 0o022:
                    return False
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _use_kernel_cache_dir():
    """Point Numba's cache at :func:`kernel_cache_dir` unless the user chose a folder.

    Runs before any kernel is defined (Numba picks a kernel's cache folder when its module is
    imported).  If Numba is already imported, its config is reloaded so that it sees the change.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    folder = kernel_cache_dir()
    if folder is None:
        return
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:
        numba_config.reload_config()


_use_kernel_cache_dir()


def __getattr__(name):
    if name in _LAZY_ATTRS:
        module_name, attr = _LAZY_ATTRS[name]
        value = getattr(importlib.import_module(module_name), attr)
        globals()[name] = value
        return value
    if name in _LAZY_MODULES:
        module = importlib.import_module(f"bbans_numba.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'bbans_numba' has no attribute {name!r}")


def __dir__():
    return __all__
