"""The package imports, its table is complete, and one kernel runs."""
import numpy as np

import fastact


def test_table_lists_every_activation_of_the_spec():
    expected = {"identity", "logistic", "tanh", "relu", "leaky_relu", "prelu", "elu",
                "selu", "celu", "softplus", "softsign", "hard_sigmoid", "hard_tanh",
                "relu6", "exp", "step", "swish", "gelu", "mish", "hardswish",
                "softmax", "log_softmax", "maxout"}
    assert set(dict(fastact.ACTIVATIONS)) == expected
    for alias, name in [("linear", "identity"), ("sigmoid", "logistic"), ("silu", "swish")]:
        assert fastact.ACTIVATIONS[alias].name == name


def test_forward_in_place_returns_x():
    x = np.array([-1.0, 0.5], dtype=np.float32)
    assert fastact.forward("relu", x) is x
    np.testing.assert_array_equal(x, [0.0, 0.5])
