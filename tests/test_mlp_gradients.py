"""Gradients of the MLP engine (fastact._mlp_core.Network) against central
finite differences, for every activation a hidden layer can use and every
output loss, on small float64 networks; and against scikit-learn's own
back-propagation where both define the same network."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

import fastact
from fastact._mlp_core import Network

TRAINABLE = sorted(name for name, info in fastact.ACTIVATIONS.items()
                   if info.trainable and info.pattern == "elementwise")


def _activation(name, width):
    if name == "prelu":
        return fastact.activation("prelu", alpha=np.linspace(0.05, 0.5, width))
    if name == "maxout":
        return fastact.activation("maxout", pieces=3)
    return fastact.activation(name)


def _targets(loss, rng, n, n_out):
    if loss == "softmax":
        return np.eye(n_out)[rng.randint(0, n_out, n)]
    if loss == "logistic":
        return (rng.rand(n, n_out) > 0.5).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (n, n_out)).astype(float)
    return rng.randn(n, n_out)


def _network(hidden, acts, loss, n_out, *, n_features=5, n=7, seed=0, sparse=False,
             sample_weight=False, dropout=None, alpha=0.01):
    rng = np.random.RandomState(seed)
    units = [n_features] + list(hidden) + [n_out]
    net = Network(units, [_activation(a, w) for a, w in zip(acts, hidden)],
                  dropout or [0.0] * len(hidden), loss, np.float64)
    net.params[:] = rng.uniform(-0.6, 0.6, net.n_params)
    X = rng.randn(n, n_features)
    if sparse:
        X[np.abs(X) < 0.5] = 0
        X = sp.csr_matrix(X)
    T = _targets(loss, rng, n, n_out)
    w = rng.uniform(0.2, 2.0, n) if sample_weight else None
    net.bind(X, np.ascontiguousarray(T), w, alpha=alpha)
    return net


def _check_fd(net, *, objective_scale=None, rtol=1e-6):
    """The analytic gradient matches central differences of the loss."""
    x0 = net.params.astype(np.float64).copy()
    loss, grad = net.loss_grad(x0)
    assert np.isfinite(loss)

    def f(x):
        value = net.loss_grad(x)[0]
        if objective_scale is not None:   # see test_squared_error_multioutput
            value = objective_scale(x, value)
        return value

    eps = 1e-6
    num = np.empty_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e[i] = eps
        num[i] = (f(x0 + e) - f(x0 - e)) / (2 * eps)
    scale = max(1e-8, np.abs(num).max())
    np.testing.assert_allclose(grad / scale, num / scale, atol=rtol * 10, rtol=0)


@pytest.mark.parametrize("name", TRAINABLE)
def test_hidden_activation_gradients(name):
    _check_fd(_network([4], [name], "softmax", 3))


@pytest.mark.parametrize("name", ["prelu", "softmax", "log_softmax", "maxout"])
def test_non_elementwise_hidden_activation_gradients(name):
    _check_fd(_network([4], [name], "softmax", 3))


@pytest.mark.parametrize("loss,n_out", [("softmax", 3), ("logistic", 1), ("logistic", 3),
                                        ("squared_error", 1), ("poisson", 1),
                                        ("poisson", 2)])
@pytest.mark.parametrize("sample_weight", [False, True])
def test_loss_gradients(loss, n_out, sample_weight):
    _check_fd(_network([4, 3], ["tanh", "gelu"], loss, n_out, sample_weight=sample_weight))


def test_squared_error_multioutput():
    # scikit-learn reports the squared error averaged over the outputs but
    # back-propagates the sum over outputs; the engine keeps both (so that
    # SGD/Adam take scikit-learn's steps): its gradient is that of
    # n_outputs * data_loss + L2 penalty.
    net = _network([4], ["tanh"], "squared_error", 3, sample_weight=True)
    k, alpha = 3, 0.01

    def objective(x, value):
        penalty = 0.5 * alpha * float(x[:net.n_coef] @ x[:net.n_coef]) / net.norm
        return k * (value - penalty) + penalty

    _check_fd(net, objective_scale=objective)


def test_gradients_sparse_input():
    _check_fd(_network([4], ["relu"], "softmax", 3, sparse=True, sample_weight=True))


def test_gradients_deep_mixed_network():
    _check_fd(_network([6, 5, 4], ["swish", "maxout", "elu"], "logistic", 2,
                       sample_weight=True))


def test_gradients_with_fixed_dropout_mask():
    # the mask depends on (seed, step): within one loss_grad evaluation
    # sequence the step does not advance, so the loss is a smooth function
    net = _network([6, 5], ["tanh", "softplus"], "softmax", 3, dropout=[0.3, 0.2])
    net.seed = 1234
    _check_fd(net)


def test_chunked_loss_equals_one_pass():
    # the lbfgs loss runs over chunks of rows; with more rows than a chunk the
    # accumulated loss and gradient equal the one-chunk values
    rng = np.random.RandomState(0)
    X = rng.randn(9000, 3)
    T = np.eye(2)[rng.randint(0, 2, 9000)]
    w = rng.rand(9000)
    net = Network([3, 4, 2], [fastact.activation("tanh")], [0.0], "softmax", np.float64)
    net.params[:] = rng.uniform(-1, 1, net.n_params)
    net.bind(X, T, w, alpha=0.1)
    loss, grad = net.loss_grad(net.params.copy())
    half = [net.copy(), net.copy()]
    parts = []
    for h, rows in zip(half, (slice(0, 4000), slice(4000, 9000))):
        h.bind(X[rows], np.ascontiguousarray(T[rows]), w[rows], alpha=0.0)
        lo, g = h.loss_grad(net.params.copy())
        parts.append((lo * w[rows].sum(), g * w[rows].sum()))
    total = w.sum()
    penalty = 0.5 * 0.1 * float(net.params[:net.n_coef] @ net.params[:net.n_coef]) / total
    expected_grad = (parts[0][1] + parts[1][1]) / total
    expected_grad[:net.n_coef] += 0.1 / total * net.params[:net.n_coef]
    np.testing.assert_allclose(loss, (parts[0][0] + parts[1][0]) / total + penalty, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)



@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunking_changes_results_only_by_rounding(dtype):
    # loss_grad and a mini-batch step compute at most rows_per_chunk rows at
    # once (bounded work between two signal checks): the loss, the gradient
    # and the step (dropout masks included) are those of one pass up to
    # rounding, and the same chunking gives the same bits
    rng = np.random.RandomState(0)
    n = 300
    X = rng.randn(n, 5).astype(dtype)
    T = np.eye(3, dtype=dtype)[rng.randint(0, 3, n)]
    w = rng.uniform(0.2, 2.0, n).astype(dtype)
    w[10:30] = 0                      # whole chunks without weight are skipped
    order = rng.permutation(n).astype(np.int64)
    x0 = rng.uniform(-0.6, 0.6, 5 * 8 + 8 * 6 + 6 * 3 + 8 + 6 + 3)

    def run(chunk):
        net = Network([5, 8, 6, 3], [fastact.activation("tanh"), fastact.activation("relu")],
                      [0.2, 0.1], "softmax", dtype)
        assert net.rows_per_chunk >= n
        net.params[:] = x0
        net.seed = 7
        net.bind(X, T, w, alpha=0.01)
        if chunk is not None:
            net.rows_per_chunk = chunk
        loss, grad = net.loss_grad(x0)
        net.set_sgd(0.1, 0.9, True)
        steps = [net.train_epoch(order, b)[0] for b in (n, 100)]
        return loss, grad, steps, net.params.astype(np.float64)

    tol = {"rtol": 1e-10, "atol": 1e-13} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-6}
    ref = run(None)
    for chunk in (1, 7, 64):
        got = run(chunk)
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a, b, **tol)
        again = run(chunk)
        for a, b in zip(again, got):
            np.testing.assert_array_equal(a, b)

def _sklearn_backprop(sk, X, Y, sample_weight):
    n_layers = sk.n_layers_
    activations = [X] + [None] * (n_layers - 1)
    deltas = [None] * (n_layers - 1)
    coef_grads = [np.empty_like(c) for c in sk.coefs_]
    intercept_grads = [np.empty_like(b) for b in sk.intercepts_]
    loss, cg, ig = sk._backprop(X, Y, sample_weight, activations, deltas, coef_grads,
                                intercept_grads)
    return loss, np.concatenate([g.ravel() for g in cg + ig])


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel", "regression",
                                  "poisson"])
def test_matches_sklearn_backprop(activation, task):
    """Same parameters, same data: the loss and gradient of scikit-learn's
    _backprop (the definition the estimators follow)."""
    rng = np.random.RandomState(1)
    X = rng.randn(30, 4)
    sw = rng.uniform(0.5, 2, 30)
    if task == "multiclass":
        y = rng.randint(0, 3, 30)
    elif task == "binary":
        y = rng.randint(0, 2, 30)
    elif task == "multilabel":
        y = (rng.rand(30, 3) > 0.5).astype(int)
    elif task == "poisson":
        y = rng.poisson(2.0, 30).astype(float)
    else:
        y = rng.randn(30, 2)
    kw = dict(hidden_layer_sizes=(5, 4), activation=activation, solver="lbfgs", max_iter=1,
              alpha=0.3, random_state=0)
    if task in ("regression", "poisson"):
        loss = "poisson" if task == "poisson" else "squared_error"
        sk = SkMLPRegressor(loss=loss, **kw)
        ours = fastact.MLPRegressor(loss=loss, **kw)
    else:
        sk = SkMLPClassifier(**kw)
        ours = fastact.MLPClassifier(**kw)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X, y)
        ours.fit(X, y)
    # evaluate both at scikit-learn's fitted parameters
    ours.coefs_ = [c.copy() for c in sk.coefs_]
    ours.intercepts_ = [b.copy() for b in sk.intercepts_]
    theta = np.concatenate([p.ravel() for p in sk.coefs_ + sk.intercepts_])
    if task in ("regression", "poisson"):
        Y = y.reshape(len(y), -1).astype(float)
    else:
        Y = sk._label_binarizer.transform(y).astype(float)
    sk_loss, sk_grad = _sklearn_backprop(sk, X, Y, sw)
    loss, grad = ours._loss_grad_lbfgs(theta, X, Y, sw)
    np.testing.assert_allclose(loss, sk_loss, rtol=1e-10)
    np.testing.assert_allclose(grad, sk_grad, rtol=1e-9, atol=1e-13)


def test_float32_gradient_close_to_float64():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 6)
    T = np.eye(4)[rng.randint(0, 4, 50)]
    nets = {}
    for dtype in (np.float32, np.float64):
        net = Network([6, 8, 4], [fastact.activation("gelu")], [0.0], "softmax", dtype)
        nets[dtype] = net
        net.bind(np.asarray(X, dtype), np.asarray(T, dtype), None, alpha=0.01)
    x = np.random.RandomState(1).uniform(-0.5, 0.5, nets[np.float64].n_params)
    l32, g32 = nets[np.float32].loss_grad(x)
    l64, g64 = nets[np.float64].loss_grad(x)
    assert nets[np.float32].params.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)
