"""Pinned bytes: what the codec writes may not change without a format version bump.

Round-trip tests cannot catch an "optimization" that changes every file ever written; these
can.  Two kinds of pins:

* reference ``.bbans`` files (``tests/reference/``, written by
  ``tests/reference/make_reference_files.py``) for each shipped model x quantizer: each must
  decode bit-exactly and re-encode to the identical bytes;
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
from make_reference_files import reference_cases, reference_images  # noqa: E402

# sha256 of each reference file: regenerating them must be a visible, deliberate edit here.
REFERENCE_SHA256 = {
    "mnist-exact-lanes6.bbans": "f2e5b95f3ae23f0e79669809bdfa5d9094ef335c6ae08f9b4769ff4288e60749",
    "mnist-exact.bbans": "08f1053842b12441b850896880b3d7a7247f4f716a5d56fc491b6135a381261a",
    "mnist-fast-exact-lanes6.bbans": "ca944d4145b312cf8e321cf3cf2b2fef3c6a9b0b06c3d88a7739bf7dfe0b2de2",
    "mnist-fast-exact.bbans": "ab791e5c8957010e63389cf5c973cdfe095b48ad596cc83e2df1ff6d0ed3d312",
    "mnist-fast-histogram-lanes6.bbans": "90ddad962b4495b5755f498afd706017b0bafec1e6eabbdd6a954b4cfd6f64ea",
    "mnist-fast-histogram.bbans": "edd3a45ca9f6dfdfd073fdc78857111d97bbf23e5955424210417fcc2c8937f1",
    "mnist-histogram-lanes6.bbans": "5fe590d0f23e73441560c796ac9d995089c30aecc9f385827ec1168bc086d52b",
    "mnist-histogram.bbans": "b4b1e7456b1a4e3fccf6834b15c6bd1c0d6bd21590e35550cdb7433b9451b0b3",
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


def test_every_reference_file_is_pinned():
    assert sorted(name for name, _ in CASES) == sorted(REFERENCE_SHA256)
    for name in REFERENCE_SHA256:
        assert (REFERENCE / name).is_file(), name


@pytest.mark.parametrize("name, kwargs", CASES, ids=[name for name, _ in CASES])
def test_reference_file_decodes_and_reencodes_identically(name, kwargs):
    blob = (REFERENCE / name).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == REFERENCE_SHA256[name]
    images = reference_images()
    decoded = bb.decompress(blob)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, images)
    assert bb.compress(images, **kwargs) == blob


def test_coder_messages_match_recorded_hashes():
    from bench.bench_rans import CASES as CODER_CASES, regression_hashes

    hashes = regression_hashes(CODER_CASES)
    assert hashes == CODER_SHA256
