"""Pinned bytes: what the codec writes may not change without a format version bump.

Round-trip tests cannot catch an "optimization" that changes every file ever written; these
can.  Two kinds of pins:

* version-2 reference ``.bbans`` files (``tests/reference/v2-*``, written by
  ``tests/reference/make_reference_files.py``) for each shipped model x quantizer x lanes,
  and one of several chunks: each must decode bit-exactly and re-encode to the identical bytes;
* version-1 reference files (written by bbans_numba 0.1.0, which wrote version 1): this
  package no longer writes them, but must still decode each bit-exactly;
* sha256 digests of the rANS messages the codecs produce for fixed random symbols and
  parameters (``bench/bench_rans.py``'s regression cases: every codec and kernel path).
"""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

import bbans_numba as bb

REFERENCE = Path(__file__).resolve().parent / "reference"
sys.path.insert(0, str(REFERENCE))
sys.path.insert(0, str(REFERENCE.parent.parent))
from make_reference_files import reference_cases, reference_images, v2_reference_cases  # noqa: E402

# sha256 of each version-1 reference file (0.1.0): decoded, never rewritten.
REFERENCE_SHA256 = {
    "mnist-exact-lanes6.bbans": "b8e28b750ef790cf6f4e8b3be066b78e47019acb309a476e46614e988113ccbe",
    "mnist-exact.bbans": "e6aad0bbb6048f31e375a457c38353cdfb7e286a01306f949ea05b3b56897a5a",
    "mnist-fast-exact-lanes6.bbans": "ca944d4145b312cf8e321cf3cf2b2fef3c6a9b0b06c3d88a7739bf7dfe0b2de2",
    "mnist-fast-exact.bbans": "ab791e5c8957010e63389cf5c973cdfe095b48ad596cc83e2df1ff6d0ed3d312",
    "mnist-fast-histogram-lanes6.bbans": "90ddad962b4495b5755f498afd706017b0bafec1e6eabbdd6a954b4cfd6f64ea",
    "mnist-fast-histogram.bbans": "edd3a45ca9f6dfdfd073fdc78857111d97bbf23e5955424210417fcc2c8937f1",
    "mnist-histogram-lanes6.bbans": "91e429a7df4afaac21cd6d3dcbef77396b44557c1a2163a7bb6a1127cf200ce7",
    "mnist-histogram.bbans": "76838d3fc8a8090ed9a0e3cd3662f6686113f322c6b1f6125b5abffb1ed7e9bc",
}

# sha256 of each version-2 reference file: regenerating them must be a visible, deliberate edit here.
V2_REFERENCE_SHA256 = {
    "v2-mnist-exact-lanes6.bbans": "797fd5ce88afd54061e7f009f39f2c516b0917b4d999397cc144faf667d273b3",
    "v2-mnist-exact.bbans": "c0e548911a2751bc248bdc072cca41c5909470be1a142815fb4db16a3e7f6c6a",
    "v2-mnist-fast-exact-lanes6.bbans": "97ce2e5f172bf1e7517e75d9863acb17fbf67d1e92e9432873fbd074d1631e77",
    "v2-mnist-fast-exact.bbans": "ae1a95633311868c33ed9fed8e330a7d27551e86f79d7c0f7cc1d17c7930848c",
    "v2-mnist-fast-histogram-lanes6.bbans": "3e33d52b90e35f1882d1e58d488d292066a07ec76e72574ee34398f5e97f5459",
    "v2-mnist-fast-histogram.bbans": "a07931f798c44fccfe5e25162a742b49af4e978b65d980576c0ce5852b896b9a",
    "v2-mnist-histogram-chunks8.bbans": "0213974f3a31caa4dc227a6b4cc5b74691a0b135fa57c69664a34f985cf66549",
    "v2-mnist-histogram-lanes6.bbans": "5760f6ac82fdc83570f7260aad91128417db528d4949219c14b7651a22146d96",
    "v2-mnist-histogram.bbans": "1b59044b2d45333f79e34a065490b8706c0f43c367f4db737b3adbda2138d8f2",
}

# sha256 of Message.to_bytes() after pushing each regression case of bench/bench_rans.py
# (seed 1234, 64 lanes x 1024 steps, chunks of 64 steps), recorded before any speed work.
CODER_SHA256 = {
    "fixed": "8c9067aba8c1ca0d53deb7d678becbe16be02d1f04d218bdcf8d05f203da3c3b",
    "betabinomial": "b58783dceae9dce8289e08373e02b67b2a3c1bdc9ef2552daac93e67317dc503",
    "logistic3": "3ccc25e031f551da53a282365e32e101a4e001520b537f0c47eb9049e1270bf2",
    "gauss-exact": "43cf0e1ad722f182f331143e63a9eb2666140ec5f263861bbb1765849a5aeac0",
    "gauss-histogram": "40e217dde1b088047490d9f3774cc02fde2425bd28fb92cbd98e996b50007985",
    "fixed-p20": "06c0dd157403b2503194613848ae89b38b766c56a1e1fa8c6a4ac7056a253ca5",
    "per-lane-table": "2910ab50dd1d137cf9cef155a9b86c36fe7d89c2ba8a595b0192e930359da18a",
    "uniform": "eb90fff4fdc7fb620ed03f3638f8b7eb7a6455661639b036fa0b91cdac723b65",
    "fixed-1-lane": "5555c59b4cbe89839b246c40b40f54558d7181ae9515bf3689b2c606dbda5239",
}

CASES = reference_cases()
V2_CASES = v2_reference_cases()


def test_every_reference_file_is_pinned():
    assert sorted(name for name, _ in CASES) == sorted(REFERENCE_SHA256)
    assert sorted(name for name, _ in V2_CASES) == sorted(V2_REFERENCE_SHA256)
    for name in [*REFERENCE_SHA256, *V2_REFERENCE_SHA256]:
        assert (REFERENCE / name).is_file(), name


@pytest.mark.parametrize("name, kwargs", V2_CASES, ids=[name for name, _ in V2_CASES])
def test_v2_reference_file_decodes_and_reencodes_identically(name, kwargs):
    blob = (REFERENCE / name).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == V2_REFERENCE_SHA256[name]
    images = reference_images()
    decoded = bb.decompress(blob)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, images)
    assert bb.compress(images, **kwargs) == blob


@pytest.mark.parametrize("name", sorted(REFERENCE_SHA256))
def test_v1_reference_file_still_decodes_bit_exactly(name):
    blob = (REFERENCE / name).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == REFERENCE_SHA256[name]
    decoded = bb.decompress(blob)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, reference_images())


def test_coder_messages_match_recorded_hashes():
    from bench.bench_rans import CASES as CODER_CASES, regression_hashes

    hashes = regression_hashes(CODER_CASES)
    assert hashes == CODER_SHA256
