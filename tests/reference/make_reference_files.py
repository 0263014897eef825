"""Write the pinned reference files of ``tests/test_pinned_bytes.py``.

Run this only when the file format deliberately changes (and bump the format version):
the point of the pins is that no other change alters a single byte the codec writes::

    python tests/reference/make_reference_files.py
"""

from pathlib import Path

import bbans_numba as bb

FOLDER = Path(__file__).resolve().parent
COUNT = 20  # the first 20 images of the bundled MNIST test sample
MODELS = ("mnist", "mnist-fast")
QUANTIZERS = ("histogram", "exact")
LANES = (None, 6)  # the default (one lane per image here) and a run over several steps


def reference_cases():
    """(file name, compress keyword arguments) of every pinned file."""
    cases = []
    for model in MODELS:
        for quantizer in QUANTIZERS:
            for lanes in LANES:
                suffix = "" if lanes is None else f"-lanes{lanes}"
                cases.append((f"{model}-{quantizer}{suffix}.bbans", dict(model=model, quantizer=quantizer, lanes=lanes)))
    return cases


def reference_images():
    return bb.load_images("mnist:sample")[:COUNT]


def main():
    images = reference_images()
    for name, kwargs in reference_cases():
        (FOLDER / name).write_bytes(bb.compress(images, **kwargs))
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
