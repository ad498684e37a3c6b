"""Property-based fuzzing of MLPClassifier / MLPRegressor: fit, partial_fit,
predict and predict_proba on random small problems.

The invariant, whatever the data and hyperparameters:

* either fit/predict raises TypeError or ValueError (scikit-learn's
  InvalidParameterError is both), the data passed in is byte-for-byte
  untouched and an unfitted estimator stays unfitted,
* or it succeeds, the data is untouched, the weights are finite, and
  - the fit equals the same fit on a C-contiguous, writable, float64 (or
    float32) copy of the data (layout, strides and read-only flags do not
    change the result; ``random_state`` makes it reproducible),
  - predict/predict_proba equal a NumPy forward pass through ``coefs_`` and
    ``intercepts_`` (the hidden activations by fastact.forward, checked
    against the reference elsewhere), whatever the layout of X.

Budget: HYPOTHESIS_PROFILE (tests/conftest.py), "ci" by default; every
example is a tiny network (at most 3 hidden layers of 8 units, 4 epochs).
"""

import os
import warnings

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import assume, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import fastact  # noqa: E402

try:
    from fastact import MLPClassifier, MLPRegressor
except ImportError:  # the estimators are being written
    pytest.skip("fastact.MLPClassifier / MLPRegressor are not available yet",
                allow_module_level=True)

import scipy.sparse as sp  # noqa: E402
from scipy.special import expit, softmax  # noqa: E402

SANITIZER = bool(os.environ.get("FASTACT_SANITIZER"))
ERRORS = (TypeError, ValueError)
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# the estimators' per-example cost is a fit: fewer examples than the kernels
EXAMPLES = max(10, settings().max_examples // 2)

# hidden activations the estimator trains (step is refused: see
# test_invalid_hyperparameters_fuzz)
HIDDEN = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu", "selu", "celu",
          "softplus", "softsign", "hard_sigmoid", "hard_tanh", "relu6", "swish", "gelu",
          "mish", "hardswish", "softmax", "log_softmax", "maxout", "prelu", "sigmoid", "silu",
          "linear"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # ConvergenceWarning, batch_size clipping
        yield


# ---------------------------------------------------------------------------
# laying data out


def layout(a, kind, readonly=False):
    """A view of ``a`` (2-D or 1-D) with the same content and layout ``kind``."""
    a = np.asarray(a)
    if kind == "C":
        out = np.array(a, order="C", copy=True)
    elif kind == "F":
        out = np.array(a, order="F", copy=True)
    elif kind == "strided":                      # every other row and column of a bigger array
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), dtype=a.dtype)
        view = big[(slice(1, None, 2),) * a.ndim]
        view[...] = a
        out = view
    elif kind == "reversed":                     # negative strides
        big = np.array(a[(slice(None, None, -1),) * a.ndim], copy=True)
        out = big[(slice(None, None, -1),) * a.ndim]
    elif kind == "transposed":
        out = np.array(a.T, order="C", copy=True).T if a.ndim == 2 else np.array(a, copy=True)
    elif kind == "list":
        return a.tolist()
    else:
        raise AssertionError(kind)
    if readonly:
        out.flags.writeable = False
    return out


LAYOUTS = ["C", "F", "strided", "reversed", "transposed"]


def snapshot(*objs):
    return [o.tobytes() if isinstance(o, np.ndarray) else repr(o) for o in objs]


# ---------------------------------------------------------------------------
# strategies


@st.composite
def hidden_spec(draw):
    """(hidden_layer_sizes, activation) the estimator must accept."""
    sizes = draw(st.lists(st.integers(1, 8), min_size=0, max_size=3))

    def one(width):
        name = draw(st.sampled_from(HIDDEN))
        if name == "prelu":
            return ("prelu", {"alpha": draw(st.lists(st.floats(0.01, 1), min_size=width,
                                                     max_size=width))})
        if name == "maxout":
            return ("maxout", {"pieces": draw(st.integers(2, 3))})
        if name == "leaky_relu" and draw(st.booleans()):
            return ("leaky_relu", {"alpha": draw(st.floats(0.01, 0.5))})
        if name == "elu" and draw(st.booleans()):
            return fastact.activation("elu", alpha=draw(st.floats(0.1, 2)))
        return name

    if sizes and draw(st.booleans()):
        act = [one(w) for w in sizes]             # one per layer
    else:
        w = sizes[0] if sizes else 1
        act = one(w)
        if isinstance(act, tuple) and act[0] == "prelu" and len(set(sizes)) > 1:
            act = "relu"                          # one alpha vector fits one width only
    return tuple(sizes), act


@st.composite
def hyperparameters(draw, n_samples):
    sizes, act = draw(hidden_spec())
    solver = draw(st.sampled_from(["adam", "sgd", "lbfgs"]))
    p = dict(hidden_layer_sizes=sizes, activation=act, solver=solver,
             max_iter=draw(st.integers(1, 4)),
             random_state=draw(st.integers(0, 3)),
             alpha=draw(st.sampled_from([0.0, 1e-4, 0.5])),
             batch_size=draw(st.one_of(st.just("auto"), st.integers(1, 50))),
             learning_rate_init=draw(st.sampled_from([1e-3, 1e-2, 0.1])),
             shuffle=draw(st.booleans()),
             tol=draw(st.sampled_from([0.0, 1e-4])),
             n_iter_no_change=draw(st.integers(1, 3)))
    if solver == "sgd":
        p["learning_rate"] = draw(st.sampled_from(["constant", "invscaling", "adaptive"]))
        p["momentum"] = draw(st.sampled_from([0.0, 0.9]))
        p["nesterovs_momentum"] = draw(st.booleans())
    if solver != "lbfgs":
        if sizes and draw(st.booleans()):
            p["dropout"] = draw(st.sampled_from([0.1, 0.5]))
        if n_samples >= 10 and draw(st.booleans()):
            p["early_stopping"] = True
            p["validation_fraction"] = draw(st.sampled_from([0.2, 0.5]))
    return p


@st.composite
def problem(draw, regression=None):
    """(estimator class, params, X, y, sample_weight, dtype)."""
    reg = draw(st.booleans()) if regression is None else regression
    dtype = draw(st.sampled_from(FLOATS))
    n = draw(st.integers(1, 30))
    f = draw(st.integers(1, 5))
    w = 32 if dtype == np.float32 else 64
    X = draw(hnp.arrays(dtype, (n, f), elements=st.one_of(
        st.floats(-3, 3, width=w), st.sampled_from([0.0, 1.0, -1.0, 100.0]))))
    if reg:
        k = draw(st.sampled_from([1, 1, 2]))
        y = draw(hnp.arrays(np.float64, (n, k) if k > 1 else (n,),
                            elements=st.floats(-5, 5)))
        params = draw(hyperparameters(n))
        if draw(st.integers(0, 4)) == 0:
            params["loss"] = "poisson"
            y = np.abs(y)
        cls = MLPRegressor
    else:
        kind = draw(st.sampled_from(["binary", "multiclass", "strings", "bool", "multilabel"]))
        if kind == "multilabel":
            y = draw(hnp.arrays(np.int64, (n, draw(st.integers(2, 3))),
                                elements=st.integers(0, 1)))
        else:
            k = 2 if kind in ("binary", "bool") else draw(st.integers(2, 4))
            lab = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
            y = {"binary": lab, "multiclass": lab * 3 - 1, "bool": lab.astype(bool),
                 "strings": np.array(["cat", "dog", "emu", "yak"])[lab]}[kind]
        params = draw(hyperparameters(n))
        cls = MLPClassifier
    sw = None
    if draw(st.booleans()):
        sw = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0, 3)))
    return cls, params, X, y, sw, dtype


# ---------------------------------------------------------------------------
# the reference forward pass


def bind(spec):
    """The Activation an `activation` entry stands for (name, (name, params)
    or an Activation)."""
    if isinstance(spec, fastact.Activation):
        return spec
    if isinstance(spec, tuple):
        return fastact.activation(spec[0], **dict(spec[1]))
    return fastact.activation(spec)


def reference_output(model, X):
    """What predict_proba (classifier) or predict (regressor) must return,
    computed in float64 with NumPy products and fastact's activations."""
    hidden = len(model.coefs_) - 1
    spec = model.activation
    acts = [bind(a) for a in spec] if isinstance(spec, list) else [bind(spec)] * hidden
    a = np.asarray(X, dtype=np.float64)
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        z = a @ np.asarray(W, np.float64) + np.asarray(b, np.float64)
        if i < hidden:
            a = acts[i].forward(z)
        else:
            a = z
    out = model.out_activation_
    if out == "softmax":
        return softmax(a, axis=1)
    if out == "logistic":
        return expit(a)
    if out == "exp":
        return np.exp(a)
    return a


def model_output(model, X):
    if isinstance(model, MLPClassifier):
        p = model.predict_proba(X)
        if model.out_activation_ == "logistic" and p.shape[1] == 2 and model.n_outputs_ == 1:
            p = p[:, 1:]                      # binary: predict_proba stacks 1 - p, p
        return p
    out = model.predict(X)
    return out.reshape(len(out), -1) if out.ndim == 1 else out


def assert_close_to_reference(model, X, dtype):
    got = np.asarray(model_output(model, X), dtype=np.float64)
    exp = reference_output(model, np.asarray(X, dtype=dtype))
    with np.errstate(over="ignore"):
        # rounded to the network's dtype (an exp output may overflow there)
        exp = exp.reshape(got.shape).astype(dtype).astype(np.float64)
    # float32 networks: products of float32 values summed in float32 by BLAS
    tol = dict(rtol=2e-3, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got, exp, **tol, err_msg="predict differs from the reference")


def weights(model):
    return [np.array(a, copy=True) for a in list(model.coefs_) + list(model.intercepts_)]


def assert_same_weights(a, b, what):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v, err_msg=what)


# ---------------------------------------------------------------------------
# fit / predict


@settings(max_examples=EXAMPLES)
@given(prob=problem(), data=st.data())
def test_fit_predict_fuzz(prob, data):
    cls, params, X, y, sw, dtype = prob
    # X of another dtype: scikit-learn converts it to float64 (float16, ints, bool)
    other = data.draw(st.sampled_from([None, None, None, np.float16, np.int64, np.bool_]),
                      label="X dtype")
    if other is not None:
        X = X.astype(other) if other is not np.int64 else np.rint(X).astype(np.int64)
        dtype = np.dtype(np.float64)
    x_layout = data.draw(st.sampled_from(LAYOUTS), label="X layout")
    x_ro = data.draw(st.booleans(), label="X read-only")
    y_ro = data.draw(st.booleans(), label="y read-only")
    Xa = layout(X, x_layout, readonly=x_ro)
    ya = layout(y, data.draw(st.sampled_from(["C", "reversed", "strided"])), readonly=y_ro)
    swa = None if sw is None else layout(sw, "strided", readonly=True)
    note(f"{cls.__name__}({params}) X{X.shape} {dtype} layout={x_layout} ro={x_ro}")
    before = snapshot(Xa, ya, swa)
    model = cls(**params)
    try:
        model.fit(Xa, ya, sample_weight=swa)
    except ERRORS as e:
        note(f"fit raised {e!r}")
        assert snapshot(Xa, ya, swa) == before, "fit modified its input"
        assert not hasattr(model, "coefs_"), "a failed first fit left a fitted model"
        # the same data in plain layout must fail the same way
        with pytest.raises(type(e)):
            cls(**params).fit(np.array(X, order="C"), np.array(y),
                              sample_weight=None if sw is None else sw.copy())
        return
    assert snapshot(Xa, ya, swa) == before, "fit modified its input"
    for w in weights(model):
        assert np.isfinite(w).all()
        assert w.dtype == dtype
    # the same fit on a plain copy of the data gives the same weights
    ref = cls(**params).fit(np.array(X, order="C", dtype=dtype), np.array(y),
                            sample_weight=None if sw is None else sw.copy())
    assert_same_weights(weights(model), weights(ref), "weights depend on the layout of X/y")
    if data.draw(st.integers(0, 4), label="also sparse") == 0:
        sparse = cls(**params).fit(sp.csr_matrix(np.asarray(X, dtype=dtype)), np.array(y),
                                   sample_weight=None if sw is None else sw.copy())
        for u, v in zip(weights(sparse), weights(ref)):
            np.testing.assert_allclose(u, v, rtol=1e-3 if dtype == np.float32 else 1e-9,
                                       atol=1e-5 if dtype == np.float32 else 1e-12,
                                       err_msg="fit on CSR X differs from fit on dense X")

    # predict on X in any layout: the reference forward pass, and the same bits
    assert_close_to_reference(model, X, dtype)
    base = model_output(model, np.array(X, order="C"))
    for kind in ("F", "strided", "reversed", "list"):
        Xp = layout(X, kind, readonly=True) if kind != "list" else layout(X, kind)
        got = model_output(model, Xp)
        np.testing.assert_allclose(got, base, rtol=1e-6 if dtype == np.float32 else 1e-12,
                                   atol=1e-7 if dtype == np.float32 else 1e-14,
                                   err_msg=f"predict depends on the layout ({kind})")
    pred = model.predict(Xa)
    assert len(pred) == X.shape[0]
    if cls is MLPClassifier and np.asarray(y).ndim == 1:
        assert set(np.unique(pred)) <= set(model.classes_)
    if hasattr(model, "predict_proba"):
        p = model.predict_proba(Xa)
        assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
        if model.out_activation_ == "softmax" or model.n_outputs_ == 1:
            np.testing.assert_allclose(p.sum(axis=1), 1,
                                       rtol=1e-5 if dtype == np.float32 else 1e-12)
    # sparse X predicts as dense
    Xs = sp.csr_matrix(np.asarray(X, dtype=dtype))
    np.testing.assert_allclose(model_output(model, Xs), base,
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert snapshot(Xa, ya, swa) == before, "predict modified its input"


BAD_X = ["nan", "inf", "1d", "3d", "empty", "wrong_features", "strings", "complex"]


@settings(max_examples=EXAMPLES)
@given(prob=problem(), bad=st.sampled_from(BAD_X), where=st.sampled_from(["fit", "predict"]))
def test_bad_data_fuzz(prob, bad, where):
    """Bad X in fit or predict: TypeError/ValueError, inputs untouched, the
    fitted model unchanged."""
    cls, params, X, y, sw, dtype = prob
    params = dict(params, max_iter=1, early_stopping=False)
    params.pop("validation_fraction", None)
    Xb = {
        "nan": lambda: np.where(np.arange(X.size).reshape(X.shape) == 0, np.nan, X),
        "inf": lambda: np.where(np.arange(X.size).reshape(X.shape) == X.size - 1, -np.inf, X),
        "1d": lambda: X[:, 0].copy(),
        "3d": lambda: X[:, :, None].copy(),
        "empty": lambda: X[:0].copy(),
        "wrong_features": lambda: np.hstack([X, X[:, :1]]),
        "strings": lambda: np.full(X.shape, "a"),
        "complex": lambda: X.astype(np.complex128) + 1j,
    }[bad]()
    if bad == "wrong_features" and where == "fit":
        assume(False)             # just a different problem
    model = cls(**params)
    if where == "predict":
        try:
            model.fit(np.array(X, order="C"), np.array(y))
        except ERRORS:
            assume(False)
        w0 = weights(model)
    before = snapshot(Xb)
    with pytest.raises(ERRORS):
        if where == "fit":
            model.fit(Xb, np.array(y)[:len(Xb)] if np.ndim(Xb) >= 1 else y)
        else:
            if hasattr(model, "predict_proba"):
                model.predict_proba(Xb)
            model.predict(Xb)
    assert snapshot(Xb) == before
    if where == "predict":
        assert_same_weights(weights(model), w0, "a failed predict changed the model")
    else:
        assert not hasattr(model, "coefs_")


# hyperparameters beyond their limits: each must be refused (scikit-learn's
# InvalidParameterError is a ValueError and a TypeError)
BAD_PARAMS = [
    {"hidden_layer_sizes": (0,)}, {"hidden_layer_sizes": (-3,)}, {"hidden_layer_sizes": (2.5,)},
    {"hidden_layer_sizes": ("a",)}, {"hidden_layer_sizes": (True,)},
    {"activation": "step"}, {"activation": ("step", {"threshold": 0.0})},
    {"activation": "no_such"}, {"activation": ("leaky_relu", {"alpha": -1.0})},
    {"activation": ("maxout", {"pieces": 1})}, {"activation": ("prelu", {"alpha": [0.5]})},
    {"activation": ["relu", "tanh", "relu"]}, {"activation": 3},
    {"solver": "newton"}, {"alpha": -1.0}, {"alpha": np.nan}, {"batch_size": 0},
    {"learning_rate_init": 0.0}, {"learning_rate_init": -1.0}, {"max_iter": 0},
    {"momentum": 1.5}, {"beta_1": 1.0}, {"beta_2": -0.1}, {"epsilon": 0.0},
    {"validation_fraction": 1.0, "early_stopping": True}, {"n_iter_no_change": 0},
    {"dropout": 1.0}, {"dropout": -0.1}, {"dropout": [0.1, 0.2, 0.3]},
    {"dropout": 0.2, "solver": "lbfgs"}, {"tol": -1.0}, {"power_t": -1.0},
    {"learning_rate": "fast"}, {"max_fun": 0},
]


@settings(max_examples=EXAMPLES)
@given(prob=problem(), bad=st.sampled_from(BAD_PARAMS))
def test_invalid_hyperparameters_fuzz(prob, bad):
    cls, params, X, y, sw, dtype = prob
    params = dict(params, **bad)
    if "hidden_layer_sizes" not in bad:
        params["hidden_layer_sizes"] = (3, 2)
    if bad.get("activation") == ("prelu", {"alpha": [0.5]}):
        params["hidden_layer_sizes"] = (3,)
    if "early_stopping" not in bad:
        params["early_stopping"] = False
    if "solver" not in bad and "dropout" not in bad:
        params.pop("dropout", None)
    Xc, yc = np.array(X, order="C"), np.array(y)
    before = snapshot(Xc, yc)
    model = cls(**params)
    with pytest.raises(ERRORS):
        model.fit(Xc, yc)
    assert snapshot(Xc, yc) == before
    assert not hasattr(model, "coefs_")


@settings(max_examples=EXAMPLES)
@given(prob=problem(), data=st.data())
def test_partial_fit_and_warm_start_fuzz(prob, data):
    """partial_fit continues from the fitted weights; a refused partial_fit
    leaves the model exactly as it was."""
    cls, params, X, y, sw, dtype = prob
    assume(params["solver"] != "lbfgs")
    params = dict(params, early_stopping=False)
    params.pop("validation_fraction", None)
    Xc, yc = np.array(X, order="C"), np.array(y)
    model = cls(**params)
    kw = {}
    if cls is MLPClassifier and yc.ndim == 1:
        kw["classes"] = np.unique(yc)
    try:
        model.partial_fit(Xc, yc, **kw)
    except ERRORS:
        return
    t0, w0 = model.t_, weights(model)
    try:
        model.partial_fit(layout(X, data.draw(st.sampled_from(LAYOUTS)), readonly=True), yc)
    except ERRORS:
        # (a diverging step): the model is left exactly as it was
        assert_same_weights(weights(model), w0, "a failed partial_fit changed the weights")
        assert model.t_ == t0
        return
    assert model.t_ == t0 + len(Xc)
    for w in weights(model):
        assert np.isfinite(w).all()
    # a refused call (wrong number of features) changes nothing
    w1, t1 = weights(model), model.t_
    with pytest.raises(ERRORS):
        model.partial_fit(np.hstack([Xc, Xc]), yc)
    assert_same_weights(weights(model), w1, "a refused partial_fit changed the weights")
    assert model.t_ == t1
    # X that aliases the model's own parameters: the same as a copy of them
    W = model.coefs_[0]
    if W.shape[1] >= 1:
        Xw = W.T[:, :Xc.shape[1]] if W.shape[0] == Xc.shape[1] else None
        if Xw is not None:
            expect = model_output(model, np.array(Xw, copy=True))
            np.testing.assert_array_equal(model_output(model, Xw), expect)


def test_fit_on_views_of_its_own_weights():
    """fit/partial_fit on X that is a view of the model's coefs_ equals the
    same calls on a copy (the engine must not read X while it writes them)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 6))
    y = np.arange(6) % 2
    runs = []
    for copy in (False, True):
        m = MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, random_state=0,
                          warm_start=True, solver="sgd").fit(X, y)
        for _ in range(3):
            Xw = m.coefs_[0] if not copy else np.array(m.coefs_[0], copy=True)
            m.partial_fit(Xw, y)
            m.fit(Xw, y)
        runs.append(weights(m))
    assert_same_weights(runs[0], runs[1], "training on a view of coefs_ differs from a copy")


def test_misaligned_X_reaches_c():
    """Fit and predict on misaligned float32/float64 X equal the same calls on
    an aligned copy (in a child process: under UBSan this stops the process)."""
    code = """
        import warnings
        import numpy as np
        from fastact import MLPClassifier
        warnings.simplefilter("ignore")
        for dt in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            Xa = rng.standard_normal((50, 7)).astype(dt)
            y = (Xa[:, 0] > 0).astype(int)
            raw = np.zeros(Xa.nbytes + 8, np.uint8)
            # F order: the engine gathers rows itself (a C-ordered X goes to BLAS)
            Xm = np.ndarray(Xa.shape, dtype=dt, buffer=raw, offset=1, order="F")
            Xm[...] = Xa
            assert not Xm.flags.aligned
            a = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(Xa, y)
            m = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(Xm, y)
            for u, v in zip(a.coefs_, m.coefs_):
                assert np.array_equal(u, v)
            assert np.array_equal(a.predict_proba(Xm), a.predict_proba(Xa))
        print("ok")
    """
    import subprocess
    import sys
    import textwrap
    from conftest import CHILD_CWD, child_env
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=CHILD_CWD,
                       env=child_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout and "runtime error" not in r.stderr, \
        (r.returncode, r.stderr[-1500:])
