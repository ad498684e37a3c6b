"""fastact: fused, vectorized activation kernels for small neural networks on
the CPU, and scikit-learn MLP estimators built on them.

Kernels
-------
forward(name, x, out=None, **params)        f(x), in place by default
backward(name, y, delta, x=None, **params)  delta *= slope, in place
activation(name, **params)                  a bound Activation object
ACTIVATIONS                                 name -> ActivationInfo

Fused kernels used by the estimators: bias_act_forward, backward_bias_grad,
softmax_cross_entropy, logistic_cross_entropy.
"""

from fastact._kernels import (
    Activation,
    activation,
    backward,
    backward_bias_grad,
    bias_act_forward,
    forward,
    logistic_cross_entropy,
    softmax_cross_entropy,
)
from fastact._table import ACTIVATIONS, ActivationInfo

# The estimators (and progress_bar, which only they use) load on first use:
# they import scikit-learn and SciPy, which take ~2 s, and code that only
# calls the kernels should not pay for that.
_LAZY = {"MLPClassifier": "fastact._mlp", "MLPRegressor": "fastact._mlp",
         "progress_bar": "fastact._progress"}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastact' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ActivationInfo",
    "MLPClassifier",
    "MLPRegressor",
    "activation",
    "backward",
    "backward_bias_grad",
    "bias_act_forward",
    "forward",
    "logistic_cross_entropy",
    "progress_bar",
    "softmax_cross_entropy",
]
