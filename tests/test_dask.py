"""Dask: one task per chunk gives exactly the bytes of bb.compress; decoding gives a dask array.

Skipped where Dask is not installed (it is an optional extra: pip install ".[dask]").
"""

import numpy as np
import pytest

import bbans_numba as bb
from bbans_numba import cli, container

da = pytest.importorskip("dask.array")

MODEL = "mnist-fast"


@pytest.fixture(scope="module")
def images():
    return bb.load_images("mnist:sample")[:30]


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes (one thread each), for the module."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        with distributed.Client(local) as client:
            yield local, client


def test_threads_give_the_bytes_of_compress(images):
    array = da.from_array(images, chunks=((7, 13, 10), 28, 28))
    blob = bb.compress_dask(array, model=MODEL, scheduler="threads")
    assert blob == bb.compress(images, model=MODEL, chunk_images=[7, 13, 10])
    restored = bb.decompress_dask(blob)
    assert restored.chunks[0] == (7, 13, 10)
    assert np.array_equal(restored.compute(scheduler="threads"), images)
    assert np.array_equal(restored[8:15].compute(scheduler="sync"), images[8:15])


def test_two_worker_processes_give_the_same_bytes(images, cluster):
    local, client = cluster
    array = da.from_array(images, chunks=(10, 28, 28))
    expected = bb.compress(images, model=MODEL, chunk_images=10)
    assert bb.compress_dask(array, model=MODEL) == expected  # the active Client
    assert bb.compress_dask(array, model=MODEL, scheduler=local.scheduler_address) == expected
    assert np.array_equal(bb.decompress_dask(expected).compute(), images)


def test_a_corrupted_chunk_fails_its_task(images):
    blob = bytearray(bb.compress(images, model=MODEL, chunk_images=10))
    blob[-30] ^= 0x40  # inside the last chunk's payload
    with pytest.raises(container.ContainerError, match="chunk 2"):
        bb.decompress_dask(bytes(blob)).compute(scheduler="sync")


def test_wrong_images_are_refused_before_any_task(images):
    with pytest.raises(ValueError, match="shape"):
        bb.compress_dask(da.zeros((4, 32, 32), dtype=np.uint8))


def test_the_cli_codes_on_a_running_cluster(images, cluster, tmp_path, capsys):
    local, _ = cluster
    np.save(tmp_path / "in.npy", images)
    assert cli.main(["compress", str(tmp_path / "in.npy"), str(tmp_path / "x.bbans"), "--model", MODEL,
                     "--chunk-images", "12", "--scheduler", local.scheduler_address, "--quiet"]) == 0
    assert (tmp_path / "x.bbans").read_bytes() == bb.compress(images, model=MODEL, chunk_images=12)
    assert cli.main(["decompress", str(tmp_path / "x.bbans"), str(tmp_path / "out.npy"), "--images", "5:20",
                     "--scheduler", local.scheduler_address, "--quiet"]) == 0
    assert np.array_equal(np.load(tmp_path / "out.npy"), images[5:20])
