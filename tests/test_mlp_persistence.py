"""Fitted MLP estimators pickle and joblib-dump to a small file that loads in
a fresh process and predicts exactly as before; training resumes from a
loaded model as it would have from the original."""
import io
import pickle
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning

from fastact import MLPClassifier, MLPRegressor
from conftest import CHILD_CWD, child_env



def _digits(dtype=np.float64):
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(dtype), y


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_pickle_round_trip(dtype, solver):
    X, y = _digits(dtype)
    clf = _fit(MLPClassifier(hidden_layer_sizes=(20,), solver=solver, max_iter=10,
                             random_state=0), X, y)
    data = pickle.dumps(clf)
    loaded = pickle.loads(data)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X[:1]), clf.predict(X[:1]))
    assert loaded.coefs_[0].dtype == dtype
    for a, b in zip(loaded.coefs_ + loaded.intercepts_, clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(a, b)
    # the parameters are stored once; with Adam/SGD the optimizer state too
    n_params = sum(c.size for c in clf.coefs_ + clf.intercepts_)
    copies = {"adam": 3, "sgd": 2, "lbfgs": 1}[solver]
    assert len(data) < copies * n_params * np.dtype(dtype).itemsize + 20_000
    # the loaded attributes are views into one buffer again
    base = loaded.coefs_[0].base
    assert all(a.base is base for a in loaded.coefs_ + loaded.intercepts_)


def test_joblib_dump_is_small_and_loads_in_a_fresh_process(tmp_path):
    X, y = _digits(np.float32)
    clf = _fit(MLPClassifier(hidden_layer_sizes=(50,), max_iter=20, random_state=0), X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    n_params = sum(c.size for c in clf.coefs_ + clf.intercepts_)
    assert path.stat().st_size < 3 * 4 * n_params + 20_000
    np.save(tmp_path / "X.npy", X[:100])
    np.save(tmp_path / "expected.npy", clf.predict_proba(X[:100]))
    code = textwrap.dedent(f"""
        import joblib, numpy as np
        clf = joblib.load({str(path)!r})
        X = np.load({str(tmp_path / 'X.npy')!r})
        assert type(clf).__module__ == "fastact._mlp", type(clf)
        np.testing.assert_array_equal(clf.predict_proba(X), np.load({str(tmp_path / 'expected.npy')!r}))
        np.testing.assert_allclose(clf.predict_proba(X[:1]), clf.predict_proba(X)[:1], rtol=1e-5)
        clf.partial_fit(X, clf.predict(X))   # trains on after loading
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=CHILD_CWD, env=child_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_training_resumes_identically_after_pickling():
    X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    y = y / 100
    a = MLPRegressor(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    for est in (a, b):
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_


def test_warm_start_with_early_stopping_after_pickling():
    X, y = _digits()
    clf = _fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, early_stopping=True,
                             warm_start=True, random_state=0), X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    n = len(loaded.validation_scores_)
    _fit(loaded, X, y)
    assert len(loaded.validation_scores_) > n


def test_pickle_after_replacing_coefs():
    # coefs_ replaced by the user are what gets saved and predicted with
    X, y = _digits()
    clf = _fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0), X, y)
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    loaded = pickle.loads(pickle.dumps(clf))
    assert all((c == 0).all() for c in loaded.coefs_)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_unfitted_estimator_pickles():
    est = MLPRegressor(activation=("leaky_relu", {"alpha": 0.2}), dropout=[0.1])
    buf = io.BytesIO()
    pickle.dump(est, buf)
    loaded = pickle.loads(buf.getvalue())
    assert loaded.get_params()["activation"] == ("leaky_relu", {"alpha": 0.2})
