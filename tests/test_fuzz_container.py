"""Fuzzing the version-1 ``.bbans`` reader and decoder with files whose checksums are *recomputed*.

A valid small file (3 images of ``mnist:sample``, 2 chains) is mutated -- bytes flipped,
inserted, deleted, overwritten, the file truncated or extended, header fields set to
hostile values -- and its CRC-32s are then recomputed, so that the mutation reaches the
header validation and the decoder instead of stopping at a checksum. Every case must end in
the original images or in one :class:`~bbans_numba.container.ContainerError` with a
one-line message (what the CLI prints as ``bbans: error: ...``).

Bounds per case, enforced in-process (a subprocess per case would be too slow):

- time: the decoder's ``progress`` callback, called after every lock-step step, raises
  :class:`DeadlineExceeded` once :data:`CASE_SECONDS` have passed (a single step cannot be
  interrupted; on this 3-image file one step takes milliseconds);
- memory: the peak of :mod:`tracemalloc` (which NumPy reports its buffers to) must stay
  under :data:`CASE_PEAK_BYTES`.

Numba runs single-threaded here: with 2 lanes, thread hand-offs cost more than the work
(0.02 s vs 0.47 s per decode measured on a busy 2-core machine).

Known failures (issue 12, fixed in bbans.py/container.py in phase 2) are kept out of the
fuzzed value ranges and pinned by the ``xfail`` tests at the end: a ``count`` the payload
cannot back (decompression bomb), ``count`` too large for a float, and a model name that is
a path. ``HYPOTHESIS_PROFILE=explore`` searches harder.
"""

import json
import math
import shutil
import struct
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bbans_numba as bb
from bbans_numba import container
from bbans_numba.model import load_model
from bbans_numba.rans import Message

CASE_SECONDS = 5.0
CASE_PEAK_BYTES = 256 << 20
COUNT = 3
CHAINS = 2
# Values that break naive integer handling: signs, word boundaries, beyond float range.
EDGE_INTEGERS = [0, 1, -1, 2, 3, 31, 32, 63, 64, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 63 - 1, 2 ** 63, 2 ** 64,
                 -(2 ** 63), 10 ** 400, -(10 ** 400)]


def at_least(examples):
    """``examples``, or more when the loaded Hypothesis profile asks for more (``explore``)."""
    return max(examples, settings.default.max_examples)


class DeadlineExceeded(Exception):
    """A decode ran past :data:`CASE_SECONDS`: the file made the decoder work unboundedly."""


# -- the valid file and its parts ------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def one_numba_thread():
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    return load_model("mnist")


@pytest.fixture(scope="module")
def original(model):
    images = bb.load_images("mnist:sample")[:COUNT]
    return images, bb.compress(images, model=model, lanes=CHAINS)


def header_bytes_of(header):
    """Header bytes the way the writer makes them, except that anything JSON can say is allowed."""
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def unpack_json(blob):
    """``(header as its v1 JSON object, payload)`` of a valid file."""
    header, payload = container.unpack(blob)
    return header.to_json_object(), payload


def file_from(header_bytes, payload):
    """A v1 file around ``header_bytes`` and ``payload`` with correct lengths and CRC-32s (bbans_numba/format.md)."""
    return b"".join((container.MAGIC, struct.pack("<HI", container.FORMAT_VERSION, len(header_bytes)), header_bytes,
                     struct.pack("<IQ", zlib.crc32(header_bytes), len(payload)), payload,
                     struct.pack("<I", zlib.crc32(payload))))


def with_checksums_recomputed(blob):
    """Rewrite both CRC-32s where the (possibly mutated) length fields place them, where they fit."""
    data = bytearray(blob)
    fixed = len(container.MAGIC) + 2
    if len(data) < fixed + 4:
        return bytes(data)
    header_end = fixed + 4 + struct.unpack_from("<I", data, fixed)[0]
    if header_end + 4 > len(data):
        return bytes(data)
    struct.pack_into("<I", data, header_end, zlib.crc32(data[fixed + 4:header_end]))
    if header_end + 12 > len(data):
        return bytes(data)
    payload_end = header_end + 12 + struct.unpack_from("<Q", data, header_end + 4)[0]
    if payload_end + 4 <= len(data):
        struct.pack_into("<I", data, payload_end, zlib.crc32(data[header_end + 12:payload_end]))
    return bytes(data)


# -- the per-case check ----------------------------------------------------------------------
def decode_bounded(blob, model, seconds=CASE_SECONDS):
    """``bb.decompress(blob)`` with a deadline; returns (images or error, peak traced bytes)."""
    deadline = time.monotonic() + seconds

    def progress(done, total):
        if time.monotonic() > deadline:
            raise DeadlineExceeded(f"decoding still ran after {seconds} s ({done} of {total} images)")

    tracemalloc.start()
    try:
        try:
            return bb.decompress(blob, model=model, progress=progress), tracemalloc.get_traced_memory()[1]
        except container.ContainerError as error:
            return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_original_or_one_line_error(blob, model, images):
    outcome, peak = decode_bounded(blob, model)
    assert peak <= CASE_PEAK_BYTES, f"decoding traced {peak} bytes, more than {CASE_PEAK_BYTES}"
    if isinstance(outcome, container.ContainerError):
        message = str(outcome)
        assert message and "\n" not in message, repr(message)
    else:
        assert outcome.dtype == np.uint8 and np.array_equal(outcome, images), "decoded images differ from the original"


def test_the_unmutated_file_decodes(original, model):
    images, blob = original
    assert with_checksums_recomputed(blob) == blob
    assert np.array_equal(bb.decompress(blob, model=model), images)


# -- byte mutations --------------------------------------------------------------------------
# Random positions, and the offsets of the payload's fields (num_lanes, reserved, underflow_words,
# num_words, first heads) and of the file's version and header_len.
POSITION = st.one_of(st.integers(0, 1 << 20), st.sampled_from([0, 4, 8, 10, 16, 24, 32, 40]))
MUTATION = st.one_of(
    st.tuples(st.just("flip"), POSITION, st.integers(1, 255)),
    st.tuples(st.just("truncate"), POSITION),
    st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("insert"), POSITION, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), POSITION, st.integers(1, 64)),
    st.tuples(st.just("overwrite"), POSITION, st.binary(min_size=1, max_size=16)),
    # A length, count or head field set to an edge value (little-endian, 4 or 8 bytes).
    st.tuples(st.just("integer"), POSITION, st.sampled_from([4, 8]),
              st.sampled_from([0, 1, 2, 3, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 62, 2 ** 63, 2 ** 64 - 1])),
)


def mutated(data, mutations):
    data = bytearray(data)
    for kind, *args in mutations:
        at = args[0] % (len(data) + 1) if kind not in ("truncate", "extend") else None
        if kind == "flip" and data:
            data[at % len(data)] ^= args[1]
        elif kind == "truncate":
            del data[len(data) - args[0] % (len(data) + 1):]
        elif kind == "extend":
            data += args[0]
        elif kind == "insert":
            data[at:at] = args[1]
        elif kind == "delete":
            del data[at:at + args[1]]
        elif kind == "overwrite":
            data[at:at + len(args[1])] = args[1]
        elif kind == "integer":
            data[at:at + args[1]] = (args[2] % (1 << 8 * args[1])).to_bytes(args[1], "little")
    return bytes(data)


@settings(max_examples=at_least(200))
@given(section=st.sampled_from(["header", "payload"]), mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_header_or_payload_with_valid_checksums(original, model, section, mutations):
    images, blob = original
    header, payload = unpack_json(blob)
    header_bytes = header_bytes_of(header)
    if section == "header":
        header_bytes = mutated(header_bytes, mutations)
    else:
        payload = mutated(payload, mutations)
    assert_original_or_one_line_error(file_from(header_bytes, payload), model, images)


@settings(max_examples=at_least(150))
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_file_with_checksums_recomputed(original, model, mutations):
    images, blob = original
    assert_original_or_one_line_error(with_checksums_recomputed(mutated(blob, mutations)), model, images)


# -- header fields set to hostile values -------------------------------------------------------
# Fields and where they live; "count" is fuzzed only over small values (see the module docstring).
FIELDS = [("chains",), ("initial_words",), ("image_shape",), ("image_shape", 0), ("dtype",),
          ("model",), ("model", "name"), ("model", "fingerprint"), ("settings",), ("settings", "quantizer"),
          ("settings", "bucket_bits"), ("settings", "latent_precision_bits"), ("settings", "pixel_precision_bits"),
          ("settings", "likelihood"), ("checksums",), ("checksums", "chunk_images"), ("checksums", "crc32"),
          ("checksums", "crc32", 0), ("file_names",), ("file_names", 0), ("unknown_key",)]
DELETE = "<delete the key>"
JSON_SCALARS = st.one_of(
    st.sampled_from(EDGE_INTEGERS), st.integers(-(2 ** 70), 2 ** 70), st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True),  # json writes NaN and Infinity, and json.loads reads them
    st.booleans(), st.none(), st.text(max_size=12), st.sampled_from(["exact", "histogram", "uint8", "mnist"]),
)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8)
# count 0 is left out: today it accepts any payload (pinned by an xfail test below).
SMALL_COUNTS = st.one_of(st.integers(1, 24), st.integers(-3, -1), st.sampled_from([-(2 ** 63), -(10 ** 400)]), st.floats(0, 8),
                         st.booleans(), st.none(), st.text(max_size=4), st.lists(st.integers(0, 4), max_size=2))


def edited(header, path, value):
    """A deep copy of ``header`` with the value at ``path`` replaced, or removed with :data:`DELETE`.

    Where an earlier edit left no container at ``path`` (a list or object replaced by a
    scalar), the header is returned unchanged.
    """
    header = json.loads(json.dumps(header))
    parent = header
    for key in path[:-1]:
        if not _holds(parent, key):
            return header
        parent = parent[key]
    key = path[-1]
    if value is DELETE and _holds(parent, key):
        del parent[key]
    elif value is not DELETE and ((isinstance(parent, dict) and isinstance(key, str)) or _holds(parent, key)):
        parent[key] = value
    return header


def _holds(container_value, key):
    if isinstance(container_value, dict):
        return key in container_value
    return isinstance(container_value, list) and isinstance(key, int) and key < len(container_value)


def with_consistent_checksum_count(header):
    """Give ``checksums.crc32`` as many entries as ``count`` and ``chunk_images`` ask, where both are sane."""
    checksums = header.get("checksums")
    count = header.get("count")
    if not isinstance(checksums, dict) or not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return header
    chunk = checksums.get("chunk_images")
    crcs = checksums.get("crc32")
    if isinstance(chunk, int) and not isinstance(chunk, bool) and 0 < chunk and isinstance(crcs, list) and crcs:
        checksums["crc32"] = (crcs * math.ceil(count / chunk))[:math.ceil(count / chunk)]
    return header


@settings(max_examples=at_least(300))
@given(edits=st.lists(st.tuples(st.sampled_from(FIELDS), st.one_of(JSON_VALUES, st.just(DELETE))),
                      min_size=1, max_size=3),
       count=st.one_of(st.none(), SMALL_COUNTS), consistent=st.booleans())
def test_hostile_header_fields_with_valid_checksums(original, model, edits, count, consistent):
    images, blob = original
    header, payload = unpack_json(blob)
    for path, value in edits:
        header = edited(header, path, value)
    if count is not None:
        header = edited(header, ("count",), count)
    if consistent:
        header = with_consistent_checksum_count(header)
    assert_original_or_one_line_error(file_from(header_bytes_of(header), payload), model, images)


@settings(max_examples=at_least(60))
@given(payload=st.one_of(st.binary(max_size=200), st.integers(1, 4).map(lambda lanes: Message(lanes).to_bytes())),
       count=st.integers(1, 12))
def test_any_payload_under_a_valid_header(original, model, payload, count):
    images, blob = original
    header, _ = unpack_json(blob)
    header = with_consistent_checksum_count(edited(header, ("count",), count))
    assert_original_or_one_line_error(file_from(header_bytes_of(header), payload), model, images)


# -- known failures, fixed in phase 2 (issue 12 items 2-4) ----------------------------------------
def bomb(original, count, payload=None):
    """The original file claiming ``count`` images in one checksum chunk, with ``payload`` (default: its own).

    The exact quantizer gives every latent bucket a non-zero frequency, so no symbol drawn from
    the underflow generator is ever refused: only a bound on the work can stop the decoder.
    """
    header, own_payload = unpack_json(original[1])
    header = edited(edited(header, ("count",), count), ("checksums", "chunk_images"), max(count, 1))
    header = edited(header, ("settings", "quantizer"), "exact")
    return file_from(header_bytes_of(header), own_payload if payload is None else payload)


@pytest.mark.xfail(strict=False, raises=DeadlineExceeded,
                   reason="issue 12 item 2 (phase 2): decode work is not bounded by the payload size")
@pytest.mark.parametrize("payload", ["own", "empty"])
def test_a_count_the_payload_cannot_back_is_refused_early(original, model, payload):
    # 4000 images of 28x28 cannot fit in a few hundred bytes; today decoding draws generator words
    # for each of them (~40 s here, ~100 minutes for the 4,000,000) before any check fails.
    blob = bomb(original, 4000, None if payload == "own" else Message(CHAINS).to_bytes())
    start = time.monotonic()
    outcome, _ = decode_bounded(blob, model, seconds=2.0)
    assert isinstance(outcome, container.ContainerError) and time.monotonic() - start < 2.0


@pytest.mark.xfail(strict=False, raises=(MemoryError, DeadlineExceeded),
                   reason="issue 12 items 2 and 4 (phase 2): memory for the images is allocated from the header's count")
def test_a_huge_count_is_refused_without_allocating(original, model):
    outcome, peak = decode_bounded(bomb(original, 10 ** 12), model, seconds=2.0)
    assert isinstance(outcome, container.ContainerError) and peak <= CASE_PEAK_BYTES


@pytest.mark.xfail(strict=False, raises=OverflowError,
                   reason="issue 12 item 4 (phase 2): count/chunk_images is computed in floating point")
@pytest.mark.parametrize("count", [10 ** 400, 2 ** 1100], ids=["10**400", "2**1100"])
def test_a_count_beyond_float_range_is_a_container_error(original, count):
    header, payload = unpack_json(original[1])
    with pytest.raises(container.ContainerError):
        container.unpack(file_from(header_bytes_of(edited(header, ("count",), count)), payload))


@pytest.mark.parametrize("payload", ["own", "one lane"])
def test_an_empty_file_has_an_empty_payload(original, model, payload):
    header, own_payload = unpack_json(original[1])
    header = with_consistent_checksum_count(edited(header, ("count",), 0))
    payload = own_payload if payload == "own" else Message(1).to_bytes()
    outcome, _ = decode_bounded(file_from(header_bytes_of(header), payload), model)
    assert isinstance(outcome, container.ContainerError)


@pytest.fixture
def audit_opens():
    """Paths opened while the returned list is being recorded (``sys.addaudithook``: cannot be removed,
    so the hook stays installed and records only while ``recording`` is set)."""
    recorder = _OpenRecorder.instance()
    recorder.paths.clear()
    recorder.recording = True
    yield recorder.paths
    recorder.recording = False


class _OpenRecorder:
    _singleton = None

    def __init__(self):
        self.paths = []
        self.recording = False
        sys.addaudithook(self)

    @classmethod
    def instance(cls):
        if cls._singleton is None:
            cls._singleton = cls()
        return cls._singleton

    def __call__(self, event, args):
        if self.recording and event == "open" and isinstance(args[0], (str, bytes)):
            self.paths.append(args[0] if isinstance(args[0], str) else args[0].decode(errors="replace"))


@pytest.mark.parametrize("name", ["/etc/passwd", "ABSOLUTE", "../../copy.npz", "~/copy.npz", "a" * 5000])
def test_a_model_name_from_the_file_is_never_opened_as_a_path(original, tmp_path, monkeypatch, audit_opens, name):
    # Plant copies of the file's own model where the names lead, so that opening them would succeed.
    shipped = Path(bb.__file__).parent / "models" / "mnist.npz"
    (tmp_path / "home").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    planted = [tmp_path / "copy.npz", tmp_path / "home" / "copy.npz"]
    for path in planted:
        shutil.copy(shipped, path)
    monkeypatch.chdir(tmp_path / "a" / "b")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    name = str(planted[0]) if name == "ABSOLUTE" else name
    header, payload = unpack_json(original[1])
    blob = file_from(header_bytes_of(edited(header, ("model", "name"), name)), payload)
    audit_opens.clear()
    with pytest.raises(container.ContainerError, match="not available|not a shipped|unknown model"):
        bb.decompress(blob)
    forbidden = {str(path) for path in planted} | {"/etc/passwd"}
    assert not [path for path in audit_opens if str(Path(path).resolve()) in forbidden], audit_opens
