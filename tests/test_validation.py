"""Bad input: every case raises TypeError or ValueError whose message names
the offending argument, and leaves every array it was given untouched."""

import numpy as np
import pytest

import fastact
from conftest import assert_untouched, snapshot

F64 = np.float64


def _x(shape=(4, 6), dtype=F64):
    return np.linspace(-3, 3, int(np.prod(shape))).reshape(shape).astype(dtype)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def check_rejected(fn, args, kwargs, exc, *words):
    arrays = [a for a in list(args) + list(kwargs.values()) if isinstance(a, np.ndarray)]
    copies = snapshot(*arrays)
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    for w in words:
        assert w in msg, f"message {msg!r} does not name {w!r}"
    assert_untouched(arrays, copies)
    return msg


fwd, bwd = fastact.forward, fastact.backward

# id: (function, args, kwargs, exception, words the message must contain)
CASES = {
    # --- not arrays
    "x-list": (fwd, ("relu", [1.0, -1.0]), {}, TypeError, ["x"]),
    "x-float": (fwd, ("relu", 1.0), {}, TypeError, ["x"]),
    "x-numpy-scalar": (fwd, ("relu", np.float64(1.0)), {}, TypeError, ["x"]),
    "x-None": (fwd, ("tanh", None), {}, TypeError, ["x"]),
    "out-list": (fwd, ("relu", _x()), {"out": [[0.0] * 6] * 4}, TypeError, ["out"]),
    "y-list": (bwd, ("relu", [1.0, 2.0], np.ones(2)), {}, TypeError, ["y"]),
    "delta-list": (bwd, ("relu", np.ones(2), [1.0, 2.0]), {}, TypeError, ["delta"]),
    "delta-scalar": (bwd, ("relu", np.ones(2), 1.0), {}, TypeError, ["delta"]),
    "x-list-backward": (bwd, ("swish", None, np.ones(2)), {"x": [1.0, 2.0]}, TypeError, ["x"]),
    # --- dtypes
    "x-int": (fwd, ("relu", np.arange(6)), {}, TypeError, ["x", "int"]),
    "x-int32": (fwd, ("tanh", np.arange(6, dtype=np.int32)), {}, TypeError, ["x"]),
    "x-bool": (fwd, ("relu", np.ones(3, bool)), {}, TypeError, ["x", "bool"]),
    "x-float16": (fwd, ("relu", np.ones(3, np.float16)), {}, TypeError, ["x", "float16"]),
    "x-complex": (fwd, ("relu", np.ones(3, complex)), {}, TypeError, ["x", "complex"]),
    "x-object": (fwd, ("relu", np.array([1.0, 2.0], dtype=object)), {}, TypeError, ["x", "object"]),
    "x-longdouble": (fwd, ("relu", np.ones(3, np.longdouble)), {}, TypeError, ["x"]),
    "x-str": (fwd, ("relu", np.array(["1.0"])), {}, TypeError, ["x"]),
    "out-int": (fwd, ("relu", _x()), {"out": np.zeros((4, 6), int)}, TypeError, ["out"]),
    "out-float32-for-float64": (fwd, ("relu", _x()), {"out": np.zeros((4, 6), np.float32)},
                                TypeError, ["out"]),
    "delta-int": (bwd, ("relu", _x(), np.ones((4, 6), int)), {}, TypeError, ["delta"]),
    "y-float32-delta-float64": (bwd, ("relu", _x(dtype=np.float32), np.ones((4, 6))), {},
                                TypeError, ["y"]),
    "x-float32-delta-float64": (bwd, ("mish", None, np.ones((4, 6))),
                                {"x": _x(dtype=np.float32)}, TypeError, ["x"]),
    "softmax-x-int": (fwd, ("softmax", np.ones((2, 3), int)), {}, TypeError, ["x"]),
    "maxout-x-int": (fwd, ("maxout", np.ones((2, 4), int)), {"pieces": 2}, TypeError, ["x"]),
    # --- read-only buffers
    "x-readonly-in-place": (fwd, ("relu", _readonly(_x())), {}, ValueError, ["x", "read-only"]),
    "out-readonly": (fwd, ("relu", _x()), {"out": _readonly(_x())}, ValueError, ["out"]),
    "delta-readonly": (bwd, ("relu", _x(), _readonly(_x())), {}, ValueError, ["delta"]),
    "delta-readonly-input-slope": (bwd, ("gelu", None, _readonly(_x())), {"x": _x()},
                                   ValueError, ["delta"]),
    "softmax-x-readonly": (fwd, ("softmax", _readonly(_x())), {}, ValueError, ["x"]),
    "prelu-delta-readonly": (bwd, ("prelu", _x(), _readonly(_x())), {"alpha": np.ones(6)},
                             ValueError, ["delta"]),
    "maxout-out-readonly": (fwd, ("maxout", _x()), {"pieces": 2, "out": _readonly(_x((4, 3)))},
                            ValueError, ["out"]),
    # --- shapes
    "out-shape": (fwd, ("relu", _x()), {"out": np.zeros((6, 4))}, ValueError, ["out"]),
    "out-size": (fwd, ("relu", _x()), {"out": np.zeros((4, 7))}, ValueError, ["out"]),
    "y-shape": (bwd, ("relu", _x((4, 6)), np.ones((6, 4))), {}, ValueError, ["y"]),
    "y-shape-1d": (bwd, ("tanh", _x((24,)), np.ones((4, 6))), {}, ValueError, ["y"]),
    "x-shape-input-slope": (bwd, ("swish", None, np.ones((4, 6))), {"x": _x((4, 5))},
                            ValueError, ["x"]),
    "y-shape-input-slope": (bwd, ("swish", np.ones((3, 6)), np.ones((4, 6))), {"x": _x()},
                            ValueError, ["y"]),
    "softmax-y-shape": (bwd, ("softmax", np.ones((4, 5)), np.ones((4, 6))), {}, ValueError, ["y"]),
    "maxout-out-shape": (fwd, ("maxout", _x()), {"pieces": 2, "out": np.zeros((4, 6))},
                         ValueError, ["out"]),
    "maxout-delta-shape": (bwd, ("maxout", None, np.ones((4, 6))), {"x": _x(), "pieces": 2},
                           ValueError, ["delta"]),
    "maxout-x-missing": (bwd, ("maxout", None, np.ones((4, 3))), {"pieces": 2}, ValueError, ["x"]),
    "maxout-width": (fwd, ("maxout", _x((4, 5))), {"pieces": 2}, ValueError, ["pieces"]),
    "maxout-width-3": (fwd, ("maxout", _x((4, 6))), {"pieces": 4}, ValueError, ["pieces"]),
    "prelu-alpha-length": (fwd, ("prelu", _x((4, 6))), {"alpha": np.ones(5)}, ValueError, ["alpha"]),
    "prelu-alpha-length-bwd": (bwd, ("prelu", _x(), np.ones((4, 6))), {"alpha": np.ones(4)},
                               ValueError, ["alpha"]),
    # --- names
    "name-typo": (fwd, ("tanhh", _x()), {}, ValueError, ["tanhh", "'tanh'"]),
    "name-typo-sigmoid": (fwd, ("sigmod", _x()), {}, ValueError, ["'sigmoid'"]),
    "name-case": (fwd, ("ReLU", _x()), {}, ValueError, ["'relu'"]),
    "name-unknown": (fwd, ("no_such_thing", _x()), {}, ValueError, ["no_such_thing"]),
    "name-typo-backward": (bwd, ("tanhh", _x(), np.ones((4, 6))), {}, ValueError, ["'tanh'"]),
    "name-None": (fwd, (None, _x()), {}, TypeError, ["name"]),
    "name-int": (fwd, (3, _x()), {}, TypeError, ["name"]),
    "name-typo-activation": (fastact.activation, ("softplsu",), {}, ValueError, ["'softplus'"]),
    # --- unknown keyword parameters
    "param-unknown": (fwd, ("relu", _x()), {"alpha": 0.1}, TypeError, ["alpha"]),
    "param-typo": (fwd, ("leaky_relu", _x()), {"alpah": 0.1}, TypeError, ["alpah"]),
    "param-unknown-bwd": (bwd, ("tanh", _x(), np.ones((4, 6))), {"beta": 1.0}, TypeError, ["beta"]),
    "param-unknown-activation": (fastact.activation, ("elu",), {"scale": 2.0}, TypeError, ["scale"]),
    # --- parameter ranges
    "leaky-alpha-0": (fwd, ("leaky_relu", _x()), {"alpha": 0.0}, ValueError, ["alpha"]),
    "leaky-alpha-neg": (fwd, ("leaky_relu", _x()), {"alpha": -0.1}, ValueError, ["alpha"]),
    "leaky-alpha-nan": (fwd, ("leaky_relu", _x()), {"alpha": float("nan")}, ValueError, ["alpha"]),
    "leaky-alpha-inf": (fwd, ("leaky_relu", _x()), {"alpha": float("inf")}, ValueError, ["alpha"]),
    "elu-alpha-0": (fwd, ("elu", _x()), {"alpha": 0.0}, ValueError, ["alpha"]),
    "elu-alpha-neg": (bwd, ("elu", _x(), np.ones((4, 6))), {"alpha": -1.0}, ValueError, ["alpha"]),
    "celu-alpha-0": (fwd, ("celu", _x()), {"alpha": 0.0}, ValueError, ["alpha"]),
    "celu-alpha-neg": (fwd, ("celu", _x()), {"alpha": -2.0}, ValueError, ["alpha"]),
    "softplus-beta-0": (fwd, ("softplus", _x()), {"beta": 0.0}, ValueError, ["beta"]),
    "softplus-threshold-nan": (fwd, ("softplus", _x()), {"threshold": float("nan")},
                               ValueError, ["threshold"]),
    "swish-beta-inf": (fwd, ("swish", _x()), {"beta": float("inf")}, ValueError, ["beta"]),
    "prelu-alpha-zero": (fwd, ("prelu", _x()), {"alpha": np.array([1, 1, 1, 0, 1, 1.0])},
                         ValueError, ["alpha"]),
    "prelu-alpha-neg": (fwd, ("prelu", _x()), {"alpha": -np.ones(6)}, ValueError, ["alpha"]),
    "prelu-alpha-nan": (fwd, ("prelu", _x()), {"alpha": np.full(6, np.nan)}, ValueError, ["alpha"]),
    "prelu-alpha-2d": (fwd, ("prelu", _x()), {"alpha": np.ones((1, 6))}, ValueError, ["alpha"]),
    "prelu-alpha-scalar": (fwd, ("prelu", _x()), {"alpha": 0.25}, ValueError, ["alpha"]),
    "prelu-alpha-empty": (fwd, ("prelu", _x()), {"alpha": np.array([])}, ValueError, ["alpha"]),
    "prelu-alpha-str": (fwd, ("prelu", _x()), {"alpha": ["a"] * 6}, ValueError, ["alpha"]),
    "prelu-alpha-bool": (fwd, ("prelu", _x()), {"alpha": np.ones(6, bool)}, ValueError, ["alpha"]),
    "prelu-alpha-underflows-float32": (fwd, ("prelu", _x(dtype=np.float32)),
                                       {"alpha": np.full(6, 1e-50)}, ValueError, ["alpha"]),
    "prelu-alpha-missing": (fwd, ("prelu", _x()), {}, TypeError, ["alpha"]),
    "maxout-pieces-1": (fwd, ("maxout", _x()), {"pieces": 1}, ValueError, ["pieces"]),
    "maxout-pieces-0": (fwd, ("maxout", _x()), {"pieces": 0}, ValueError, ["pieces"]),
    "maxout-pieces-neg": (fwd, ("maxout", _x()), {"pieces": -2}, ValueError, ["pieces"]),
    "maxout-pieces-float": (fwd, ("maxout", _x()), {"pieces": 2.5}, TypeError, ["pieces"]),
    # bad values equal to a valid one (2.0 == 2, True == 1) go to the constructor,
    # which the memo of forward/backward cannot bypass (see test_param_checks_survive_the_cache)
    "maxout-pieces-integral-float": (fastact.Activation, ("maxout",), {"pieces": 2.0},
                                     TypeError, ["pieces"]),
    "maxout-pieces-bool": (fastact.Activation, ("maxout",), {"pieces": True}, TypeError, ["pieces"]),
    "maxout-pieces-str": (fwd, ("maxout", _x()), {"pieces": "2"}, TypeError, ["pieces"]),
    "maxout-pieces-missing": (fwd, ("maxout", _x()), {}, TypeError, ["pieces"]),
    "hard_tanh-min-eq-max": (fwd, ("hard_tanh", _x()), {"min_val": 1.0, "max_val": 1.0},
                             ValueError, ["min_val"]),
    "hard_tanh-min-gt-max": (fwd, ("hard_tanh", _x()), {"min_val": 2.0, "max_val": -1.0},
                             ValueError, ["min_val", "max_val"]),
    "hard_tanh-default-max": (fwd, ("hard_tanh", _x()), {"min_val": 3.0}, ValueError, ["min_val"]),
    "gelu-bogus": (fwd, ("gelu", _x()), {"approximate": "bogus"}, ValueError, ["approximate"]),
    "gelu-None": (fwd, ("gelu", _x()), {"approximate": None}, ValueError, ["approximate"]),
    "gelu-bool": (bwd, ("gelu", None, np.ones((4, 6))), {"x": _x(), "approximate": True},
                  ValueError, ["approximate"]),
    "alpha-bool": (fastact.Activation, ("leaky_relu",), {"alpha": True}, TypeError, ["alpha"]),
    "alpha-numpy-bool": (fastact.Activation, ("elu",), {"alpha": np.bool_(True)}, TypeError,
                         ["alpha"]),
    "beta-bool": (fastact.Activation, ("swish",), {"beta": False}, TypeError, ["beta"]),
    "alpha-str": (fwd, ("leaky_relu", _x()), {"alpha": "0.1"}, TypeError, ["alpha"]),
    "alpha-None": (fwd, ("celu", _x()), {"alpha": None}, TypeError, ["alpha"]),
    "alpha-list": (fwd, ("leaky_relu", _x()), {"alpha": [0.1]}, TypeError, ["alpha"]),
    "alpha-complex": (fwd, ("leaky_relu", _x()), {"alpha": 1j}, TypeError, ["alpha"]),
    "beta-str": (fwd, ("swish", _x()), {"beta": "1"}, TypeError, ["beta"]),
    "threshold-str": (fwd, ("step", _x()), {"threshold": "0"}, TypeError, ["threshold"]),
    # --- n_threads
    "n_threads-0": (fwd, ("relu", _x()), {"n_threads": 0}, ValueError, ["n_threads"]),
    "n_threads-neg": (fwd, ("relu", _x()), {"n_threads": -1}, ValueError, ["n_threads"]),
    "n_threads-float": (fwd, ("relu", _x()), {"n_threads": 1.5}, ValueError, ["n_threads"]),
    "n_threads-float-integral": (fwd, ("relu", _x()), {"n_threads": 2.0}, ValueError, ["n_threads"]),
    "n_threads-str": (fwd, ("relu", _x()), {"n_threads": "2"}, ValueError, ["n_threads"]),
    "n_threads-bool": (fwd, ("relu", _x()), {"n_threads": True}, ValueError, ["n_threads"]),
    "n_threads-np0": (fwd, ("relu", _x()), {"n_threads": np.int64(0)}, ValueError, ["n_threads"]),
    "n_threads-bwd": (bwd, ("relu", _x(), np.ones((4, 6))), {"n_threads": 0}, ValueError,
                      ["n_threads"]),
    "n_threads-softmax": (fwd, ("softmax", _x()), {"n_threads": -3}, ValueError, ["n_threads"]),
    "n_threads-maxout": (fwd, ("maxout", _x()), {"pieces": 2, "n_threads": 0}, ValueError,
                         ["n_threads"]),
    "n_threads-maxout-bwd": (bwd, ("maxout", None, np.ones((4, 3))),
                             {"x": _x(), "pieces": 2, "n_threads": 0}, ValueError, ["n_threads"]),
}


def _either(exc):
    return (TypeError, ValueError) if exc is None else exc


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_rejected_and_inputs_untouched(case):
    fn, args, kwargs, exc, words = CASES[case]
    # fresh copies of every array so that one case cannot leak into another
    args = tuple(a.copy(order="K") if isinstance(a, np.ndarray) and a.flags.writeable else a
                 for a in args)
    kwargs = {k: (v.copy(order="K") if isinstance(v, np.ndarray) and v.flags.writeable else v)
              for k, v in kwargs.items()}
    check_rejected(fn, args, kwargs, exc, *words)


@pytest.mark.parametrize("case", ["name-typo", "param-unknown", "leaky-alpha-0", "n_threads-0",
                                  "x-int", "out-shape", "prelu-alpha-length"])
def test_bad_input_is_rejected_for_float32_too(case):
    fn, args, kwargs, exc, words = CASES[case]

    def f32(a):
        return a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == F64 else a

    check_rejected(fn, tuple(f32(a) for a in args), {k: f32(v) for k, v in kwargs.items()},
                   exc, *words)


def test_activation_object_rejects_like_the_functions():
    act = fastact.activation("leaky_relu", alpha=0.2)
    check_rejected(act.forward, (np.arange(3),), {}, TypeError, "x")
    check_rejected(act.forward, (_x(),), {"out": np.zeros(3)}, ValueError, "out")
    check_rejected(act.backward, (_x(), _readonly(_x())), {}, ValueError, "delta")
    swish = fastact.activation("swish")
    check_rejected(swish.backward, (None, np.ones((4, 6))), {}, ValueError, "x")


@pytest.mark.parametrize("name,params", [
    ("leaky_relu", {"alpha": 1e300}), ("elu", {"alpha": 1e39}), ("elu", {"alpha": 1e-46}),
    ("celu", {"alpha": 1e-300}), ("selu", {"scale": 1e300}), ("selu", {"alpha": 1e-50}),
    ("softplus", {"beta": 1e300}), ("softplus", {"beta": 1e-300}), ("swish", {"beta": -1e300})])
def test_parameters_beyond_the_float32_range_with_float32_data(name, params):
    """Valid in float64, but inf (or 0 where it must be > 0) in float32:
    every entry point refuses float32 data, naming the parameter, before it
    writes anything; float64 data is accepted."""
    key = next(iter(params))
    x32, d32 = _x(dtype=np.float32), np.ones((4, 6), np.float32)
    y32 = np.tanh(x32)
    act = fastact.activation(name, **params)                # binding is dtype-free
    calls = [
        (fwd, (name, x32), params), (fwd, (name, x32), dict(params, out=np.empty_like(x32))),
        (bwd, (name, y32, d32), dict(params, x=x32)),
        (fastact.bias_act_forward, (name, x32, np.zeros(6, np.float32)), params),
        (fastact.backward_bias_grad, (name, y32, d32), dict(params, x=x32)),
        (act.forward, (x32,), {}), (act.backward, (y32, d32), {"x": x32}),
        (act.bias_forward, (x32, np.zeros(6, np.float32)), {}),
        (act.backward_bias_grad, (y32, d32), {"x": x32}),
        (fwd, (name, np.zeros((0, 3), np.float32)), params),
    ]
    for fn, args, kwargs in calls:
        msg = check_rejected(fn, args, kwargs, ValueError, key, "float32 range")
        assert name in msg
    x64 = _x()
    assert np.isfinite(fwd(name, x64.copy(), **params)).all()
    assert act.forward(x64.copy()) is not None


def test_compared_parameters_may_exceed_the_float32_range():
    """threshold, min_val and max_val are only compared with: beyond the
    float32 range they act as +-inf, which gives the right results."""
    x = _x(dtype=np.float32)
    np.testing.assert_array_equal(fwd("hard_tanh", x.copy(), min_val=-1e300, max_val=1e300), x)
    np.testing.assert_array_equal(fwd("step", x.copy(), threshold=1e300), np.zeros_like(x))
    np.testing.assert_array_equal(fwd("step", x.copy(), threshold=-1e300), np.ones_like(x))
    y = fwd("softplus", x.copy(), threshold=-1e300)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(fwd("swish", x.copy(), beta=1e-300),
                                  fwd("swish", x.copy(), beta=0.0))


def test_unknown_name_in_the_table_suggests_the_closest():
    with pytest.raises(KeyError, match="'tanh'"):
        fastact.ACTIVATIONS["tanhh"]
    assert "tanhh" not in fastact.ACTIVATIONS
    assert fastact.ACTIVATIONS.get("tanhh") is None
    for alias, name in [("linear", "identity"), ("sigmoid", "logistic"), ("silu", "swish")]:
        assert alias in fastact.ACTIVATIONS
        assert fastact.ACTIVATIONS[alias].name == name


def test_valid_inputs_that_look_suspicious_are_accepted():
    """Read-only inputs that are only read, numpy integer params and thread
    counts are fine."""
    x = _readonly(_x())
    out = np.empty_like(x)
    assert fastact.forward("tanh", x, out=out) is out
    y = _readonly(out)
    d = np.ones_like(x)
    assert fastact.backward("tanh", y, d) is d
    assert fastact.backward("gelu", None, np.ones_like(x), x=x) is not None
    assert fastact.forward("maxout", x, pieces=np.int64(3)).shape == (4, 2)
    assert fastact.forward("leaky_relu", _x(), alpha=np.float32(0.5)) is not None
    assert fastact.forward("leaky_relu", _x(), alpha=1) is not None       # int is a real
    fastact.forward("relu", _x(), n_threads=np.int32(2))
    fastact.forward("relu", _x(), n_threads=64)
    fastact.forward("prelu", _x(), alpha=[1, 2, 3, 4, 5, 6])             # int list
    fastact.forward("prelu", _x(), alpha=(0.5,) * 6)                      # tuple


def test_parameter_errors_come_before_any_write():
    x = _x()
    x0 = x.copy()
    with pytest.raises(ValueError):
        fastact.forward("elu", x, alpha=-1.0)
    with pytest.raises(ValueError):
        fastact.forward("relu", x, n_threads=0)
    with pytest.raises(ValueError):
        fastact.forward("maxout", x, out=np.empty((4, 2)), pieces=2)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("name,good,bad", [
    ("maxout", {"pieces": 2}, {"pieces": 2.0}),
    ("leaky_relu", {"alpha": 1}, {"alpha": True}),
    ("elu", {"alpha": 1.0}, {"alpha": np.bool_(True)}),
], ids=["pieces-2.0", "alpha-True", "alpha-np.True_"])
def test_param_checks_survive_the_cache(name, good, bad):
    """A bad parameter is rejected even right after an equal good one was used."""
    x = _x((2, 4))
    fastact.forward(name, x.copy(), **good)
    check_rejected(fwd, (name, x), bad, TypeError, *bad)


def test_a_name_that_is_not_a_str_never_reaches_the_cache():
    """The binding cache is keyed by the name, or by (name, parameters): a
    tuple name equal to a key must not pick that binding up."""
    x = _x()
    fastact.forward("leaky_relu", x.copy(), alpha=0.1)
    for name in [("leaky_relu", (("alpha", float, 0.1),)), ("relu",), ["relu"], 3]:
        for call in (lambda: fastact.forward(name, x.copy()),
                     lambda: fastact.backward(name, x, x.copy()),
                     lambda: fastact.activation(name)):
            with pytest.raises(TypeError, match="name must be a str"):
                call()


@pytest.mark.parametrize("call,words", [
    ("fastact.forward('leaky_relu', x, alpha=10**400)", ["alpha"]),
    ("fastact.forward('maxout', x, pieces=10**30)", ["pieces"]),
    ("fastact.forward('relu', x, n_threads=2**31)", ["n_threads"]),
    ("fastact.forward('relu', x, n_threads=10**30)", ["n_threads"]),
], ids=["alpha-huge-int", "pieces-huge-int", "n_threads-2**31", "n_threads-10**30"])
def test_huge_integer_arguments(call, words):
    """Out of range integers: accepted (n_threads may clamp) or rejected with a
    TypeError/ValueError naming the argument -- never an OverflowError."""
    x = _x()
    x0 = x.copy()
    try:
        eval(call, {"fastact": fastact, "x": x})
    except (TypeError, ValueError) as e:
        for w in words:
            assert w in str(e), str(e)
        np.testing.assert_array_equal(x, x0)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{type(e).__name__}: {e}")


@pytest.mark.parametrize("call", [
    "fastact.forward('relu', np.array([-1.0, 0.5, 2.0], dtype='>f8'))",
    "fastact.forward('tanh', np.array([-1.0, 0.5, 2.0], dtype='>f4'))",
    "fastact.forward('softmax', np.array([[-1.0, 0.5, 2.0]], dtype='>f4'), "
    "out=np.empty((1, 3), '<f4'))",
    "fastact.backward('relu', np.array([-1.0, 0.5, 2.0], dtype='>f8'), np.ones(3))",
], ids=["relu-f8", "tanh-f4", "softmax-out", "backward-y"])
def test_non_native_byte_order(call):
    """Byte-swapped arrays are either rejected (TypeError/ValueError naming the
    argument) or computed correctly."""
    ns = {"fastact": fastact, "np": np}
    try:
        got = eval(call, ns)
    except (TypeError, ValueError):
        return
    native = eval(call.replace("'>f8'", "'<f8'").replace("'>f4'", "'<f4'"), ns)
    np.testing.assert_array_equal(np.asarray(got, dtype=np.float64),
                                  np.asarray(native, dtype=np.float64))


# ---------------------------------------------------------------------------
# fused kernels


def _z(shape=(4, 6), dtype=F64):
    return np.linspace(-2, 2, int(np.prod(shape))).reshape(shape).astype(dtype)


FUSED = {
    "bias-z-list": (fastact.bias_act_forward, ("relu", [[1.0, 2.0]], np.ones(2)), {},
                    TypeError, ["z"]),
    "bias-z-int": (fastact.bias_act_forward, ("relu", np.ones((2, 2), int), np.ones(2)), {},
                   TypeError, ["z"]),
    "bias-z-1d": (fastact.bias_act_forward, ("relu", np.ones(6), np.ones(6)), {}, ValueError, ["z"]),
    "bias-z-F": (fastact.bias_act_forward, ("relu", np.asfortranarray(_z()), np.ones(6)), {},
                 ValueError, ["z"]),
    "bias-z-readonly": (fastact.bias_act_forward, ("relu", _readonly(_z()), np.ones(6)), {},
                        ValueError, ["z"]),
    "bias-length": (fastact.bias_act_forward, ("relu", _z(), np.ones(5)), {}, ValueError, ["bias"]),
    "bias-2d": (fastact.bias_act_forward, ("relu", _z(), np.ones((1, 6))), {}, ValueError, ["bias"]),
    "bias-dtype": (fastact.bias_act_forward, ("relu", _z(), np.ones(6, np.float32)), {},
                   TypeError, ["bias"]),
    "bias-list": (fastact.bias_act_forward, ("relu", _z(), [1.0] * 6), {}, TypeError, ["bias"]),
    "bias-saved-shape": (fastact.bias_act_forward, ("gelu", _z(), np.ones(6)),
                         {"saved_input": np.empty((4, 5))}, ValueError, ["saved_input"]),
    "bias-saved-readonly": (fastact.bias_act_forward, ("gelu", _z(), np.ones(6)),
                            {"saved_input": _readonly(_z())}, ValueError, ["saved_input"]),
    "bias-saved-dtype": (fastact.bias_act_forward, ("gelu", _z(), np.ones(6)),
                         {"saved_input": np.empty((4, 6), np.float32)}, TypeError, ["saved_input"]),
    "bias-prelu": (fastact.bias_act_forward, ("prelu", _z(), np.ones(6)), {"alpha": np.ones(6)},
                   ValueError, ["prelu"]),
    "bias-maxout": (fastact.bias_act_forward, ("maxout", _z(), np.ones(6)), {"pieces": 2},
                    ValueError, ["maxout"]),
    "bias-name": (fastact.bias_act_forward, ("rleu", _z(), np.ones(6)), {}, ValueError, ["'relu'"]),
    "bias-n_threads": (fastact.bias_act_forward, ("relu", _z(), np.ones(6)), {"n_threads": 0},
                       ValueError, ["n_threads"]),
    "bgrad-delta-F": (fastact.backward_bias_grad, ("relu", _z(), np.asfortranarray(_z())), {},
                      ValueError, ["delta"]),
    "bgrad-delta-readonly": (fastact.backward_bias_grad, ("relu", _z(), _readonly(_z())), {},
                             ValueError, ["delta"]),
    "bgrad-delta-int": (fastact.backward_bias_grad, ("relu", _z(), np.ones((4, 6), int)), {},
                        TypeError, ["delta"]),
    "bgrad-y-shape": (fastact.backward_bias_grad, ("relu", np.ones((4, 5)), _z()), {},
                      ValueError, ["y"]),
    "bgrad-y-missing": (fastact.backward_bias_grad, ("tanh", None, _z()), {}, ValueError, ["y"]),
    "bgrad-x-missing": (fastact.backward_bias_grad, ("swish", None, _z()), {}, ValueError, ["x"]),
    "bgrad-x-dtype": (fastact.backward_bias_grad, ("swish", None, _z()),
                      {"x": _z(dtype=np.float32)}, TypeError, ["x"]),
    "bgrad-length": (fastact.backward_bias_grad, ("relu", _z(), _z()),
                     {"bias_grad": np.empty(5)}, ValueError, ["bias_grad"]),
    "bgrad-readonly": (fastact.backward_bias_grad, ("relu", _z(), _z()),
                       {"bias_grad": _readonly(np.empty(6))}, ValueError, ["bias_grad"]),
    "bgrad-dtype": (fastact.backward_bias_grad, ("relu", _z(), _z()),
                    {"bias_grad": np.empty(6, np.float32)}, TypeError, ["bias_grad"]),
    "bgrad-softmax": (fastact.backward_bias_grad, ("softmax", _z(), _z()), {}, ValueError,
                      ["softmax"]),
    "xent-z-int": (fastact.softmax_cross_entropy, (np.ones((2, 3), int), np.eye(3)[:2]), {},
                   TypeError, ["z"]),
    "xent-z-list": (fastact.softmax_cross_entropy, ([[1.0, 2.0]], [[0.0, 1.0]]), {},
                    TypeError, ["z"]),
    "xent-z-1d": (fastact.softmax_cross_entropy, (np.ones(3), np.ones(3)), {}, ValueError, ["z"]),
    "xent-z-F": (fastact.softmax_cross_entropy, (np.asfortranarray(_z()), np.ones((4, 6))), {},
                 ValueError, ["z"]),
    "xent-z-readonly": (fastact.softmax_cross_entropy, (_readonly(_z()), np.ones((4, 6))), {},
                        ValueError, ["z"]),
    "xent-target-shape": (fastact.softmax_cross_entropy, (_z(), np.ones((4, 5))), {},
                          ValueError, ["target"]),
    "xent-target-str": (fastact.softmax_cross_entropy, (_z(), np.full((4, 6), "a")), {},
                        TypeError, ["target"]),
    "xent-weight-shape": (fastact.softmax_cross_entropy, (_z(), np.ones((4, 6)), np.ones(3)), {},
                          ValueError, ["sample_weight"]),
    "xent-weight-neg": (fastact.softmax_cross_entropy,
                        (_z(), np.ones((4, 6)), np.array([1.0, -1.0, 1.0, 1.0])), {},
                        ValueError, ["sample_weight"]),
    "xent-weight-nan": (fastact.softmax_cross_entropy,
                        (_z(), np.ones((4, 6)), np.array([1.0, np.nan, 1.0, 1.0])), {},
                        ValueError, ["sample_weight"]),
    "xent-weight-str": (fastact.softmax_cross_entropy, (_z(), np.ones((4, 6)), ["a"] * 4), {},
                        TypeError, ["sample_weight"]),
    "xent-proba-shape": (fastact.softmax_cross_entropy, (_z(), np.ones((4, 6))),
                         {"proba": np.empty((4, 5))}, ValueError, ["proba"]),
    "xent-proba-dtype": (fastact.softmax_cross_entropy, (_z(), np.ones((4, 6))),
                         {"proba": np.empty((4, 6), np.float32)}, TypeError, ["proba"]),
    "xent-proba-readonly": (fastact.softmax_cross_entropy, (_z(), np.ones((4, 6))),
                            {"proba": _readonly(_z())}, ValueError, ["proba"]),
    "bxent-z-int": (fastact.logistic_cross_entropy, (np.ones((2, 3), int), np.ones((2, 3))), {},
                    TypeError, ["z"]),
    "bxent-target-shape": (fastact.logistic_cross_entropy, (_z(), np.ones((4, 1))), {},
                           ValueError, ["target"]),
    "bxent-weight-neg": (fastact.logistic_cross_entropy, (_z(), np.ones((4, 6)), -np.ones(4)), {},
                         ValueError, ["sample_weight"]),
}


@pytest.mark.parametrize("case", list(FUSED), ids=list(FUSED))
def test_fused_bad_input_is_rejected_and_inputs_untouched(case):
    fn, args, kwargs, exc, words = FUSED[case]
    args = tuple(a.copy(order="K") if isinstance(a, np.ndarray) and a.flags.writeable else a
                 for a in args)
    kwargs = {k: (v.copy(order="K") if isinstance(v, np.ndarray) and v.flags.writeable else v)
              for k, v in kwargs.items()}
    check_rejected(fn, args, kwargs, exc, *words)


def test_fused_aliasing_that_cannot_work_is_rejected():
    z = _z()
    check_rejected(fastact.bias_act_forward, ("gelu", z, np.ones(6)), {"saved_input": z},
                   ValueError, "saved_input")
    d = _z()
    check_rejected(fastact.backward_bias_grad, ("relu", _z(), d), {"bias_grad": d[0]},
                   ValueError, "bias_grad")
    z = _z()
    check_rejected(fastact.softmax_cross_entropy, (z, np.ones((4, 6))), {"proba": z},
                   ValueError, "proba")


def test_prelu_alpha_changed_after_binding_is_not_seen():
    """Bindings copy the alpha array: a caller changing it afterwards can
    neither slip a forbidden alpha past the check nor reach a later call
    through the bindings fastact memoises by the array's contents."""
    x = -np.ones((2, 3), dtype=np.float32)
    alpha = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    act = fastact.activation("prelu", alpha=alpha)
    first = fastact.forward("prelu", x.copy(), alpha=alpha)
    alpha[:] = -5.0
    np.testing.assert_allclose(act.forward(x.copy())[0], [-0.1, -0.2, -0.3], rtol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        fastact.forward("prelu", x.copy(), alpha=alpha)
    alpha[:] = [0.4, 0.5, 0.6]
    np.testing.assert_allclose(fastact.forward("prelu", x.copy(), alpha=alpha)[0],
                               [-0.4, -0.5, -0.6], rtol=1e-6)
    np.testing.assert_allclose(first[0], [-0.1, -0.2, -0.3], rtol=1e-6)


def test_prelu_bindings_by_contents_stay_correct_past_the_cache_size():
    x = -np.ones((1, 4), dtype=np.float64)
    for i in range(1, 100):
        alpha = np.full(4, i / 100.0)
        np.testing.assert_allclose(fastact.forward("prelu", x.copy(), alpha=alpha)[0], -i / 100.0)
    np.testing.assert_allclose(fastact.forward("prelu", x.copy(), alpha=np.full(4, 0.01))[0], -0.01)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prelu_with_many_features_uses_the_callers_alpha_safely(dtype):
    # alpha arrays above the cache's 64 KB bind without copies for one call
    # (fastact._kernels._one_call); results, checks and the bound-object
    # semantics are those of the copying path
    n = 20000
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((3, n)).astype(dtype)
    alpha = rng.uniform(0.05, 0.5, n).astype(dtype)
    want = np.where(x0 > 0, x0, alpha * x0)
    np.testing.assert_array_equal(fastact.forward("prelu", x0.copy(), alpha=alpha), want)
    # the other dtype's alpha is converted, not misread
    other = alpha.astype(np.float64 if dtype == np.float32 else np.float32)
    got = fastact.forward("prelu", x0.copy(), alpha=other)
    np.testing.assert_allclose(got, np.where(x0 > 0, x0, other.astype(dtype) * x0), rtol=1e-6)
    delta, grad_alpha = fastact.backward("prelu", want, np.ones_like(x0), alpha=alpha)
    np.testing.assert_array_equal(delta, np.where(want > 0, 1, alpha * np.ones_like(x0)))
    np.testing.assert_allclose(grad_alpha, np.where(want > 0, 0, want / alpha).sum(axis=0),
                               rtol=1e-5)
    # a bad entry is refused before anything is written
    bad = alpha.copy()
    bad[-1] = -1.0
    x = x0.copy()
    with pytest.raises(ValueError, match="alpha"):
        fastact.forward("prelu", x, alpha=bad)
    np.testing.assert_array_equal(x, x0)
    # alpha inside the buffer being written (delta): read as it was
    d = np.abs(rng.standard_normal((2, n)).astype(dtype)) + 0.1
    y = -np.ones((2, n), dtype=dtype)
    a0 = d[0].copy()
    expect, _ = fastact.backward("prelu", y, d.copy(), alpha=a0)
    got, _ = fastact.backward("prelu", y, d, alpha=d[0])
    np.testing.assert_array_equal(got, expect)
    # a bound activation keeps its own copy
    act = fastact.activation("prelu", alpha=alpha)
    alpha[:] = 7.0
    np.testing.assert_array_equal(act.forward(x0.copy()), want)
