"""Compress and decompress on Dask: one task per chunk, on whatever scheduler is active.

A version-2 file is a header over independent chunks (:mod:`bbans_numba.chunks`), so a dask
array of images chunked along its first axis maps onto a file chunk for chunk: each block is
coded by one task, anywhere, and the header is written from the tasks' results.  The bytes
are exactly those of :func:`bbans_numba.compress` with ``chunk_images`` set to the array's
chunks along N.  Decoding gives a dask array whose blocks are the file's chunks, each decoded
(and checked) by one task when computed.

Dask is an optional dependency: ``pip install "bbans_numba[dask]"``.

Examples
--------
>>> import dask.array as da, numpy as np, bbans_numba as bb
>>> images = bb.load_images("mnist:sample")[:12]
>>> blob = bb.compress_dask(da.from_array(images, chunks=(5, 28, 28)), scheduler="sync")
>>> blob == bb.compress(images, chunk_images=[5, 5, 2])
True
>>> restored = bb.decompress_dask(blob)
>>> restored.chunks[0], bool(np.array_equal(restored.compute(scheduler="sync"), images))
((5, 5, 2), True)
"""

import numpy as np

from . import chunks, container_v2
from .bbans import make_codec

__all__ = ["compress_dask", "decompress_dask", "from_images", "compute"]


def _dask():
    try:
        import dask
        import dask.array
    except ImportError as error:
        raise ImportError('Dask is not installed: pip install "bbans_numba[dask]" (or "dask[distributed]")') from error
    return dask


def compute(tasks, scheduler=None):
    """``dask.compute(*tasks)`` on ``scheduler``: None (the active one), a name, a Client, or an address."""
    dask = _dask()
    if isinstance(scheduler, str) and "://" in scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            return dask.compute(*tasks, scheduler=client)
    if scheduler is None:
        return dask.compute(*tasks)
    return dask.compute(*tasks, scheduler=scheduler)


def from_images(images, chunk_images=None):
    """``images`` (an array, e.g. memory-mapped) as a dask array chunked like a file's chunks."""
    dask = _dask()
    sizes = tuple(chunks.chunk_sizes(len(images), chunk_images))
    return dask.array.from_array(images, chunks=(sizes,) + tuple(images.shape[1:]), asarray=False)


def compress_dask(images, model="mnist", lanes=None, quantizer=None, bucket_bits=None, latent_precision_bits=None,
                  pixel_precision_bits=None, first_latent_bits=None, scheduler=None, *, file_names=None):
    """Compress a dask array of images with one task per chunk along N; the bytes of :func:`bbans_numba.compress`.

    Parameters
    ----------
    images : dask.array.Array or array-like of uint8, shape (N,) + model.image_shape
        Its chunks along the first axis become the file's chunks (other axes are joined).
    model, lanes, quantizer, bucket_bits, latent_precision_bits, pixel_precision_bits, first_latent_bits, file_names
        As for :func:`bbans_numba.compress`.
    scheduler : optional
        None: the active Dask scheduler (a ``distributed.Client`` if one is active); a
        scheduler name (``"threads"``, ``"processes"``, ``"sync"``); a ``Client``; or the
        address of a running ``dask.distributed`` scheduler (``"tcp://host:8786"``).

    Returns
    -------
    bytes
        Exactly ``bb.compress(images, chunk_images=images.chunks[0], ...)``.
    """
    dask = _dask()
    codec = make_codec(model, quantizer, bucket_bits, latent_precision_bits, pixel_precision_bits,
                               first_latent_bits)
    images = dask.array.asarray(images)
    codec.check_images(np.empty((0,) + images.shape[1:], dtype=images.dtype))
    chunks.check_file_names(file_names, images.shape[0])
    images = images.rechunk({axis: -1 for axis in range(1, images.ndim)})
    shared_codec = dask.delayed(codec, pure=True)  # one key: shipped once to each worker that needs it
    encode = dask.delayed(chunks.encode_chunk, pure=True)
    blocks = images.to_delayed().reshape(-1)
    tasks = [encode(shared_codec, block, chunks.resolve_lanes(lanes, size))
             for block, size in zip(blocks, images.chunks[0])]
    coded = compute(tasks, scheduler) if tasks else []
    header = chunks.header_for(codec, images.shape[1:], [chunk for chunk, _ in coded], file_names)
    return header.to_bytes() + b"".join(payload for _, payload in coded)


def decompress_dask(blob, model=None):
    """A dask array of the images of a version-2 file: one block per chunk, decoded by one task when computed.

    The header is read (and every claim checked) at once; each task checks its chunk as
    :func:`bbans_numba.decompress` does, so computing raises ContainerError on a corrupted
    chunk.  ``model`` as for :func:`bbans_numba.decompress`.
    """
    dask = _dask()
    blob = bytes(blob)
    header, header_bytes = container_v2.read_header(blob)
    codec = chunks.codec_for(header, model)
    shared_codec = dask.delayed(codec, pure=True)
    decode = dask.delayed(chunks.decode_chunk, pure=True)
    offsets = header.payload_offsets(header_bytes)
    last = len(header.chunks) - 1
    blocks = [dask.array.from_delayed(decode(shared_codec, chunk, blob[offset:offset + chunk.payload_bytes], index,
                                             index == last),
                                      shape=(chunk.count,) + header.image_shape, dtype=np.uint8)
              for index, (chunk, offset) in enumerate(zip(header.chunks, offsets))]
    if not blocks:
        return dask.array.zeros((0,) + header.image_shape, dtype=np.uint8)
    return dask.array.concatenate(blocks) if len(blocks) > 1 else blocks[0]
