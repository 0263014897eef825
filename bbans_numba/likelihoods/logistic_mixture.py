"""Discretized logistic mixture pixels (PixelCNN++ style, in pixel units).

Pixel ``x_i`` in 0..255 falls into bin ``[x - 0.5, x + 0.5]`` of a mixture of M logistics;
bins 0 and 255 take the tails. Raw outputs: ``3 M`` per pixel, in blocks of D: the M mean
blocks, then the M log-scale blocks, then the M weight-logit blocks. Parameters::

    mean      = 127.5 + 127.5 * raw_mean                  (raw_mean = 0: mid-grey)
    log_scale = clip(raw_log_scale + 4, *LOG_SCALE_RANGE)   (natural log, pixel units)
    logit     = raw_logit                                   (weights = softmax(logits))

Only additions, multiplications and comparisons, in float64: the same bits everywhere.
The codec (:class:`bbans_numba.codecs.DiscretizedLogisticMixture`) clamps log-scales to
the same range, so training sees the distribution the coder quantizes.

Examples
--------
>>> import numpy as np
>>> likelihood = LogisticMixtureLikelihood(num_components=2)
>>> raw = np.zeros((1, 6 * 3), dtype=np.float32)       # one image of 3 pixels
>>> means, log_scales, logits = likelihood.parameters(raw)
>>> means.shape, float(means[0, 0, 0]), float(log_scales[0, 0, 0])
((1, 3, 2), 127.5, 4.0)
>>> np.exp(likelihood.log_pmf(np.array([[0, 1, 2]]), raw)).round(5).tolist()  # scale e**4 = 54.6
[[0.08899, 0.0015, 0.00152]]
"""

import numpy as np

from .. import codecs
from ..families.logistic import LOG_SCALE_RANGE
from ..options import Integer, Spec

__all__ = ["LogisticMixtureLikelihood", "LOG_SCALE_RANGE", "NUM_SYMBOLS"]

NUM_SYMBOLS = 256
MEAN_CENTRE = 127.5
LOG_SCALE_SHIFT = 4.0


class LogisticMixtureLikelihood(Spec):
    """Independent pixels, each a discretized mixture of ``num_components`` logistics."""

    NAME = "logistic_mixture"
    OPTIONS = {"num_components": Integer(1, 64, default=5)}

    @property
    def raw_outputs_per_pixel(self):
        return 3 * self.options["num_components"]

    def parameters(self, raw):
        """``means, log_scales, logits``: float64 (B, D, M) each, for float32 ``raw`` (B, 3 M D)."""
        components = self.options["num_components"]
        raw = np.asarray(raw, dtype=np.float64).reshape(len(raw), 3, components, -1)
        means = MEAN_CENTRE + MEAN_CENTRE * raw[:, 0]
        log_scales = np.clip(raw[:, 1] + LOG_SCALE_SHIFT, *LOG_SCALE_RANGE)
        return tuple(np.ascontiguousarray(p.transpose(0, 2, 1)) for p in (means, log_scales, raw[:, 2]))

    def codec(self, raw, precision_bits):
        """One mixture per pixel: a codec over (lanes = B, D) pixels."""
        return codecs.DiscretizedLogisticMixture(*self.parameters(raw), precision_bits, num_symbols=NUM_SYMBOLS)

    def log_pmf(self, x, raw):
        """log P(x) in float64 nats, (B, D), stable in the tails (see :meth:`keras_log_pmf`)."""
        from scipy.special import log_softmax, logsumexp

        means, log_scales, logits = self.parameters(raw)
        x = np.asarray(x, dtype=np.float64)[..., None]
        inverse_scale = np.exp(-log_scales)
        upper, lower = (x + 0.5 - means) * inverse_scale, (x - 0.5 - means) * inverse_scale
        log_cdf_upper = -np.logaddexp(0.0, -upper)              # log sigmoid(upper)
        log_sf_lower = -np.logaddexp(0.0, lower)                # log (1 - sigmoid(lower))
        log_bin = log_cdf_upper + log_sf_lower + np.log(-np.expm1(-inverse_scale))
        log_component = np.where(x <= 0, log_cdf_upper, np.where(x >= NUM_SYMBOLS - 1, log_sf_lower, log_bin))
        return logsumexp(log_component + log_softmax(logits, axis=-1), axis=-1)

    def keras_parameters(self, raw):
        """``means, log_scales, logits`` as Keras tensors, (B, D, M) each."""
        from keras import ops

        components = self.options["num_components"]
        raw = ops.reshape(raw, (-1, 3, components, ops.shape(raw)[-1] // (3 * components)))
        means = MEAN_CENTRE + MEAN_CENTRE * raw[:, 0]
        log_scales = ops.clip(raw[:, 1] + LOG_SCALE_SHIFT, *LOG_SCALE_RANGE)
        return tuple(ops.transpose(p, (0, 2, 1)) for p in (means, log_scales, raw[:, 2]))

    def keras_log_pmf(self, x, raw):
        """log P(x) in nats, (B, D), in Keras ops (the training loss).

        A bin's mass under one logistic is ``sigmoid(u) - sigmoid(l)`` with ``u - l = 1 / s``,
        computed as ``log sigmoid(u) + log sigmoid(-l) + log(1 - exp(-1 / s))`` (exact, and
        finite however far the bin lies in a tail); the end bins are ``sigmoid(u)`` and
        ``1 - sigmoid(l)``. Mixed by log-softmax weights with a logsumexp.
        """
        from keras import ops

        means, log_scales, logits = self.keras_parameters(raw)
        x = ops.expand_dims(ops.cast(x, "float32"), -1)
        inverse_scale = ops.exp(-log_scales)
        upper, lower = (x + 0.5 - means) * inverse_scale, (x - 0.5 - means) * inverse_scale
        log_cdf_upper = -ops.softplus(-upper)
        log_sf_lower = -ops.softplus(lower)
        log_bin = log_cdf_upper + log_sf_lower + ops.log(-ops.expm1(-inverse_scale))
        log_component = ops.where(x <= 0, log_cdf_upper, ops.where(x >= NUM_SYMBOLS - 1, log_sf_lower, log_bin))
        return ops.logsumexp(log_component + ops.log_softmax(logits, axis=-1), axis=-1)
