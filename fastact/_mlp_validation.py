"""Checks of the MLP hyperparameters that go beyond scikit-learn's: the
layer sizes, the per-layer activations of the fastact table and dropout.

Each function takes the raw constructor value and returns what the engine
needs, or raises ValueError / TypeError saying what was wrong and what was
expected.  ``_parameter_constraints`` has already checked the types.
"""

import numbers
from collections.abc import Mapping

import numpy as np

from fastact._kernels import Activation, activation
from fastact._table import ACTIVATIONS

# Above this many parameters (or entries in one matrix) the BLAS int
# arguments overflow; far below it the machine runs out of memory anyway.
MAX_PARAMS = 2**31 - 1

ACTIVATION_NAMES = frozenset(
    [name for name in ACTIVATIONS] + [a for info in ACTIVATIONS.values() for a in info.aliases])


def hidden_layer_sizes(value):
    """The list of hidden widths; ValueError unless every entry is an int >= 1."""
    sizes = list(value) if hasattr(value, "__iter__") else [value]
    for s in sizes:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise ValueError(f"hidden_layer_sizes must hold integers, got {value!r}")
    sizes = [int(s) for s in sizes]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return sizes


def check_network_size(layer_units, pieces):
    """ValueError for networks whose parameters could never be allocated."""
    total = 0
    for i in range(len(layer_units) - 1):
        fan_out = layer_units[i + 1] * pieces[i]
        block = layer_units[i] * fan_out
        if block > MAX_PARAMS or fan_out > MAX_PARAMS:
            raise ValueError(
                f"layer {i + 1} would need a {layer_units[i]} x {fan_out} weight matrix "
                f"({block:.3g} parameters); hidden_layer_sizes is too large for this "
                f"data (at most {MAX_PARAMS} parameters per layer).")
        total += block + fan_out
    if total > MAX_PARAMS:
        raise ValueError(f"the network would have {total:.3g} parameters (at most "
                         f"{MAX_PARAMS}); reduce hidden_layer_sizes.")
    return total


def _one_activation(spec, where):
    if isinstance(spec, Activation):
        act = spec
    elif isinstance(spec, str):
        act = activation(spec)
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) \
            and isinstance(spec[1], Mapping):
        act = activation(spec[0], **dict(spec[1]))
    else:
        raise TypeError(
            f"{where} must be an activation name, a (name, params) tuple such as "
            f"('leaky_relu', {{'alpha': 0.1}}) or a fastact.Activation, got {spec!r}")
    if not act.info.trainable:
        raise ValueError(
            f"{where}: activation {act.name!r} has a zero gradient everywhere, so a layer "
            f"using it cannot be trained; choose an activation with a slope")
    return act


def activations(value, n_hidden):
    """One bound Activation per hidden layer from the `activation` parameter:
    a name, a (name, params) tuple, an Activation, or a list of those with
    one entry per hidden layer."""
    if isinstance(value, list):
        if len(value) != n_hidden:
            raise ValueError(
                f"activation is a list of {len(value)} entries but the network has "
                f"{n_hidden} hidden layers; give one activation per hidden layer "
                f"(or a single one for all)")
        return [_one_activation(v, f"activation[{i}]") for i, v in enumerate(value)]
    act = _one_activation(value, "activation")
    return [act] * n_hidden


def dropout_rates(value, n_hidden):
    """One dropout rate in [0, 1) per hidden layer."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"dropout must be a float in [0, 1) or one per hidden layer, "
                        f"got {value!r}")
    try:
        rates = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"dropout must be a float in [0, 1) or one per hidden layer, "
                        f"got {value!r}") from None
    if rates.ndim == 0:
        rates = np.full(n_hidden, float(rates))
    elif rates.ndim != 1 or rates.shape[0] != n_hidden:
        raise ValueError(f"dropout must be one rate or one per hidden layer "
                         f"({n_hidden}), got {value!r}")
    if not np.all((rates >= 0) & (rates < 1)):
        raise ValueError(f"dropout rates must be in [0, 1), got {value!r}")
    return [float(r) for r in rates]


def init_factor(act):
    """Glorot-uniform factor: 2 for logistic (as scikit-learn), 6 otherwise."""
    return 2.0 if act is not None and act.name == "logistic" else 6.0
