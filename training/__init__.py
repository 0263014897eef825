"""Training of the VAE models that bbans_numba codes with (Keras 3, JAX backend by default).

The Keras backend is chosen here, once, before anything imports Keras: ``jax`` unless the
user set ``KERAS_BACKEND`` already. Every module of this package imports Keras only after
this file ran, so training, evaluation and export all go through the same backend.

The package is installed with bbans_numba (``pip install -e ".[train]"`` adds Keras and JAX),
so ``python -m training.train`` works from any directory; from a clone without installing,
run it from the repository root or put the root on ``PYTHONPATH``.

Modules
-------
``training.models``    the VAE built from the registry (bbans_numba.architectures, bbans_numba.likelihoods),
                       recipes by name (both kinds), the loss (negative ELBO in bits/dim).
``training.pixelvae``  the PixelVAE (local autoregressive pixel decoder), its loss and export.
``training.export``    a trained Keras model -> the ``.npz`` that ``bbans --model`` loads.
``training.train``     ``python -m training.train --data SPEC --out PATH [--model RECIPE] [--time-budget MINUTES]``.
``training.evaluate``  ``python -m training.evaluate --model PATH --data SPEC``.
``training.speed``     ``python -m training.speed --model mnist``: encode/decode timings.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
