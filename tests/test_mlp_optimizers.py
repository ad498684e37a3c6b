"""The optimizer steps of the engine against a NumPy reference (scikit-learn's
formulas), the learning-rate schedules, and whole short fits against
scikit-learn's estimators run with the same hyperparameters."""
import warnings

import numpy as np
import pytest
import sklearn.neural_network as sknn
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import fastact
from fastact._mlp_core import Network


def _setup(seed=0, n=16, dtype=np.float64, sample_weight=None):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4).astype(dtype)
    T = np.eye(3, dtype=dtype)[rng.randint(0, 3, n)]
    net = Network([4, 5, 3], [fastact.activation("tanh")], [0.0], "softmax", dtype)
    net.params[:] = rng.uniform(-0.5, 0.5, net.n_params)
    return net, X, T


def _gradient(net, X, T, alpha, sample_weight=None):
    probe = net.copy()
    probe.bind(X, T, sample_weight, alpha=alpha)
    return probe.loss_grad(net.params.astype(np.float64))


def _one_batch_step(net, X, T, alpha, sample_weight=None):
    net.bind(X, T, sample_weight, alpha=alpha)
    loss_sum, status = net.train_epoch(np.arange(len(X), dtype=np.int64), len(X))
    assert status == "ok"
    return loss_sum / len(X)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_adam_steps_match_numpy_reference(alpha):
    net, X, T = _setup()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    net.set_adam(lr, b1, b2, eps)
    p = net.params.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t in range(1, 6):
        loss, g = _gradient(net, X, T, alpha)
        batch_loss = _one_batch_step(net, X, T, alpha)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        p = p - lr_t * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(net.params, p, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(batch_loss, loss, rtol=1e-12)
        assert net.adam_steps == t
        assert net.learning_rate == pytest.approx(lr_t)


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_steps_match_numpy_reference(nesterov, momentum):
    net, X, T = _setup(1)
    lr, alpha = 0.1, 0.2
    net.set_sgd(lr, momentum, nesterov)
    p = net.params.copy()
    vel = np.zeros_like(p)
    for _ in range(5):
        _, g = _gradient(net, X, T, alpha)
        _one_batch_step(net, X, T, alpha)
        vel = momentum * vel - lr * g
        p = p + (momentum * vel - lr * g if nesterov else vel)
        np.testing.assert_allclose(net.params, p, rtol=1e-12, atol=1e-15)


def test_sample_weighted_step_normalises_by_weight_sum():
    net, X, T = _setup(2)
    w = np.random.RandomState(0).uniform(0.1, 3.0, len(X))
    net.set_sgd(0.1, 0.0, False)
    p0 = net.params.copy()
    _, g = _gradient(net, X, T, 0.3, w)
    _one_batch_step(net, X, T, 0.3, w)
    np.testing.assert_allclose(net.params, p0 - 0.1 * g, rtol=1e-12)


def test_zero_weight_batch_is_skipped():
    net, X, T = _setup(3)
    net.set_sgd(0.1, 0.9, True)
    p0 = net.params.copy()
    net.bind(X, T, np.zeros(len(X)), alpha=0.1)
    loss_sum, status = net.train_epoch(np.arange(len(X), dtype=np.int64), 4)
    assert status == "ok" and loss_sum == 0.0
    np.testing.assert_array_equal(net.params, p0)


def test_float32_adam_step_close_to_float64():
    results = {}
    for dtype in (np.float32, np.float64):
        net, X, T = _setup(4, dtype=dtype)
        net.params[:] = np.random.RandomState(9).uniform(-0.5, 0.5, net.n_params)
        net.set_adam(1e-3, 0.9, 0.999, 1e-8)
        for _ in range(3):
            _one_batch_step(net, X, T, 1e-4)
        results[dtype] = net.params.astype(np.float64)
    np.testing.assert_allclose(results[np.float32], results[np.float64], rtol=1e-4, atol=1e-6)


# -- the schedules --------------------------------------------------------------

def test_invscaling_learning_rate():
    X, y = load_iris(return_X_y=True)
    clf = fastact.MLPClassifier(solver="sgd", learning_rate="invscaling", power_t=0.3,
                                learning_rate_init=0.05, max_iter=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.t_ == 4 * len(X)
    expected = 0.05 / (clf.t_ + 1) ** 0.3
    assert clf._optimizer.learning_rate == pytest.approx(expected)
    assert clf._engine.learning_rate == pytest.approx(expected)


def test_adaptive_learning_rate_divides_by_5_then_stops():
    X = [[3, 2], [1, 6]]
    y = [1, 0]
    clf = fastact.MLPClassifier(tol=0.5, max_iter=3000, solver="sgd", learning_rate="adaptive")
    clf.fit(X, y)
    assert clf.max_iter > clf.n_iter_
    assert clf._optimizer.learning_rate < 1e-6


# -- whole fits against scikit-learn ------------------------------------------------

def _fit_pair(est_name, X, y, sample_weight=None, **params):
    ours = getattr(fastact, est_name)(**params)
    ref = getattr(sknn, est_name)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=sample_weight)
        ref.fit(X, y, sample_weight=sample_weight)
    return ours, ref


def _assert_same_fit(ours, ref, rtol=1e-6, atol=1e-8):
    assert ours.n_iter_ == ref.n_iter_
    assert ours.t_ == ref.t_
    assert ours.out_activation_ == ref.out_activation_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-7)
    assert ours.best_loss_ == pytest.approx(ref.best_loss_, rel=1e-7, nan_ok=True) \
        if ref.best_loss_ is not None else ours.best_loss_ is None


IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_X = StandardScaler().fit_transform(IRIS_X)


@pytest.mark.parametrize("params", [
    dict(solver="adam"),
    dict(solver="adam", activation="tanh", alpha=0.01, batch_size=32),
    dict(solver="sgd", learning_rate="constant"),
    dict(solver="sgd", learning_rate="invscaling", momentum=0.5, nesterovs_momentum=False),
    dict(solver="sgd", learning_rate="adaptive", tol=1e-2, n_iter_no_change=2),
    dict(solver="adam", shuffle=False, activation="logistic"),
    dict(solver="adam", early_stopping=True, n_iter_no_change=3),
    dict(solver="sgd", early_stopping=True, validation_fraction=0.2),
])
def test_classifier_fit_matches_sklearn(params):
    ours, ref = _fit_pair("MLPClassifier", IRIS_X, IRIS_Y, hidden_layer_sizes=(8, 6),
                          max_iter=40, random_state=0, **params)
    _assert_same_fit(ours, ref)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_)
        assert ours.best_validation_score_ == ref.best_validation_score_
    np.testing.assert_allclose(ours.predict_proba(IRIS_X), ref.predict_proba(IRIS_X),
                               rtol=1e-6, atol=1e-9)


def test_sample_weighted_fit_matches_sklearn():
    sw = np.random.RandomState(0).uniform(0.1, 2.0, len(IRIS_Y))
    ours, ref = _fit_pair("MLPClassifier", IRIS_X, IRIS_Y, sample_weight=sw,
                          hidden_layer_sizes=(7,), max_iter=30, random_state=0)
    _assert_same_fit(ours, ref)


@pytest.mark.parametrize("params", [
    dict(loss="squared_error"),
    dict(loss="squared_error", solver="sgd", learning_rate_init=1e-3, momentum=0.8),
    dict(loss="poisson"),
])
def test_regressor_fit_matches_sklearn(params):
    X, y = make_regression(n_samples=120, n_features=5, noise=0.1, random_state=0)
    X = StandardScaler().fit_transform(X)
    if params["loss"] == "poisson":
        y = np.random.RandomState(0).poisson(np.exp(X[:, 0] * 0.5 + 1)).astype(float)
    else:
        y = y / 100
    ours, ref = _fit_pair("MLPRegressor", X, y, hidden_layer_sizes=(10,), max_iter=30,
                          random_state=0, **params)
    _assert_same_fit(ours, ref)


def test_partial_fit_matches_sklearn():
    ours = fastact.MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    ref = sknn.MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    for i in range(5):
        rows = slice(i * 30, (i + 1) * 30)
        ours.partial_fit(IRIS_X[rows], IRIS_Y[rows], classes=np.unique(IRIS_Y))
        ref.partial_fit(IRIS_X[rows], IRIS_Y[rows], classes=np.unique(IRIS_Y))
    _assert_same_fit(ours, ref)


def test_warm_start_matches_sklearn():
    pair = []
    for mod in (fastact, sknn):
        est = mod.MLPRegressor(hidden_layer_sizes=(5,), max_iter=8, warm_start=True,
                               random_state=0)
        X, y = make_regression(n_samples=80, n_features=3, random_state=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y / 50)
            est.fit(X, y / 50)
        pair.append(est)
    _assert_same_fit(*pair)


def test_lbfgs_matches_sklearn():
    ours, ref = _fit_pair("MLPClassifier", IRIS_X, IRIS_Y, solver="lbfgs",
                          hidden_layer_sizes=(5,), max_iter=50, random_state=0)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-5)
    for a, b in zip(ours.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
