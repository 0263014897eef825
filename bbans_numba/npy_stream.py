"""A ``.npy`` file of images read a block at a time, for coding more images than fit in memory.

:class:`NpyImages` looks like a read-only uint8 array of shape (N, ...) but reads only the
rows asked for, with plain file reads: unlike a memory map, whose pages stay counted in the
process's memory once touched, the pages read stay in the operating system's cache only, so
compressing a file of any size takes the memory of a few chunks.

Examples
--------
>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
>>> np.save(path, np.arange(24, dtype=np.uint8).reshape(4, 2, 3))
>>> images = NpyImages(path)
>>> images.shape, len(images), images[1:3].tolist()
((4, 2, 3), 4, [[[6, 7, 8], [9, 10, 11]], [[12, 13, 14], [15, 16, 17]]])
"""

import math
import os

import numpy as np

__all__ = ["NpyImages"]


class NpyImages:
    """The images of a C-order uint8 ``.npy`` file, read on indexing (``images[a:b]``, ``images[a:b, ...]``).

    Raises
    ------
    ValueError
        Not a ``.npy`` file, not C-order uint8 with at least one dimension, or shorter than
        its header says.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        with open(self.path, "rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"{self.path}: .npy format version {version} is not supported")
            shape, fortran_order, dtype = read_header(stream)
            self.offset = stream.tell()
            size = stream.seek(0, os.SEEK_END)
        if dtype != np.uint8 or fortran_order or len(shape) < 1:
            raise ValueError(f"{self.path}: expected a C-order uint8 array of images, found {dtype} {shape}"
                             f"{' in Fortran order' if fortran_order else ''}")
        if size - self.offset < math.prod(shape):
            raise ValueError(f"{self.path}: the .npy header claims {shape} ({math.prod(shape)} bytes) but only "
                             f"{size - self.offset} bytes follow it")
        self.shape = tuple(shape)
        self.dtype = np.dtype(np.uint8)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    def __len__(self):
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        return self[:] if dtype is None else self[:].astype(dtype)

    def __getitem__(self, key):
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("NpyImages reads slices of rows (step 1)")
        first, stop, _ = rows.indices(len(self))
        count = max(0, stop - first)
        row_bytes = math.prod(self.shape[1:])
        with open(self.path, "rb") as stream:
            stream.seek(self.offset + first * row_bytes)
            block = np.fromfile(stream, dtype=np.uint8, count=count * row_bytes)
        block = block.reshape((count,) + self.shape[1:])
        return block[(slice(None), *rest)] if rest else block
