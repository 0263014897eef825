"""Pinned bytes: what the codec writes may not change without a format version bump.

Round-trip tests cannot catch an "optimization" that changes every file ever written; these
can.  Two kinds of pins (the version-1 files of 0.1.0 are refused, see ``tests/test_old_versions.py``):

* version-2 reference ``.bbans`` files (``tests/reference/v2-*``, see
  ``tests/reference/make_reference_files.py``) for each shipped model x quantizer x lanes,
  and one of several chunks: each must decode bit-exactly (with no model given: the file
  names its model by id) and re-encode to the identical bytes.  Those of the models 0.2.0
  shipped (``mnist-mlp``, then named ``mnist``, and ``mnist-fast``) are frozen; those of
  the default ``mnist`` (PixelVAE) change only with its weights, through that script;
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
from make_reference_files import read_sums, reference_images, v2_reference_cases  # noqa: E402

# sha256 of each frozen version-2 reference file (written by 0.2.0; renamed from v2-mnist-* when
# that model became mnist-mlp, bytes unchanged): these never change.
FROZEN_SHA256 = {
    "v2-mnist-mlp-exact-lanes6.bbans": "a086c590a0925540c214ed9f8ed7865f22eb7eaf03da47c386d99dca6a630f40",
    "v2-mnist-mlp-exact.bbans": "9d946db2a2da31a8149a7b646f7b350911e7db17179fe6b376133bcd9ff71a7c",
    "v2-mnist-fast-exact-lanes6.bbans": "97ce2e5f172bf1e7517e75d9863acb17fbf67d1e92e9432873fbd074d1631e77",
    "v2-mnist-fast-exact.bbans": "ae1a95633311868c33ed9fed8e330a7d27551e86f79d7c0f7cc1d17c7930848c",
    "v2-mnist-fast-histogram-lanes6.bbans": "3e33d52b90e35f1882d1e58d488d292066a07ec76e72574ee34398f5e97f5459",
    "v2-mnist-fast-histogram.bbans": "a07931f798c44fccfe5e25162a742b49af4e978b65d980576c0ce5852b896b9a",
    "v2-mnist-mlp-histogram-chunks8.bbans": "3c195c1831956098a002d37b6c232d36100919d949ca05409b80635c2c64b4c5",
    "v2-mnist-mlp-histogram-lanes6.bbans": "f6569bbc02b9c1c46ff372a38c1c34c9f862f9915cf00516438e3de3a943a1f0",
    "v2-mnist-mlp-histogram.bbans": "d61b3dfd764dcde899424a10274ea23865e4dbf12c909c7060aeb6e1df7da7c3",
}
# The default model's files: tests/reference/default-sha256sums.txt, rewritten with its weights.
V2_REFERENCE_SHA256 = {**FROZEN_SHA256, **read_sums()}

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

V2_CASES = v2_reference_cases()


def test_every_reference_file_is_pinned():
    assert not set(FROZEN_SHA256) & set(read_sums())
    assert sorted(name for name, _ in V2_CASES) == sorted(V2_REFERENCE_SHA256)
    for name in V2_REFERENCE_SHA256:
        assert (REFERENCE / name).is_file(), name


@pytest.mark.parametrize("name, kwargs", V2_CASES, ids=[name for name, _ in V2_CASES])
def test_v2_reference_file_decodes_and_reencodes_identically(name, kwargs):
    blob = (REFERENCE / name).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == V2_REFERENCE_SHA256[name]
    images = reference_images()
    decoded = bb.decompress(blob)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, images)
    assert bb.compress(images, **kwargs) == blob


def test_coder_messages_match_recorded_hashes():
    from bench.bench_rans import CASES as CODER_CASES, regression_hashes

    hashes = regression_hashes(CODER_CASES)
    assert hashes == CODER_SHA256
