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
    "v2-mnist-exact-lanes6.bbans": "1e95cee26c0f220fe7fdf435379af2151e12442994627f7f99376b61dfead24f",
    "v2-mnist-exact.bbans": "27a45518023669c1958cfd4ca70cd33ef6eb0f06e26f4a03fe865f9cbdd9dd5b",
    "v2-mnist-fast-exact-lanes6.bbans": "41c063e7a0ec8f0f192db9eaa80775d16ab3dafc1bc033c297c6f5e4df7d51de",
    "v2-mnist-fast-exact.bbans": "2e07442c7d7bc67b2bdbef4226d5d7d558655a402c8fae066eff7748eb91cb74",
    "v2-mnist-fast-histogram-lanes6.bbans": "7e90f11f0bed6456ed170470d93cd0cc91b5820cd5c8b47f96aacbc27971ba8d",
    "v2-mnist-fast-histogram.bbans": "c39c72a1faba732daf14cd212d17536b4ceb10b588cdf8dd76daef14dcc85bae",
    "v2-mnist-histogram-chunks8.bbans": "823ce8d440ed895f95f3d1cd0af4a0d364a4206fc7948b8e1e825fa0e3415015",
    "v2-mnist-histogram-lanes6.bbans": "cdc309e31c87ab4f2ac9d1f4f2f103eb3c3c70562ceb55714cdf96953e31d3d4",
    "v2-mnist-histogram.bbans": "2a5ef9b81fb99024281a20e35151b6cc80d0493ff056e3a29cb3984c5377353b",
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
