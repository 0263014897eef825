"""Old format versions: decoding refuses them by name, with the release that decodes them.

The version-1 files here are the reference files bbans_numba 0.1.0 wrote (restored from the
commit that pinned them, 1155121).  0.1.x computed the ``mnist`` model with the platform's
libm; this release uses portable math (issue 10), so those files no longer decode bit-exactly
and are refused before any decoding, with a message naming the format version and the
release that decodes them.  ``bbans info`` still describes them.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest

import bbans_numba as bb
from bbans_numba import cli, container

V1_FOLDER = Path(__file__).resolve().parent / "reference" / "v1"

# sha256 of each version-1 reference file as 0.1.0 wrote it: never rewritten.
V1_SHA256 = {
    "mnist-exact-lanes6.bbans": "b8e28b750ef790cf6f4e8b3be066b78e47019acb309a476e46614e988113ccbe",
    "mnist-exact.bbans": "e6aad0bbb6048f31e375a457c38353cdfb7e286a01306f949ea05b3b56897a5a",
    "mnist-fast-exact-lanes6.bbans": "ca944d4145b312cf8e321cf3cf2b2fef3c6a9b0b06c3d88a7739bf7dfe0b2de2",
    "mnist-fast-exact.bbans": "ab791e5c8957010e63389cf5c973cdfe095b48ad596cc83e2df1ff6d0ed3d312",
    "mnist-fast-histogram-lanes6.bbans": "90ddad962b4495b5755f498afd706017b0bafec1e6eabbdd6a954b4cfd6f64ea",
    "mnist-fast-histogram.bbans": "edd3a45ca9f6dfdfd073fdc78857111d97bbf23e5955424210417fcc2c8937f1",
    "mnist-histogram-lanes6.bbans": "91e429a7df4afaac21cd6d3dcbef77396b44557c1a2163a7bb6a1127cf200ce7",
    "mnist-histogram.bbans": "76838d3fc8a8090ed9a0e3cd3662f6686113f322c6b1f6125b5abffb1ed7e9bc",
}
REFUSAL = "this is a format v1 file written by bbans_numba 0.1.x"
HOW_TO_DECODE = "`pip install bbans_numba==0.1.0`"


def test_every_v1_file_is_pinned():
    assert sorted(path.name for path in V1_FOLDER.glob("*.bbans")) == sorted(V1_SHA256)


@pytest.mark.parametrize("name", sorted(V1_SHA256))
def test_v1_file_is_refused_by_name_with_the_release_that_decodes_it(name):
    blob = (V1_FOLDER / name).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == V1_SHA256[name]
    assert container.file_version(blob) == 1
    for source in (blob, (V1_FOLDER / name).open("rb")):
        with pytest.raises(container.ContainerError) as refused:
            bb.decompress(source)
        assert REFUSAL in str(refused.value) and HOW_TO_DECODE in str(refused.value)


def test_cli_refuses_a_v1_file_before_writing_anything_and_info_still_describes_it(tmp_path, capsys):
    source = V1_FOLDER / "mnist-histogram.bbans"
    output = tmp_path / "out.npy"
    assert cli.main(["decompress", str(source), str(output)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bbans: error: ") and REFUSAL in err and HOW_TO_DECODE in err
    assert not output.exists() and list(tmp_path.iterdir()) == []
    assert cli.main(["info", str(source)]) == 0
    out = capsys.readouterr().out
    assert "format version 1" in out and "mnist" in out


def test_v1_header_still_reads():
    header, payload = container.unpack((V1_FOLDER / "mnist-histogram.bbans").read_bytes())
    assert header.model_name == "mnist" and header.count == 20 and len(payload) > 0
    assert np.asarray(header.image_shape).tolist() == [28, 28]
