"""What a model is, independent of its weights: image shape, latents, architecture, likelihood.

Stored as JSON in the ``config`` member of an exported model (format version 2)::

    {"format_version": 2, "image_shape": [28, 28], "latent_dim": 50,
     "architecture": {"name": "residual_mlp", "hidden_units": 768, "residual_blocks": 1,
                      "activation": "elu"},
     "likelihood": {"name": "beta_binomial"}}

Version 1 (the shipped ``mnist`` and ``mnist-fast`` files, which are never re-exported:
their bytes make their fingerprints) is read too: its flat keys ``hidden_units``,
``residual_blocks``, ``activation`` describe a ``residual_mlp``; its ``likelihood`` was
always ``"beta_binomial"`` with ``num_components`` 1.

Every field is checked for type and range here, and every option by its spec, before any
array is read or allocated; the sizes of all arrays follow from the config alone
(:meth:`ModelConfig.array_shapes`).

Examples
--------
>>> config = ModelConfig.from_json('{"format_version": 1, "image_shape": [28, 28], "latent_dim": 50, '
...     '"hidden_units": 500, "residual_blocks": 0, "activation": "relu", "likelihood": "beta_binomial", '
...     '"num_components": 1}')
>>> config.architecture, config.likelihood
(ResidualMLP(hidden_units=500, residual_blocks=0, activation='relu'), BetaBinomialLikelihood())
>>> config.array_shapes()["decoder.output.kernel"]
(500, 1568)
"""

import json
import math
from dataclasses import dataclass

from .architectures import architecture_from_description
from .likelihoods import likelihood_from_description
from .options import Integer

__all__ = ["ModelConfig", "FORMAT_VERSION", "READABLE_VERSIONS", "load_json"]

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_IMAGE_DIMS = 4
MAX_PIXELS = 1 << 24
_SIDE = Integer(1, 1 << 16)
_LATENT_DIM = Integer(1, 1 << 16)
_V1_KEYS = ("format_version", "image_shape", "latent_dim", "hidden_units", "residual_blocks", "activation",
            "likelihood", "num_components")
_V2_KEYS = ("format_version", "image_shape", "latent_dim", "architecture", "likelihood")


def load_json(text):
    """``json.loads(text)``, with a ValueError that says the config is not JSON."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"'config' is not valid JSON ({type(error).__name__}: {str(error)[:100]})") from error


@dataclass(frozen=True)
class ModelConfig:
    """A checked model description.

    Attributes
    ----------
    image_shape : tuple of int
    latent_dim : int
    architecture : Spec
        From :mod:`bbans_numba.architectures`.
    likelihood : Spec
        From :mod:`bbans_numba.likelihoods`.
    """

    image_shape: tuple
    latent_dim: int
    architecture: object
    likelihood: object

    @classmethod
    def build(cls, image_shape, latent_dim, architecture, likelihood):
        """A config from plain values (``architecture`` and ``likelihood`` as ``{"name": ..., **options}``),
        each checked (ValueError)."""
        if not isinstance(image_shape, (list, tuple)) or not 1 <= len(image_shape) <= MAX_IMAGE_DIMS:
            raise ValueError(f"image_shape must be a list of 1 to {MAX_IMAGE_DIMS} sizes, got {image_shape!r}")
        image_shape = tuple(_SIDE.check("image_shape", side) for side in image_shape)
        if math.prod(image_shape) > MAX_PIXELS:
            raise ValueError(f"image_shape {image_shape} has more than {MAX_PIXELS} pixels")
        latent_dim = _LATENT_DIM.check("latent_dim", latent_dim)
        return cls(image_shape, latent_dim, architecture_from_description(architecture),
                   likelihood_from_description(likelihood))

    @classmethod
    def from_dict(cls, config):
        """Parse a stored config of any readable version (ValueError naming what is wrong)."""
        if not isinstance(config, dict):
            raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
        version = config.get("format_version")
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise ValueError(f"model format version {version!r} is not supported "
                             f"(this version reads {', '.join(map(str, READABLE_VERSIONS))})")
        keys = _V1_KEYS if version == 1 else _V2_KEYS
        missing = [key for key in keys if key not in config]
        if missing:
            raise ValueError(f"config lacks {missing}")
        if version == 2:
            unknown = sorted(set(config) - set(keys))
            if unknown:
                raise ValueError(f"config has unknown keys {unknown}")
            return cls.build(config["image_shape"], config["latent_dim"], config["architecture"], config["likelihood"])
        if config["likelihood"] != "beta_binomial" or config["num_components"] != 1:
            raise ValueError(f"a version 1 model has a beta_binomial likelihood with num_components 1, "
                             f"got {config['likelihood']!r} with {config['num_components']!r}")
        architecture = {"name": "residual_mlp", **{key: config[key] for key in ("hidden_units", "residual_blocks",
                                                                                "activation")}}
        return cls.build(config["image_shape"], config["latent_dim"], architecture, {"name": "beta_binomial"})

    @classmethod
    def from_json(cls, text):
        """Parse the JSON text of a stored config (ValueError if not JSON or not valid)."""
        return cls.from_dict(load_json(text))

    def to_dict(self):
        """The current-version dict (what :func:`to_json` writes)."""
        return dict(format_version=FORMAT_VERSION, image_shape=list(self.image_shape), latent_dim=self.latent_dim,
                    architecture=self.architecture.description(), likelihood=self.likelihood.description())

    def to_json(self):
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def num_pixels(self):
        return math.prod(self.image_shape)

    def network_sizes(self):
        """``{network: (inputs, outputs)}`` of the encoder and decoder."""
        return {"encoder": (self.num_pixels, 2 * self.latent_dim),
                "decoder": (self.latent_dim, self.likelihood.raw_outputs_per_pixel * self.num_pixels)}

    def array_shapes(self):
        """Every weight array the model file holds: name -> shape (``config`` itself excluded)."""
        shapes = {}
        for network, (inputs, outputs) in self.network_sizes().items():
            shapes.update(self.architecture.array_shapes(network, inputs, outputs))
        return shapes
