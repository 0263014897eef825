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
"""

import importlib

__version__ = "0.2.0"

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

__all__ = sorted(set(_LAZY_ATTRS) | _LAZY_MODULES)


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
