"""Export a trained Keras model to the ``.npz`` file that ``bbans --model`` codes with.

For a :class:`training.models.VAE` the file layout is defined (and validated) by
:mod:`bbans_numba.model_file`; this module only fills it: the JSON ``config``
(:class:`bbans_numba.model_config.ModelConfig`, current format version) and the
architecture's weights under their exported names, as float32 (or float16). A
:class:`training.pixelvae.PixelVAE` is written by :func:`training.pixelvae.export_npz`
(float32 only; read by :func:`bbans_numba.pixelvae.load_pixelvae`).

Command line (re-export a trained model, e.g. with half-size weights for shipping)::

    python -m training.export runs/mnist.keras bbans_numba/models/mnist.npz --weight-dtype float16

Examples
--------
>>> import training.models as tm, training.export as te
>>> arrays = te.export_arrays(tm.build_model("mlp-bb", image_shape=(4, 4)))
>>> arrays["encoder.input.kernel"].shape, arrays["decoder.output.bias"].shape
((16, 500), (32,))
"""

import argparse
from pathlib import Path

import numpy as np

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras


def export_arrays(vae, weight_dtype="float32"):
    """The name -> array dict of the exported file for a :class:`training.models.VAE`.

    ``weight_dtype="float16"`` halves the file; the codec computes in float32 either way,
    so evaluate the exported file itself (``python -m training.evaluate``) to see its cost.
    """
    config = vae.model_config
    arrays = {"config": np.array(config.to_json())}
    for network in (vae.encoder, vae.decoder):
        for name, value in config.architecture.keras_weights(network).items():
            arrays[name] = np.ascontiguousarray(value, dtype=weight_dtype)
    return arrays


def export_npz(model, path, weight_dtype="float32"):
    """Write the codec's ``.npz`` of a trained ``model`` (either kind) to ``path`` (uncompressed).

    Raises
    ------
    ValueError
        ``weight_dtype`` is not float32 for a PixelVAE (its codec reads float32 only).
    """
    from training import pixelvae

    if isinstance(model, pixelvae.PixelVAE):
        if weight_dtype != "float32":
            raise ValueError(f"a PixelVAE is exported with float32 weights only, not {weight_dtype}")
        pixelvae.export_npz(model, path)
    else:
        np.savez(path, **export_arrays(model, weight_dtype))


def load_keras_vae(path):
    """Load a ``.keras`` file written by ``training.train``, of either kind (registers the custom classes)."""
    import training.models  # noqa: F401  (registers the VAE and PixelVAE classes for deserialization)

    return keras.saving.load_model(path, compile=False)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.export",
                                     description="Export a .keras model to the codec's .npz format.")
    parser.add_argument("keras_file", help="a .keras file written by training.train")
    parser.add_argument("npz_file", help="output path, e.g. bbans_numba/models/mnist.npz")
    parser.add_argument("--weight-dtype", choices=["float32", "float16"], default="float32")
    args = parser.parse_args(argv)
    export_npz(load_keras_vae(args.keras_file), args.npz_file, args.weight_dtype)
    print(f"wrote {args.npz_file} ({Path(args.npz_file).stat().st_size / 1e6:.1f} MB, {args.weight_dtype} weights)")


if __name__ == "__main__":
    main()
