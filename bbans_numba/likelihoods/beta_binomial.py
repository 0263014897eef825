"""Beta-binomial pixels: each pixel ``x_i ~ BetaBinomial(n = 255, alpha_i, beta_i)``.

Raw outputs: two per pixel, all alphas then all betas; ``alpha, beta = clip(softplus(raw),
*PARAM_RANGE)`` (the range the codec clamps to). The model of the published BB-ANS.

Examples
--------
>>> import numpy as np
>>> likelihood = BetaBinomialLikelihood()
>>> raw = np.zeros((1, 2 * 3), dtype=np.float32)       # one image of 3 pixels
>>> alpha, beta = likelihood.parameters(raw)
>>> alpha.round(4).tolist()                             # softplus(0) = log 2
[[0.6931, 0.6931, 0.6931]]
>>> np.exp(likelihood.log_pmf(np.array([[0, 128, 255]]), raw)).round(4).tolist()
[[0.0145, 0.0031, 0.0145]]
"""

import numpy as np

from .. import codecs, nn
from ..families.beta_binomial import BETA_BINOMIAL_PARAM_RANGE
from ..options import Spec

__all__ = ["BetaBinomialLikelihood", "TRIALS", "PARAM_RANGE"]

TRIALS = 255
PARAM_RANGE = BETA_BINOMIAL_PARAM_RANGE


class BetaBinomialLikelihood(Spec):
    """Independent beta-binomial pixels (n = 255); no options."""

    NAME = "beta_binomial"
    OPTIONS = {}
    raw_outputs_per_pixel = 2

    def parameters(self, raw):
        """``alpha, beta``: float64 (B, D) each, in :data:`PARAM_RANGE`, for float32 ``raw`` (B, 2 D)."""
        params = nn.clipped_softplus(np.ascontiguousarray(raw, dtype=np.float32), *PARAM_RANGE)
        num_pixels = raw.shape[1] // 2
        return params[:, :num_pixels], params[:, num_pixels:]

    def codec(self, raw, precision_bits):
        """One beta-binomial per pixel: a codec over (lanes = B, D) pixels."""
        return codecs.BetaBinomial(TRIALS, *self.parameters(raw), precision_bits)

    def log_pmf(self, x, raw):
        """log P(x | n, alpha, beta) in float64 nats, (B, D) (SciPy's betaln and gammaln)."""
        from scipy import special

        alpha, beta = self.parameters(raw)
        k = np.asarray(x, dtype=np.float64)
        log_choose = special.gammaln(TRIALS + 1.0) - special.gammaln(k + 1.0) - special.gammaln(TRIALS - k + 1.0)
        return log_choose + special.betaln(k + alpha, TRIALS - k + beta) - special.betaln(alpha, beta)

    def keras_parameters(self, raw):
        """``alpha, beta`` as Keras tensors, (B, D) each (the formula of :meth:`parameters`)."""
        from keras import ops

        from training.portable_ops import softplus  # the codec's portable softplus, in float32

        raw_alpha, raw_beta = ops.split(raw, 2, axis=-1)
        return tuple(ops.clip(softplus(r), *PARAM_RANGE) for r in (raw_alpha, raw_beta))

    def keras_log_pmf(self, x, raw):
        """log P(x | n, alpha, beta) in nats, (B, D), in Keras ops (the training loss).

        ``log C(n, k) + lbeta(k + alpha, n - k + beta) - lbeta(alpha, beta)``.
        """
        alpha, beta = self.keras_parameters(raw)
        n = float(TRIALS)
        log_choose = keras_lgamma(n + 1.0) - keras_lgamma(x + 1.0) - keras_lgamma(n - x + 1.0)
        return (log_choose + keras_lgamma(x + alpha) + keras_lgamma(n - x + beta) - keras_lgamma(n + alpha + beta)
                - keras_lgamma(alpha) - keras_lgamma(beta) + keras_lgamma(alpha + beta))


def keras_lgamma(x):
    """Natural log of the gamma function, elementwise, through the active Keras backend.

    ``keras.ops`` has no lgamma, so this dispatches to each backend's own (all accurate to
    a few ulp of float32).
    """
    import keras

    x = keras.ops.convert_to_tensor(x, dtype="float32")
    backend = keras.backend.backend()
    if backend == "jax":
        import jax.scipy.special

        return jax.scipy.special.gammaln(x)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.math.lgamma(x)
    if backend == "torch":
        import torch

        return torch.lgamma(x)
    raise NotImplementedError(f"lgamma is not available for the Keras backend {backend!r}")
