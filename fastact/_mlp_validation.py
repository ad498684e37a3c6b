"""Checks of the MLP hyperparameters that go beyond scikit-learn's: the
layer sizes, the per-layer activations of the fastact table and dropout.

Each function takes the raw constructor value and returns what the engine
needs, or raises what was wrong and what was expected.  Bad activations and
dropout rates raise scikit-learn's InvalidParameterError (a ValueError and a
TypeError), as bad values of its own parameters do; the layer sizes raise
ValueError with scikit-learn's message.  ``_parameter_constraints`` has
already checked the types.
"""

import numbers
import os
from collections.abc import Mapping

import numpy as np

from sklearn.utils._param_validation import InvalidParameterError

from fastact._kernels import Activation, activation
from fastact._mlp_core import chunk_rows
from fastact._table import ACTIVATIONS, unknown_name_message

# Above this many parameters (or entries in one matrix) the BLAS int
# arguments overflow; far below it the machine runs out of memory anyway.
MAX_PARAMS = 2**31 - 1


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


def check_network_size(layer_units, pieces, itemsize=8, solver="adam", batch_rows=1):
    """ValueError for networks whose parameters could never be allocated;
    MemoryError, before anything is allocated, when fitting would need more
    memory than the machine has (see memory_estimate): the buffers are
    zeroed lazily, so a fit that does not fit would otherwise be OOM-killed
    midway rather than fail."""
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
    need = memory_estimate(layer_units, pieces, itemsize, solver, batch_rows)
    ram = physical_memory()
    if ram is not None and need > ram:
        raise MemoryError(
            f"fitting this network ({total:.3g} parameters, solver={solver!r}, "
            f"float{8 * itemsize}) would need about {need / 2**30:.1f} GiB for its "
            f"parameters, gradients, optimizer state and batch workspace; this machine "
            f"has {ram / 2**30:.1f} GiB of memory. Reduce hidden_layer_sizes.")
    return total


# Buffers of n_params entries in the network's dtype besides the parameters
# and gradients: the copy of the initial/best weights fit keeps, and the
# optimizer state (Adam: two moments; sgd: the velocities, always allocated).
_EXTRA_BUFFERS = {"adam": 3, "sgd": 2, "lbfgs": 1}
# L-BFGS-B holds (2 maxcor + 5) float64 per parameter (maxcor = 10), plus its
# bounds and int32 index arrays and the float64 copies of x and the gradient
# made by scipy and by fit: about 32 float64 per parameter in all.
_LBFGS_BYTES = 32 * 8


def memory_estimate(layer_units, pieces, itemsize, solver, batch_rows):
    """Bytes a fit of this network needs at its peak: parameters,
    gradients, optimizer state, the gradient sum of a batch computed in
    chunks, and the workspace of the rows computed at once (the training
    data, Python objects and BLAS buffers are not counted)."""
    fan_outs = [layer_units[i + 1] * pieces[i] for i in range(len(layer_units) - 1)]
    n_units = sum(fan_outs)
    n_coef = sum(a * b for a, b in zip(layer_units, fan_outs))
    chunk = chunk_rows(n_coef, n_units)
    buffers = 2 + _EXTRA_BUFFERS[solver] + (batch_rows > chunk)
    per_param = buffers * itemsize + (_LBFGS_BYTES if solver == "lbfgs" else 0)
    # per row: pre-activations, deltas and saved inputs of every unit; maxout
    # and dropout buffers of every output; the gathered inputs and targets
    per_row = 3 * n_units + 4 * sum(layer_units[1:]) + layer_units[0] + layer_units[-1] + 1
    return (n_coef + n_units) * per_param + min(batch_rows, chunk) * per_row * itemsize


def physical_memory():
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):    # no sysconf (Windows) or no such name
        return None
    return pages * size if pages > 0 and size > 0 else None


def _invalid(owner, param, detail):
    return InvalidParameterError(f"The {param!r} parameter of {owner} is invalid: {detail}")


def _one_activation(spec, where, owner):
    try:
        if isinstance(spec, Activation):
            act = spec
        elif isinstance(spec, str):
            if spec not in ACTIVATIONS:
                raise ValueError(unknown_name_message(spec))
            act = activation(spec)
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) \
                and isinstance(spec[1], Mapping):
            act = activation(spec[0], **dict(spec[1]))
        else:
            raise TypeError(
                f"{where} must be an activation name, a (name, params) tuple such as "
                f"('leaky_relu', {{'alpha': 0.1}}) or a fastact.Activation, got {spec!r}")
    except (TypeError, ValueError) as exc:
        raise _invalid(owner, "activation", str(exc)) from None
    if not act.info.trainable:
        raise _invalid(owner, "activation",
                       f"{where}: activation {act.name!r} has a zero gradient everywhere, so "
                       f"a layer using it cannot be trained; choose an activation with a slope")
    return act


def activations(value, n_hidden, owner="the estimator"):
    """One bound Activation per hidden layer from the `activation` parameter:
    a name, a (name, params) tuple, an Activation, or a list of those with
    one entry per hidden layer."""
    if isinstance(value, list):
        if len(value) != n_hidden:
            raise _invalid(owner, "activation",
                           f"a list of {len(value)} entries but the network has {n_hidden} "
                           f"hidden layers; give one activation per hidden layer (or a "
                           f"single one for all)")
        return [_one_activation(v, f"activation[{i}]", owner) for i, v in enumerate(value)]
    act = _one_activation(value, "activation", owner)
    return [act] * n_hidden


def dropout_rates(value, n_hidden, owner="the estimator"):
    """One dropout rate in [0, 1) per hidden layer."""
    expected = f"a float in [0, 1) or one such rate per hidden layer ({n_hidden})"
    if isinstance(value, (bool, np.bool_)):
        raise _invalid(owner, "dropout", f"expected {expected}, got {value!r}")
    try:
        rates = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _invalid(owner, "dropout", f"expected {expected}, got {value!r}") from None
    if rates.ndim == 0:
        rates = np.full(n_hidden, float(rates))
    elif rates.ndim != 1 or rates.shape[0] != n_hidden:
        raise _invalid(owner, "dropout", f"expected {expected}, got {value!r}")
    if not np.all((rates >= 0) & (rates < 1)):
        raise _invalid(owner, "dropout", f"rates must be in [0, 1), got {value!r}")
    return [float(r) for r in rates]


def init_factor(act):
    """Glorot-uniform factor: 2 for logistic (as scikit-learn), 6 otherwise."""
    return 2.0 if act is not None and act.name == "logistic" else 6.0
