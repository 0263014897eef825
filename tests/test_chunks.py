"""Chunks: independent coding, parallel threads, random access, streaming, padding, small inputs."""

import io
from pathlib import Path

import numpy as np
import pytest

import bbans_numba as bb
from bbans_numba import chunks, cli, container_v2
from bbans_numba.bbans import VAECodec
from bbans_numba.chunks import decode_chunk, encode_chunk, fresh_message
from bbans_numba.settings import chunk_sizes, resolve_lanes


@pytest.fixture(scope="module")
def images():
    return bb.load_images("mnist:sample")[:50]


@pytest.fixture(scope="module")
def blob(images):
    return bb.compress(images, model="mnist-fast", chunk_images=12, workers=1)


@pytest.fixture(scope="module")
def codec():
    return VAECodec("mnist-fast")


# -- splitting ------------------------------------------------------------------------------
def test_chunk_sizes_and_lanes():
    assert chunk_sizes(50, 12) == [12, 12, 12, 12, 2]
    assert chunk_sizes(5, [2, 3]) == [2, 3]
    with pytest.raises(ValueError, match="adding up to the 5 images"):
        chunk_sizes(5, [2, 2])
    with pytest.raises(ValueError, match="positive"):
        chunk_sizes(5, 0)
    assert [resolve_lanes(None, n) for n in (1, 31, 32, 100, 512, 10_000)] == [1, 1, 1, 3, 16, 16]
    assert resolve_lanes(40, 12) == 12


def test_the_file_lists_the_chunks_asked_for(blob, images):
    header, _ = container_v2.read_header(blob)
    assert [chunk.count for chunk in header.chunks] == [12, 12, 12, 12, 2]
    assert all(chunk.lanes == 1 and chunk.pad_words == 0 for chunk in header.chunks)
    assert header.count == len(images)


# -- workers never change a byte ----------------------------------------------------------------
def test_bytes_do_not_depend_on_the_workers(blob, images):
    assert bb.compress(images, model="mnist-fast", chunk_images=12, workers=3) == blob
    assert np.array_equal(bb.decompress(blob, workers=2), images)


def test_irregular_chunks_as_a_dask_array_would_have(images):
    sizes = [7, 20, 3, 20]
    blob = bb.compress(images, model="mnist-fast", chunk_images=sizes)
    assert [chunk.count for chunk in container_v2.read_header(blob)[0].chunks] == sizes
    assert np.array_equal(bb.decompress(blob), images)


# -- random access --------------------------------------------------------------------------------
@pytest.mark.parametrize("selection", [slice(0, 1), slice(11, 13), slice(30, None), slice(-5, None), slice(49, 200),
                                       slice(20, 20), slice(60, 70), slice(None, None)])
def test_a_slice_decodes_only_the_chunks_holding_it(blob, images, selection, monkeypatch):
    decoded_chunks = []
    real = chunks.decode_chunk
    monkeypatch.setattr(chunks, "decode_chunk", lambda codec, chunk, payload, index, last: (
        decoded_chunks.append(index) or real(codec, chunk, payload, index, last)))
    part = bb.decompress(blob, images=selection, workers=1)
    expected = images[selection]
    assert part.shape == expected.shape and np.array_equal(part, expected)
    first, stop, _ = selection.indices(len(images))
    holding = [index for index in range(5) if index * 12 < stop and (index + 1) * 12 > first]
    assert decoded_chunks == (holding if first < stop else [])


def test_a_slice_must_have_step_one(blob):
    with pytest.raises(ValueError, match="step 1"):
        bb.decompress(blob, images=slice(0, 10, 2))
    with pytest.raises(ValueError, match="slice"):
        bb.decompress(blob, images=[1, 2])


def test_random_access_reads_only_the_header_and_its_chunks_from_a_file(blob, images):
    class CountingFile(io.BytesIO):
        read_bytes = 0

        def read(self, size=-1):
            data = super().read(size)
            CountingFile.read_bytes += len(data)
            return data

    source = CountingFile(blob)
    assert np.array_equal(bb.decompress(source, images=slice(40, 45)), images[40:45])
    header, header_bytes = container_v2.read_header(blob)
    assert CountingFile.read_bytes <= 2 * header_bytes + 10 + header.chunks[3].payload_bytes


# -- streaming ---------------------------------------------------------------------------------------
def test_compress_to_and_decompress_to_npy_stream_a_memory_map(tmp_path, images):
    np.save(tmp_path / "in.npy", images)
    mapped = np.load(tmp_path / "in.npy", mmap_mode="r")
    with open(tmp_path / "out.bbans", "wb") as stream:
        size = bb.compress_to(stream, mapped, model="mnist-fast", chunk_images=12, workers=2)
    blob = (tmp_path / "out.bbans").read_bytes()
    assert size == len(blob) and blob == bb.compress(images, model="mnist-fast", chunk_images=12)
    with open(tmp_path / "out.bbans", "rb") as source, open(tmp_path / "back.npy", "wb") as stream:
        assert bb.decompress_to_npy(source, stream, images=slice(5, 30)) == (25, 28, 28)
    assert np.array_equal(np.load(tmp_path / "back.npy"), images[5:30])


def test_the_cli_decodes_a_range_with_workers(tmp_path, images, capsys):
    np.save(tmp_path / "in.npy", images)
    assert cli.main(["compress", str(tmp_path / "in.npy"), str(tmp_path / "x.bbans"), "--chunk-images", "12",
                     "--model", "mnist-fast", "--workers", "2", "--quiet"]) == 0
    assert cli.main(["decompress", str(tmp_path / "x.bbans"), str(tmp_path / "part.npy"), "--images", "10:26",
                     "--workers", "2"]) == 0
    assert "decompressed 16 images" in capsys.readouterr().out
    assert np.array_equal(np.load(tmp_path / "part.npy"), images[10:26])


# -- pad words: never borrow, at least a byte per image ----------------------------------------------
def test_a_chunk_that_would_borrow_is_coded_again_over_pad_words(codec, images, monkeypatch):
    """All lanes at once from the start: their posterior pops outrun the first image's bits."""
    def no_ramp(count, lanes):
        return [slice(0, 1)] + [slice(r.start + 1, r.stop + 1) for r in bb.bbans.deal(count - 1, lanes)]

    monkeypatch.setattr(bb.bbans, "ramp", no_ramp)
    chunk, payload = encode_chunk(codec, images[:40], lanes=16)
    assert chunk.pad_words >= 16
    assert np.array_equal(decode_chunk(codec, chunk, payload), images[:40])


def test_a_chunk_smaller_than_a_byte_per_image_is_padded(codec, images, monkeypatch):
    monkeypatch.setattr(container_v2, "MIN_PAYLOAD_BYTES_PER_IMAGE", 400)
    chunk, payload = encode_chunk(codec, images[:5], lanes=2)
    assert chunk.pad_words > 0 and len(payload) == chunk.payload_bytes >= 5 * 400
    assert np.array_equal(decode_chunk(codec, chunk, payload), images[:5])


def test_a_fresh_message_carries_the_checksum_in_lane_zero():
    message = fresh_message(lanes=3, pad_words=2, checksum=0xFFFFFFFF)
    heads = message.heads
    assert heads[0] == 2**31 + 2**31 - 1 and all(2**31 <= head < 2**32 for head in heads)
    assert message.num_words == 2 and message.underflow_words == 0


# -- small inputs -----------------------------------------------------------------------------------
def test_one_image_costs_a_28_byte_header_and_its_bits():
    image = bb.load_images("mnist:sample")[:1]
    blob = bb.compress(image)
    info = bb.bbans.file_info(blob)
    assert info["header_bytes"] == 28 and info["lanes"] == 1
    assert 8 * len(blob) / image.size < 1.6  # the shipped model on MNIST test image 0 (README)
    assert np.array_equal(bb.decompress(blob), image)


# -- threads over chunks: no parallel kernel, and the kernels release the GIL -----------------------
def test_no_coding_kernel_is_parallel_and_every_kernel_releases_the_gil():
    """Chunks are the unit of parallel work (threads): a prange over a round's few lanes would spend its time
    synchronizing and collapse when another process holds a core; a kernel holding the GIL would serialize the
    threads.  New kernels in these modules take ``@njit(cache=True, nogil=True)``."""
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    from bbans_numba import architectures, codecs, families, likelihoods, model, nn, portable, quantize, rans

    packages = [importlib.import_module(f"{package.__name__}.{info.name}")
                for package in (families, likelihoods, architectures) for info in pkgutil.iter_modules(package.__path__)]
    tiny = {"_initial_heads"}  # a fresh message's heads: microseconds, once per chunk
    for module in (rans, codecs, quantize, model, nn, portable, *packages):
        for name, kernel in vars(module).items():
            if isinstance(kernel, CPUDispatcher):
                options = kernel.targetoptions
                assert not options.get("parallel"), f"{module.__name__}.{name} is parallel"
                if options.get("inline") != "always" and name not in tiny:
                    assert options.get("nogil"), f"{module.__name__}.{name} holds the GIL"
