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


def test_import_leaves_scikit_learn_for_the_estimators():
    """`import fastact` loads the kernels only; the estimators load scikit-learn
    (~2 s) on first use, and then behave as a normal attribute."""
    from conftest import run_isolated

    done = run_isolated("""
        import sys, fastact
        assert "sklearn" not in sys.modules and "scipy" not in sys.modules
        assert {"MLPClassifier", "MLPRegressor", "progress_bar"} <= set(dir(fastact))
        from fastact import MLPClassifier
        assert "sklearn" in sys.modules and fastact.MLPClassifier is MLPClassifier
        try:
            fastact.no_such_name
        except AttributeError as e:
            assert "no_such_name" in str(e)
        else:
            raise AssertionError("no AttributeError")
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
