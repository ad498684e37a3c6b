"""The activation table, Python side: names, aliases, parameters and their
ranges.  The formulas live in ``csrc/act_scalar.h``; this module only says
which C kernel a name selects and with which parameters.

Adding an activation: a row in ``FA_ACTIVATION_TABLE`` (csrc/fastact.h), its
scalar forward/slope pair (csrc/act_scalar.h) and an entry in ``_SPECS``.
"""

import difflib
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = ["ActivationInfo", "ACTIVATIONS", "lookup"]


def _positive(v):
    return v > 0


def _finite(v):
    return np.isfinite(v)


# integer parameters (maxout pieces) beyond this are certainly mistakes
_MAX_INT_PARAM = 2**31 - 1


@dataclass(frozen=True)
class _Param:
    default: object
    check: object = _finite          # predicate on the converted value
    expected: str = "a finite real number"
    kind: str = "real"               # "real", "int", "choice", "array"
    choices: tuple = ()
    # the kernels only compare x (or beta x, or y) with this parameter: with
    # float32 data one beyond the float32 range acts as +-inf, which gives the
    # same results (a threshold of 1e300 is never exceeded).  Every other real
    # parameter multiplies or divides and must stay finite (and, where it must
    # be > 0, nonzero) when rounded to float32: see float32_problem.
    compared: bool = False


@dataclass(frozen=True)
class ActivationInfo:
    """Description of one activation of the table.

    Attributes
    ----------
    name : str
        Canonical name.
    aliases : tuple of str
        Other names that select the same kernel.
    params : mapping
        Parameter name -> default value (``None`` where the caller must give it).
    slope_from : {"output", "input"}
        What the backward pass needs: the forward output ``y`` alone, or the
        forward input ``x`` too.
    pattern : {"elementwise", "per_feature", "rowwise", "reduce"}
        How the kernel walks the buffer: elementwise over any shape,
        per_feature (one parameter per entry of the last axis), rowwise
        along the last axis (softmax family), or reduce (maxout, which
        shrinks the last axis and so cannot run in place).
    trainable : bool
        False when the slope is identically zero (``step``).
    """

    name: str
    aliases: tuple
    params: MappingProxyType
    slope_from: str
    pattern: str
    trainable: bool = True
    _param_specs: dict = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<activation {self.name}({params}) slope from {self.slope_from}>"


_POS = dict(check=_positive, expected="a real number > 0")
_CMP = dict(compared=True)

# name: (aliases, {param: _Param}, slope_from, pattern[, trainable])
_SPECS = {
    "identity": (("linear",), {}, "output", "elementwise"),
    "logistic": (("sigmoid",), {}, "output", "elementwise"),
    "tanh": ((), {}, "output", "elementwise"),
    "relu": ((), {}, "output", "elementwise"),
    "leaky_relu": ((), {"alpha": _Param(0.01, **_POS)}, "output", "elementwise"),
    "prelu": ((), {"alpha": _Param(None, kind="array",
                                   expected="a 1-D array with one entry > 0 per feature")},
              "output", "per_feature"),
    "elu": ((), {"alpha": _Param(1.0, **_POS)}, "output", "elementwise"),
    "selu": ((), {"alpha": _Param(1.6732632423543772, **_POS),
                  "scale": _Param(1.0507009873554805, **_POS)}, "output", "elementwise"),
    "celu": ((), {"alpha": _Param(1.0, **_POS)}, "output", "elementwise"),
    "softplus": ((), {"beta": _Param(1.0, **_POS), "threshold": _Param(20.0, **_CMP)},
                 "output", "elementwise"),
    "softsign": ((), {}, "output", "elementwise"),
    "hard_sigmoid": ((), {}, "output", "elementwise"),
    "hard_tanh": ((), {"min_val": _Param(-1.0, **_CMP), "max_val": _Param(1.0, **_CMP)},
                  "output", "elementwise"),
    "relu6": ((), {}, "output", "elementwise"),
    "exp": ((), {}, "output", "elementwise"),
    "step": ((), {"threshold": _Param(0.0, **_CMP)}, "output", "elementwise", False),
    "swish": (("silu",), {"beta": _Param(1.0)}, "input", "elementwise"),
    "gelu": ((), {"approximate": _Param("none", kind="choice", choices=("none", "tanh"),
                                        expected="'none' or 'tanh'")},
             "input", "elementwise"),
    "mish": ((), {}, "input", "elementwise"),
    "hardswish": ((), {}, "input", "elementwise"),
    "softmax": ((), {}, "output", "rowwise"),
    "log_softmax": ((), {}, "output", "rowwise"),
    "maxout": ((), {"pieces": _Param(None, kind="int", check=lambda v: v >= 2,
                                     expected="an integer >= 2")},
               "input", "reduce"),
}


def _build():
    table, lookup = {}, {}
    for name, row in _SPECS.items():
        aliases, specs, slope_from, pattern = row[:4]
        trainable = row[4] if len(row) > 4 else True
        info = ActivationInfo(
            name=name, aliases=aliases,
            params=MappingProxyType({k: p.default for k, p in specs.items()}),
            slope_from=slope_from, pattern=pattern, trainable=trainable,
            _param_specs=specs)
        table[name] = info
        lookup[name] = info
        for alias in aliases:
            lookup[alias] = info
    return table, lookup


_TABLE, _LOOKUP = _build()


class _Table(dict):
    """name -> ActivationInfo; aliases resolve to their activation."""

    def __missing__(self, key):
        if isinstance(key, str) and key in _LOOKUP:
            return _LOOKUP[key]
        raise KeyError(unknown_name_message(key))

    def __contains__(self, key):
        return isinstance(key, str) and key in _LOOKUP

    def get(self, key, default=None):
        return _LOOKUP.get(key, default) if isinstance(key, str) else default


ACTIVATIONS = _Table(_TABLE)


def unknown_name_message(name):
    if not isinstance(name, str):
        return f"name must be a str naming an activation, got {type(name).__name__}"
    close = difflib.get_close_matches(name.lower(), list(_LOOKUP), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (f"unknown activation {name!r}{hint} Known activations: "
            + ", ".join(sorted(_TABLE)))


def lookup(name):
    """ActivationInfo for ``name`` (or alias); ValueError naming the closest."""
    info = _LOOKUP.get(name) if isinstance(name, str) else None
    if info is None:
        if not isinstance(name, str):
            raise TypeError(unknown_name_message(name))
        raise ValueError(unknown_name_message(name))
    return info


def _convert(info, key, value):
    spec = info._param_specs[key]
    where = f"{info.name}: parameter {key!r}"
    if spec.kind == "choice":
        if not isinstance(value, str) or value not in spec.choices:
            raise ValueError(f"{where} must be {spec.expected}, got {value!r}")
        return value
    if spec.kind == "array":
        try:
            arr = np.asarray(value)
        except Exception:  # noqa: BLE001 - anything unconvertible is bad input
            arr = None
        if arr is None or arr.ndim != 1 or arr.dtype.kind not in "fiu" or arr.size == 0:
            raise ValueError(f"{where} must be {spec.expected}, got {value!r}")
        if not np.all(arr > 0):
            raise ValueError(f"{where} must be {spec.expected}; "
                             f"it has entries <= 0 or NaN")
        return arr
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} must be {spec.expected}, got {type(value).__name__}")
    if spec.kind == "int":
        if not isinstance(value, numbers.Integral):
            raise TypeError(f"{where} must be {spec.expected}, got {value!r}")
        value = int(value)
        if not (spec.check(value) and value <= _MAX_INT_PARAM):
            raise ValueError(f"{where} must be {spec.expected} (at most "
                             f"{_MAX_INT_PARAM}), got {value!r}")
        return value
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{where} must be {spec.expected}, got {value!r}") from None
    if not (_finite(value) and spec.check(value)):
        raise ValueError(f"{where} must be {spec.expected}, got {value!r}")
    return value


def bind_params(info, params):
    """Defaults overlaid with ``params``, each converted and range-checked."""
    specs = info._param_specs
    unknown = [k for k in params if k not in specs]
    if unknown:
        takes = (", ".join(repr(k) for k in specs) if specs else "no parameters")
        raise TypeError(f"{info.name}: unexpected parameter {unknown[0]!r}; "
                        f"it takes {takes}")
    bound = {}
    for key, spec in specs.items():
        if key in params:
            bound[key] = _convert(info, key, params[key])
        elif spec.default is None:
            raise TypeError(f"{info.name}: parameter {key!r} is required "
                            f"({spec.expected})")
        else:
            bound[key] = spec.default
    if info.name == "hard_tanh" and not bound["min_val"] < bound["max_val"]:
        raise ValueError(f"hard_tanh: min_val must be < max_val, got "
                         f"min_val={bound['min_val']!r}, max_val={bound['max_val']!r}")
    return bound


def float32_problem(info, bound):
    """Why the bound parameters cannot run on float32 data, or None.

    The kernels see the scalar parameters rounded to the dtype of the data
    (the range checks of ``bind_params`` are made in float64).  A multiplying
    parameter that rounds to +-inf in float32, or one that must be > 0 and
    rounds to 0, would turn results into NaN (inf * 0, 0 / 0): such a
    parameter is refused for float32 calls.  (prelu's alpha array is checked
    when it is bound, for either dtype.)
    """
    for key, spec in info._param_specs.items():
        if spec.kind != "real" or spec.compared:
            continue
        value = bound[key]
        with np.errstate(over="ignore", under="ignore"):
            v32 = float(np.float32(value))
        if not (_finite(v32) and spec.check(v32)):
            return (f"{info.name}: parameter {key!r}={value!r} is outside the float32 "
                    f"range (it rounds to {v32!r} in float32 and must be "
                    f"{spec.expected} there); use float64 data or a value the float32 "
                    f"range holds")
    return None


# kernel name in C and the two scalar parameter slots (a, b), per activation
def c_params(info, bound):
    """(C kernel name, a, b) for an activation with bound parameters."""
    name = info.name
    if name == "gelu":
        return ("gelu_tanh" if bound["approximate"] == "tanh" else "gelu"), 0.0, 0.0
    slots = {
        "leaky_relu": ("alpha", None), "elu": ("alpha", None), "celu": ("alpha", None),
        "selu": ("alpha", "scale"), "softplus": ("beta", "threshold"),
        "hard_tanh": ("min_val", "max_val"), "step": ("threshold", None),
        "swish": ("beta", None),
    }.get(name, (None, None))
    a = bound[slots[0]] if slots[0] else 0.0
    b = bound[slots[1]] if slots[1] else 0.0
    return name, a, b
