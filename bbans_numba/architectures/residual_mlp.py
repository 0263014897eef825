"""The residual MLP (``mlp-bb`` and ``resmlp-bb``): Keras for training, Numba for coding.

With ``hidden_units`` H, ``residual_blocks`` R and activation f::

    h = f(x @ W_in + b_in)
    repeat R times:  h = h + (f(h @ W_inner + b_inner) @ W_outer + b_outer)
    out = h @ W_out + b_out

Exported arrays (float32 or float16; the coder computes in float32): kernels (in, out) and
biases (out,) named ``{network}.input``, ``{network}.block{i}.inner``,
``{network}.block{i}.outer``, ``{network}.output`` + ``.kernel`` / ``.bias``. The Keras
layers carry the same names with ``_`` for ``.``.

Examples
--------
>>> mlp = ResidualMLP(hidden_units=5, residual_blocks=1, activation="elu")
>>> mlp.layer_names("encoder")
['encoder.input', 'encoder.block0.inner', 'encoder.block0.outer', 'encoder.output']
>>> mlp.array_shapes("decoder", 2, 6)["decoder.output.kernel"]
(5, 6)
"""

import numpy as np

from .. import nn
from ..options import Choice, Integer, Spec

__all__ = ["ResidualMLP", "network_layer_names", "keras_activation"]


def network_layer_names(network, residual_blocks):
    """Names of the dense layers of one exported network, in forward order.

    Examples
    --------
    >>> network_layer_names("encoder", 1)
    ['encoder.input', 'encoder.block0.inner', 'encoder.block0.outer', 'encoder.output']
    """
    inner = [f"{network}.block{i}.{part}" for i in range(residual_blocks) for part in ("inner", "outer")]
    return [f"{network}.input", *inner, f"{network}.output"]


def keras_activation(name):
    """The Keras activation that computes what :data:`bbans_numba.nn.ACTIVATIONS` ``[name]`` does.

    ELU is ``training.portable_ops.elu`` (the codec's portable ``expm1``, in float32), not
    Keras' libm-based ``"elu"``, so that training fits the function the codec computes.
    Training-only (imports the ``training`` package).
    """
    if name == "elu":
        from training import portable_ops

        return portable_ops.elu
    return name


class ResidualMLP(Spec):
    """A pair of residual MLPs (see the module docstring)."""

    NAME = "residual_mlp"
    ACTIVATIONS = ("relu", "elu")
    OPTIONS = {
        "hidden_units": Integer(1, 1 << 16),
        "residual_blocks": Integer(0, 256),
        "activation": Choice(ACTIVATIONS),
    }

    def layer_names(self, network):
        return network_layer_names(network, self.options["residual_blocks"])

    def array_shapes(self, network, inputs, outputs):
        """Exported array name -> shape of one network from ``inputs`` to ``outputs`` values."""
        names = self.layer_names(network)
        sizes = [inputs] + [self.options["hidden_units"]] * (len(names) - 1) + [outputs]
        shapes = {}
        for name, fan_in, fan_out in zip(names, sizes[:-1], sizes[1:]):
            shapes[f"{name}.kernel"] = (fan_in, fan_out)
            shapes[f"{name}.bias"] = (fan_out,)
        return shapes

    def forward(self, weights, network, x):
        """The network's float32 output for float32 rows ``x``; ``weights``: name -> float32 array."""
        activation = nn.ACTIVATIONS[self.options["activation"]]
        names = self.layer_names(network)

        def dense(name, inputs):
            return nn.dense(inputs, weights[f"{name}.kernel"], weights[f"{name}.bias"])

        h = dense(names[0], x)
        activation(h)
        for inner, outer in zip(names[1:-1:2], names[2:-1:2]):
            hidden = dense(inner, h)
            activation(hidden)
            h = np.add(dense(outer, hidden), h)
        return dense(names[-1], h)

    def keras_network(self, inputs, outputs, name):
        """The functional Keras model of one network (layer names as exported, ``.`` -> ``_``)."""
        import keras

        hidden, activation = self.options["hidden_units"], keras_activation(self.options["activation"])
        x = keras.Input((inputs,), name=f"{name}_x")
        h = keras.layers.Dense(hidden, activation=activation, name=f"{name}_input")(x)
        for block in range(self.options["residual_blocks"]):
            inner = keras.layers.Dense(hidden, activation=activation, name=f"{name}_block{block}_inner")(h)
            outer = keras.layers.Dense(hidden, name=f"{name}_block{block}_outer")(inner)
            h = keras.layers.Add(name=f"{name}_block{block}_add")([h, outer])
        return keras.Model(x, keras.layers.Dense(outputs, name=f"{name}_output")(h), name=name)

    def keras_weights(self, keras_network):
        """Exported name -> float32 array of a network built by :meth:`keras_network`."""
        import keras

        weights = {}
        for name in self.layer_names(keras_network.name):
            layer = keras_network.get_layer(name.replace(".", "_"))
            # convert_to_numpy of each variable's value: get_weights() goes through np.array(variable),
            # which makes NumPy 2 warn that Keras' __array__ takes no copy keyword.
            kernel, bias = (keras.ops.convert_to_numpy(weight.value) for weight in layer.weights)
            weights[f"{name}.kernel"], weights[f"{name}.bias"] = kernel, bias
        return weights
