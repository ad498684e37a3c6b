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
from fastact._mlp import MLPClassifier, MLPRegressor
from fastact._progress import progress_bar
from fastact._table import ACTIVATIONS, ActivationInfo

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
