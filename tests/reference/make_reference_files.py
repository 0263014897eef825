"""Write the pinned reference files of ``tests/test_pinned_bytes.py``.

Run this only when the file format deliberately changes (and bump the format version):
the point of the pins is that no other change alters a single byte the codec writes::

    python tests/reference/make_reference_files.py

It writes the version-2 files (``v2-*.bbans``).  The version-1 files (``v1/mnist-*.bbans``)
are the ones bbans_numba 0.1.0 wrote, kept as they are: this package refuses to decode them
(``tests/test_old_versions.py``).
"""

from pathlib import Path

import bbans_numba as bb

FOLDER = Path(__file__).resolve().parent
COUNT = 20  # the first 20 images of the bundled MNIST test sample
MODELS = ("mnist", "mnist-fast")
QUANTIZERS = ("histogram", "exact")
LANES = (None, 6)  # the default (one lane for 20 images) and a chunk that ramps up to 6 lanes
V2_PREFIX = "v2-"


def reference_cases():
    """(file name, compress keyword arguments) of every model x quantizer x lanes case (as 0.1.0 named them)."""
    cases = []
    for model in MODELS:
        for quantizer in QUANTIZERS:
            for lanes in LANES:
                suffix = "" if lanes is None else f"-lanes{lanes}"
                cases.append((f"{model}-{quantizer}{suffix}.bbans", dict(model=model, quantizer=quantizer, lanes=lanes)))
    return cases


def v2_reference_cases():
    """(file name, compress keyword arguments) of every pinned version-2 file: the same cases, and chunks."""
    cases = [(V2_PREFIX + name, kwargs) for name, kwargs in reference_cases()]
    cases.append((f"{V2_PREFIX}mnist-histogram-chunks8.bbans", dict(model="mnist", chunk_images=8)))
    return cases


def reference_images():
    return bb.load_images("mnist:sample")[:COUNT]


def main():
    images = reference_images()
    for name, kwargs in v2_reference_cases():
        (FOLDER / name).write_bytes(bb.compress(images, **kwargs))
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
