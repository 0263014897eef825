"""The pinned reference files of ``tests/test_pinned_bytes.py``, and the one command that
regenerates what depends on the shipped default's weights.

The point of the pins is that no change alters a byte the codec writes.  Two kinds of
reference files:

* **frozen**: those of the models bbans_numba 0.2.0 shipped (``mnist-mlp``, then called
  ``mnist``, and ``mnist-fast``).  Written once; this script never rewrites them.  They must
  still decode with no model given: a version-2 file names its model by id.
* **default**: those of the shipped default ``mnist`` (a PixelVAE), whose weights may still be
  replaced by better ones before a release.  Installing new weights and rewriting these files
  and their pins is one command::

      python tests/reference/make_reference_files.py --weights PATH/TO/pixelvae-mnist.npz

  (without ``--weights`` it rewrites the default's files from the weights already shipped).
  It copies the file to ``bbans_numba/models/mnist.npz`` byte for byte, writes
  ``v2-mnist-*.bbans`` and their pins, ``default-sha256sums.txt`` (the frozen files' pins are
  written in the test itself).  Review the diff of that file: it is the deliberate edit.  Nothing else in the tests
  depends on the exact weights; the measured figures in ``README.md`` and ``docs/models.md``
  (-ELBO, bits/dim, images/s) are re-measured with the commands given there.

The version-1 files (``v1/mnist-*.bbans``) are the ones bbans_numba 0.1.0 wrote, kept as
they are: this package refuses to decode them (``tests/test_old_versions.py``).
"""

import argparse
import hashlib
import shutil
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
SUMS = FOLDER / "default-sha256sums.txt"
DEFAULT_WEIGHTS = FOLDER.parent.parent / "bbans_numba" / "models" / "mnist.npz"
COUNT = 20  # the first 20 images of the bundled MNIST test sample
FROZEN_MODELS = ("mnist-mlp", "mnist-fast")
DEFAULT_MODEL = "mnist"
QUANTIZERS = ("histogram", "exact")
LANES = (None, 6)  # the default (one lane for 20 images) and a chunk that ramps up to 6 lanes
V2_PREFIX = "v2-"


def model_cases(model):
    """(file name, compress keyword arguments) of ``model`` x quantizer x lanes."""
    cases = []
    for quantizer in QUANTIZERS:
        for lanes in LANES:
            suffix = "" if lanes is None else f"-lanes{lanes}"
            cases.append((f"{V2_PREFIX}{model}-{quantizer}{suffix}.bbans",
                          dict(model=model, quantizer=quantizer, lanes=lanes)))
    return cases


def default_cases():
    """The reference files of the shipped default model (rewritten by :func:`main`)."""
    return model_cases(DEFAULT_MODEL)


def v2_reference_cases():
    """(file name, compress keyword arguments) of every pinned version-2 file."""
    cases = [case for model in FROZEN_MODELS for case in model_cases(model)]
    cases.append((f"{V2_PREFIX}mnist-mlp-histogram-chunks8.bbans", dict(model="mnist-mlp", chunk_images=8)))
    return cases + default_cases()


def read_sums():
    """file name -> pinned sha256 hex digest of the default's files (the format of ``sha256sum``)."""
    sums = {}
    for line in SUMS.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    return sums


def reference_images():
    import bbans_numba as bb

    return bb.load_images("mnist:sample")[:COUNT]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Install the default model's weights and rewrite its pinned files.")
    parser.add_argument("--weights", type=Path, help="an exported PixelVAE .npz to ship as the default 'mnist' model")
    args = parser.parse_args(argv)
    import bbans_numba as bb
    from bbans_numba.pixelvae import PixelVAEModel

    if args.weights is not None:
        if not isinstance(bb.load_model(args.weights), PixelVAEModel):  # a broken file is refused here
            raise SystemExit(f"{args.weights} is not a PixelVAE model")
        shutil.copyfile(args.weights, DEFAULT_WEIGHTS)
        print(f"installed {args.weights} as {DEFAULT_WEIGHTS}")
    model = bb.load_model(DEFAULT_MODEL)
    images = reference_images()
    sums = {}
    for name, kwargs in default_cases():
        blob = bb.compress(images, **kwargs)
        assert (bb.decompress(blob) == images).all()
        (FOLDER / name).write_bytes(blob)
        sums[name] = hashlib.sha256(blob).hexdigest()
        print(f"wrote {name} ({len(blob)} bytes)")
    SUMS.write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))
    print(f"updated {SUMS.name}; model {DEFAULT_MODEL} has fingerprint {model.fingerprint}")


if __name__ == "__main__":
    main()
