"""Pixel likelihoods p(x | z), each one unit, and their registry.

A likelihood turns the decoder network's output ``raw`` (float32, (B, P * D): P raw outputs
for each of the D pixels, parameter-major, i.e. output ``p`` of pixel ``i`` is
``raw[:, p * D + i]``) into a distribution over the pixels. One module holds everything
about it, as a :class:`bbans_numba.options.Spec` subclass:

========================  ==============================================================
``NAME``, ``OPTIONS``     registry name and typed options (e.g. ``num_components``)
``raw_outputs_per_pixel`` P, which sizes the decoder's output layer
``parameters(raw)``       the clamped float64 parameters the codec sees (NumPy / Numba)
``codec(raw, bits)``      a codec with ``push(message, pixels (lanes, D))`` and
                          ``pop(message, num_steps=D)``
``log_pmf(x, raw)``       float64 log p(x_i | ...) in nats, (B, D), NumPy (evaluation, tests)
``keras_parameters(raw)`` the same parameters in Keras (for inspection)
``keras_log_pmf(x, raw)`` the same log-pmf in Keras ops: the training loss
========================  ==============================================================

``codec`` and ``log_pmf`` take the pixels' conditioning ``raw``, not parameters: an
autoregressive likelihood (p(x_i | causal neighbourhood, h_i(z))) fits the same slots, its
codec's pop evaluating pixel after pixel inside its own kernel. Keras is imported only by
the ``keras_*`` methods, so coding never needs it.

Adding a likelihood: write ``bbans_numba/likelihoods/NAME.py`` with such a class and add
one line to :data:`LIKELIHOODS`. Training (``--likelihood NAME``), export, evaluation and
coding pick it up from here.

Examples
--------
>>> likelihood_from_description({"name": "logistic_mixture", "num_components": 3}).raw_outputs_per_pixel
9
>>> likelihood_from_description({"name": "poisson"})
Traceback (most recent call last):
...
ValueError: unknown likelihood 'poisson'; supported: beta_binomial, logistic_mixture
"""

from ..options import build_spec
from .beta_binomial import BetaBinomialLikelihood
from .logistic_mixture import LogisticMixtureLikelihood

__all__ = ["LIKELIHOODS", "likelihood_from_description"]

LIKELIHOODS = {
    BetaBinomialLikelihood.NAME: BetaBinomialLikelihood,
    LogisticMixtureLikelihood.NAME: LogisticMixtureLikelihood,
}


def likelihood_from_description(description):
    """The likelihood spec for ``{"name": NAME, **options}`` (ValueError if unknown or invalid)."""
    return build_spec(LIKELIHOODS, "likelihood", description)
