"""Typed options of likelihoods and architectures, checked once where a spec is built.

A spec class declares ``OPTIONS``: option name -> :class:`Option`. :func:`build_spec` looks
a name up in a registry, checks that the given options are exactly the declared ones (a
missing one takes its default, if it has one), that each has its type and range, and only
then builds the spec. Model files, training recipes and the Python API all go through it,
so a wrong type or an absurd size is refused the same way everywhere: one ``ValueError``,
before anything is allocated.

Examples
--------
>>> Integer(0, 8).check("residual_blocks", 1)
1
>>> Integer(0, 8).check("residual_blocks", "1")
Traceback (most recent call last):
...
ValueError: option 'residual_blocks' must be an integer in [0, 8], got '1'
"""

from dataclasses import dataclass

__all__ = ["Integer", "Real", "Choice", "Spec", "build_spec"]

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Integer:
    """An integer in ``[low, high]`` (JSON numbers only: no bool, no float, no string)."""

    low: int
    high: int
    default: object = _NO_DEFAULT

    def check(self, name, value):
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise ValueError(f"option {name!r} must be an integer in [{self.low}, {self.high}], got {value!r}")
        return value


@dataclass(frozen=True)
class Real:
    """A real number in ``[low, high]`` (a JSON number: int or float, no bool; NaN fails the
    range test), returned as float.

    >>> Real(-700.0, 700.0).check("log_scale_min", -4)
    -4.0
    """

    low: float
    high: float
    default: object = _NO_DEFAULT

    def check(self, name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            raise ValueError(f"option {name!r} must be a number in [{self.low}, {self.high}], got {value!r}")
        return float(value)


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings."""

    choices: tuple
    default: object = _NO_DEFAULT

    def check(self, name, value):
        if not isinstance(value, str) or value not in self.choices:
            raise ValueError(f"option {name!r} must be one of {', '.join(self.choices)}; got {value!r}")
        return value


class Spec:
    """Base of likelihood and architecture specs: a registry ``NAME``, declared ``OPTIONS``
    and the checked option values (see :func:`build_spec`)."""

    NAME = None
    OPTIONS = {}

    def __init__(self, **options):
        self.options = options

    def description(self):
        """``{"name": NAME, **options}``: what a model file and a Keras config store."""
        return {"name": self.NAME, **self.options}

    def __eq__(self, other):
        return type(self) is type(other) and self.options == other.options

    def __hash__(self):
        return hash((self.NAME, tuple(sorted(self.options.items()))))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"


def build_spec(registry, kind, description):
    """The spec ``registry[description["name"]](**options)``, options checked first.

    Parameters
    ----------
    registry : dict
        name -> spec class with an ``OPTIONS`` dict.
    kind : str
        What is being built (``"likelihood"``, ``"architecture"``), for messages.
    description : dict
        ``{"name": NAME, **options}``.

    Raises
    ------
    ValueError
        Not a dict, unknown name, unknown or missing option, wrong type or range.
    """
    if not isinstance(description, dict):
        raise ValueError(f"{kind} must be an object {{'name': ..., options}}, got {description!r}")
    name = description.get("name")
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; supported: {', '.join(sorted(registry))}")
    declared = registry[name].OPTIONS
    unknown = sorted(set(description) - set(declared) - {"name"})
    if unknown:
        raise ValueError(f"{kind} {name!r} has no option(s) {', '.join(map(repr, unknown))}; "
                         f"its options: {', '.join(declared) or 'none'}")
    options = {}
    for option, rule in declared.items():
        if option in description:
            options[option] = rule.check(option, description[option])
        elif rule.default is not _NO_DEFAULT:
            options[option] = rule.default
        else:
            raise ValueError(f"{kind} {name!r} needs option {option!r}")
    return registry[name](**options)
