"""Network architectures of the VAE's encoder and decoder, each one unit, and their registry.

An architecture is a :class:`bbans_numba.options.Spec` subclass that says, in one module:

=====================================  =================================================
``NAME``, ``OPTIONS``                  registry name and typed options (sizes, activation)
``ACTIVATIONS``                        the activations it supports (a subset of
                                       :data:`bbans_numba.nn.ACTIVATIONS`, Keras names)
``array_shapes(network, n_in, n_out)`` the exported arrays of one network: name -> shape
``forward(weights, network, x)``       the Numba forward pass: float32 (B, n_in) -> (B, n_out)
``keras_network(n_in, n_out, name)``   the Keras model that training fits
``keras_weights(keras_network)``       its weights under the exported names
=====================================  =================================================

``network`` is ``"encoder"`` or ``"decoder"``; the encoder maps D pixels / 255 to
``2 * latent_dim`` outputs (posterior mean and raw standard deviation), the decoder maps
``latent_dim`` latents to ``P * D`` outputs for the likelihood (see
:mod:`bbans_numba.likelihoods`). An unsupported activation or size is refused when the
spec is built: at the start of training, or when a model file is read.

Adding an architecture: write ``bbans_numba/architectures/NAME.py`` with such a class and
add one line to :data:`ARCHITECTURES`.

Examples
--------
>>> architecture_from_description({"name": "residual_mlp", "hidden_units": 8, "residual_blocks": 0,
...                                "activation": "swish"})
Traceback (most recent call last):
...
ValueError: option 'activation' must be one of relu, elu; got 'swish'
"""

from ..options import build_spec
from .residual_mlp import ResidualMLP

__all__ = ["ARCHITECTURES", "architecture_from_description"]

ARCHITECTURES = {
    ResidualMLP.NAME: ResidualMLP,
}


def architecture_from_description(description):
    """The architecture spec for ``{"name": NAME, **options}`` (ValueError if unknown or invalid)."""
    return build_spec(ARCHITECTURES, "architecture", description)
