"""Training of the VAE models that bbans_numba codes with (Keras 3, JAX backend by default).

The Keras backend is chosen here, once, before anything imports Keras: ``jax`` unless the
user set ``KERAS_BACKEND`` already. Every module of this package imports Keras only after
this file ran, so training, evaluation and export all go through the same backend.

Modules
-------
``training.models``    architectures by name, the loss (negative ELBO in bits/dim).
``training.export``    a trained Keras model -> the ``.npz`` that ``bbans_numba.model`` loads.
``training.train``     ``python -m training.train --data SPEC --model ARCH --epochs E --out PATH``.
``training.evaluate``  ``python -m training.evaluate --model PATH --data SPEC``.
``training.speed``     ``python -m training.speed --model mnist``: encode/decode timings.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
