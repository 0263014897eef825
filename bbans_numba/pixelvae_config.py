"""What a PixelVAE is, independent of its weights: the checked ``config`` of its model file.

An exported PixelVAE (``training.pixelvae.export_npz``) stores its config as JSON in the
``config`` member, marked ``"format": "pixelvae-1"`` (:data:`FORMAT`); that key is how
:func:`bbans_numba.model_file.parse_config` tells it from a residual-MLP VAE's config::

    {"format": "pixelvae-1", "image_shape": [28, 28], "latent_dim": 16, "features": 8,
     "encoder_hidden": [256], "decoder_hidden": [256], "pixel_hidden": [48, 48],
     "head": "logistic", "components": 5, "offsets": [[-1, 0], [0, -1], ...],
     "log_scale_min": -4.0, "log_scale_max": 7.0, "std_min": 1e-06, "std_max": 1000.0,
     "rows_above": 3, "half_width": 3, "left": 3, "seed": 0}

The last four record how training built the neighbourhood and are not used for coding.
Every field is checked for type and range before any array is read or allocated, and the
sizes of all arrays follow from the config alone (:meth:`PixelVAEConfig.array_shapes`).
Besides the per-field bounds, pixels x neighbours is bounded (:data:`MAX_NEIGHBOUR_ENTRIES`):
the codec keeps a (pixels, neighbours) table that the weights do not pay for.

Examples
--------
>>> config = PixelVAEConfig.from_dict(dict(format="pixelvae-1", image_shape=[4, 5], latent_dim=2,
...     features=3, encoder_hidden=[8], decoder_hidden=[6], pixel_hidden=[7], head="logistic",
...     components=2, offsets=[[-1, 0], [0, -1]], log_scale_min=-4.0, log_scale_max=7.0,
...     std_min=1e-6, std_max=1e3))
>>> config.num_pixels, config.array_shapes()["pixel.hidden0.kernel"], config.array_shapes()["decoder.output.kernel"]
(20, (5, 7), (6, 60))
>>> PixelVAEConfig.from_dict(dict(config.to_dict(), offsets=[[0, 1]]))
Traceback (most recent call last):
...
ValueError: neighbourhood offset [0, 1] is not before the pixel in raster order
"""

import math
from dataclasses import dataclass

from .options import Choice, Integer

__all__ = ["PixelVAEConfig", "FORMAT", "MAX_NEIGHBOUR_ENTRIES"]

FORMAT = "pixelvae-1"
MAX_PIXELS = 1 << 24
MAX_LAYERS = 16
MAX_OFFSETS = 1024
# pixels x neighbours of the codec's neighbour table (int32): 64 MiB at most.
MAX_NEIGHBOUR_ENTRIES = 1 << 24
_SIDE = Integer(1, 1 << 16)
_WIDTH = Integer(1, 1 << 16)
_LATENT_DIM = Integer(0, 1 << 16)
_FEATURES = Integer(1, 1 << 12)
_COMPONENTS = Integer(1, 256)
_SHIFT = Integer(-(1 << 16), 1 << 16)
_HEAD = Choice(("logistic",))  # training also knows "categorical", which the codec does not code
LOG_SCALE_LIMIT = 700.0  # |log scale| bound: the inverse scale exp(-log_scale) stays finite
_REQUIRED = ("format", "image_shape", "latent_dim", "features", "encoder_hidden", "decoder_hidden", "pixel_hidden",
             "head", "components", "offsets", "log_scale_min", "log_scale_max", "std_min", "std_max")
# Recorded by training (how it built the offsets, its seed), checked, not used for coding.
_INFORMATIONAL = {"rows_above": Integer(0, 1 << 16), "half_width": Integer(0, 1 << 16), "left": Integer(0, 1 << 16),
                  "seed": Integer(-(1 << 63), (1 << 64) - 1)}


def _widths(name, value, allow_empty=True):
    if not isinstance(value, list) or len(value) > MAX_LAYERS or not (value or allow_empty):
        raise ValueError(f"{name!r} must be a list of {0 if allow_empty else 1} to {MAX_LAYERS} layer widths, "
                         f"got {value!r}"[:200])
    return tuple(_WIDTH.check(name, width) for width in value)


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name!r} must be a finite number, got {value!r}")
    return float(value)


def _offsets(value):
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_OFFSETS:
        raise ValueError(f"'offsets' must be a list of 1 to {MAX_OFFSETS} [dy, dx] pairs"[:200])
    offsets = []
    for offset in value:
        if not isinstance(offset, list) or len(offset) != 2:
            raise ValueError(f"each neighbourhood offset must be [dy, dx], got {offset!r}"[:200])
        dy, dx = (_SHIFT.check("offsets", v) for v in offset)
        if not (dy < 0 or (dy == 0 and dx < 0)):
            raise ValueError(f"neighbourhood offset {offset!r} is not before the pixel in raster order")
        offsets.append((dy, dx))
    return tuple(offsets)


def _layer_names(prefix, count):
    return [f"{prefix}.hidden{i}" for i in range(count)] + [f"{prefix}.output"]


@dataclass(frozen=True)
class PixelVAEConfig:
    """A checked PixelVAE description (the module docstring lists the stored keys).

    Attributes
    ----------
    image_shape : tuple of int
        (height, width).
    latent_dim, features, components : int
        Latents (0: no latents, the decoder is one bias), per-pixel features of h(z),
        logistic mixture components.
    encoder_hidden, decoder_hidden, pixel_hidden : tuple of int
        Hidden layer widths (``pixel_hidden`` has at least one).
    offsets : tuple of (dy, dx)
        The causal neighbourhood, each before the pixel in raster order.
    log_scale_range, std_range : (float, float)
        Clamps of the head's log-scales and of the posterior's standard deviations.
    informational : dict
        Training's record (``rows_above``, ``half_width``, ``left``, ``seed``), as stored.
    """

    image_shape: tuple
    latent_dim: int
    features: int
    encoder_hidden: tuple
    decoder_hidden: tuple
    pixel_hidden: tuple
    components: int
    offsets: tuple
    log_scale_range: tuple
    std_range: tuple
    informational: dict

    @classmethod
    def from_dict(cls, config):
        """Parse a stored config (ValueError naming what is wrong)."""
        if not isinstance(config, dict):
            raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
        if config.get("format") != FORMAT:
            raise ValueError(f"model format {config.get('format')!r} is not supported (this version reads {FORMAT!r})"
                             [:200])
        missing = [key for key in _REQUIRED if key not in config]
        if missing:
            raise ValueError(f"config lacks {missing}")
        unknown = sorted(set(config) - set(_REQUIRED) - set(_INFORMATIONAL))
        if unknown:
            raise ValueError(f"config has unknown keys {unknown[:5]}"[:200])
        shape = config["image_shape"]
        if not isinstance(shape, list) or len(shape) != 2:
            raise ValueError(f"image_shape must be [height, width], got {shape!r}"[:200])
        shape = tuple(_SIDE.check("image_shape", side) for side in shape)
        if math.prod(shape) > MAX_PIXELS:
            raise ValueError(f"image_shape {shape} has more than {MAX_PIXELS} pixels")
        _HEAD.check("head", config["head"])
        offsets = _offsets(config["offsets"])
        if math.prod(shape) * len(offsets) > MAX_NEIGHBOUR_ENTRIES:
            raise ValueError(f"{math.prod(shape)} pixels x {len(offsets)} neighbours is more than "
                             f"{MAX_NEIGHBOUR_ENTRIES}")
        log_scale = tuple(_number(key, config[key]) for key in ("log_scale_min", "log_scale_max"))
        std = tuple(_number(key, config[key]) for key in ("std_min", "std_max"))
        if not -LOG_SCALE_LIMIT <= log_scale[0] <= log_scale[1] <= LOG_SCALE_LIMIT or not 0 < std[0] <= std[1]:
            raise ValueError(f"need -{LOG_SCALE_LIMIT:g} <= log_scale_min <= log_scale_max <= {LOG_SCALE_LIMIT:g} "
                             f"and 0 < std_min <= std_max, got {log_scale}, {std}")
        informational = {key: rule.check(key, config[key]) for key, rule in _INFORMATIONAL.items() if key in config}
        return cls(shape, _LATENT_DIM.check("latent_dim", config["latent_dim"]),
                   _FEATURES.check("features", config["features"]), _widths("encoder_hidden", config["encoder_hidden"]),
                   _widths("decoder_hidden", config["decoder_hidden"]),
                   _widths("pixel_hidden", config["pixel_hidden"], allow_empty=False),
                   _COMPONENTS.check("components", config["components"]), offsets, log_scale, std, informational)

    def to_dict(self):
        """The stored form (what :meth:`from_dict` reads back)."""
        return dict(format=FORMAT, image_shape=list(self.image_shape), latent_dim=self.latent_dim,
                    features=self.features, encoder_hidden=list(self.encoder_hidden),
                    decoder_hidden=list(self.decoder_hidden), pixel_hidden=list(self.pixel_hidden), head="logistic",
                    components=self.components, offsets=[list(o) for o in self.offsets],
                    log_scale_min=self.log_scale_range[0], log_scale_max=self.log_scale_range[1],
                    std_min=self.std_range[0], std_max=self.std_range[1], **self.informational)

    @property
    def num_pixels(self):
        return math.prod(self.image_shape)

    def layer_names(self, network):
        """Exported layer names of ``network`` ("encoder", "decoder" or "pixel"), input side first."""
        hidden = {"encoder": self.encoder_hidden, "decoder": self.decoder_hidden, "pixel": self.pixel_hidden}[network]
        return _layer_names(network, len(hidden))

    def array_shapes(self):
        """Every weight array the model file holds: name -> shape (``config`` itself excluded)."""
        shapes = {}

        def mlp(network, widths):
            for name, fan_in, fan_out in zip(self.layer_names(network), widths[:-1], widths[1:]):
                shapes[f"{name}.kernel"] = (fan_in, fan_out)
                shapes[f"{name}.bias"] = (fan_out,)

        if self.latent_dim:
            mlp("encoder", [self.num_pixels, *self.encoder_hidden, 2 * self.latent_dim])
            mlp("decoder", [self.latent_dim, *self.decoder_hidden, self.num_pixels * self.features])
        else:
            shapes["decoder.output.bias"] = (self.num_pixels * self.features,)
        mlp("pixel", [len(self.offsets) + self.features, *self.pixel_hidden, 3 * self.components])
        return shapes
