"""Training behaviour of the MLP estimators: determinism, dtypes, sparse
input, activations of the table, dropout, early stopping, verbose output,
interruption, memory, concurrency and the short prediction path."""
import _thread
import re
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as sknn
from sklearn.datasets import load_digits, load_iris, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

import fastact
from fastact import MLPClassifier, MLPRegressor
from fastact._mlp_core import shuffle_rows

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = (X_IRIS - X_IRIS.mean(0)) / X_IRIS.std(0)


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _digits(dtype=np.float64):
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(dtype), y


def _params(est):
    return np.concatenate([p.ravel() for p in est.coefs_ + est.intercepts_])


# -- determinism ---------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(), dict(solver="sgd"), dict(solver="lbfgs"),
                                dict(dropout=0.3), dict(early_stopping=True)])
def test_same_random_state_same_weights_whatever_the_thread_count(kw):
    X, y = _digits(np.float32)
    weights = []
    for threads in (1, 2, 1):
        with threadpool_limits(threads):
            est = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=4, random_state=3, **kw)
            weights.append(_params(est.fit(X, y)))
    for w in weights[1:]:
        np.testing.assert_array_equal(w, weights[0])
    other = _params(MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=4, random_state=4,
                                  **kw).fit(X, y))
    assert not np.array_equal(other, weights[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_gemm_gives_the_weights_of_one_thread(dtype):
    """Layers wide enough that fastact's GEMM splits its rows over the threads
    (M N K >= 2^20 for a 200-row batch): the weights stay bitwise equal."""
    X, y = _digits(dtype)
    weights = []
    for threads in (1, 2, 3):
        with threadpool_limits(threads):
            est = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=2, random_state=0)
            weights.append(_params(est.fit(X, y)))
    for w in weights[1:]:
        np.testing.assert_array_equal(w, weights[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [
    dict(hidden_layer_sizes=(64, 32)),
    dict(hidden_layer_sizes=(256, 128)),                 # threaded products (2 threads)
    dict(hidden_layer_sizes=(40, 30), activation=["relu", "tanh"]),
    dict(hidden_layer_sizes=(40, 30), dropout=[0.0, 0.2]),
    dict(hidden_layer_sizes=(40,), solver="lbfgs"),
    dict(hidden_layer_sizes=(40,), sparse=True),
    dict(hidden_layer_sizes=(40, 20), regressor=True),
], ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_gemm_epilogues_change_no_bit(dtype, kw):
    """Bias + relu forward, relu's slope + intercept gradient backward and the
    output layer's bias, taken in the epilogue of the GEMMs: the same weights
    and loss curve, bitwise, as the separate passes (1 and 2 threads)."""
    from fastact import _mlp_core
    kw = dict(kw)
    X, y = _digits(dtype)
    if kw.pop("sparse", False):
        X = sp.csr_matrix(X)
    cls = MLPRegressor if kw.pop("regressor", False) else MLPClassifier
    if cls is MLPRegressor:
        y = y.astype(dtype) / 9
    runs = []
    for fused, threads in ((True, 1), (False, 1), (True, 2)):
        _mlp_core._set_gemm_epilogues(fused)
        try:
            with threadpool_limits(threads):
                est = cls(max_iter=3, random_state=0, **kw).fit(X, y)
        finally:
            _mlp_core._set_gemm_epilogues(True)
        runs.append((_params(est), list(getattr(est, "loss_curve_", [est.loss_]))))
    for w, curve in runs[1:]:
        np.testing.assert_array_equal(w, runs[0][0])
        assert curve == runs[0][1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(), dict(solver="sgd", nesterovs_momentum=True)])
def test_threaded_optimizer_and_gather_give_the_run_of_one_thread(dtype, kw):
    """Enough parameters (> 2^16) that the optimizer update is shared among
    threads in chunks, and input rows wide enough (> 256 KB a batch) that the
    batch gather is too: weights and the loss curve (its L2 term sums p^2 by
    chunk) stay bitwise equal."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 1024)).astype(dtype)
    y = (X[:, :8].sum(1) > 0).astype(int) + (X[:, 8:16].sum(1) > 0)
    runs = []
    for threads in (1, 2, 3):
        with threadpool_limits(threads):
            est = MLPClassifier(hidden_layer_sizes=(80,), max_iter=3, alpha=1e-2,
                                random_state=0, **kw).fit(X, y)
            runs.append((_params(est), est.loss_curve_))
    for w, curve in runs[1:]:
        np.testing.assert_array_equal(w, runs[0][0])
        assert curve == runs[0][1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predictions_do_not_depend_on_the_thread_count(dtype):
    # several chunks of rows (predict spreads them over the OpenMP threads,
    # each with single-threaded BLAS), dense and through the full path
    X, y = _digits(dtype)
    clf = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=3, random_state=0).fit(X, y)
    big = np.tile(X, (2, 1))
    outs = []
    for threads in (1, 2, 3, 1):
        with threadpool_limits(threads):
            outs.append((clf.predict_proba(big), clf.predict_proba(np.asfortranarray(big)),
                         clf.predict_proba(big[:7])))
    for o in outs[1:]:
        for a, b in zip(o, outs[0]):
            np.testing.assert_array_equal(a, b)
    with threadpool_limits(2, user_api="blas"):       # and the user's setting stays
        clf.predict_proba(big)
        assert all(info["num_threads"] == 2 for info in threadpool_info()
                   if info["user_api"] == "blas")


def test_fits_in_concurrent_threads_equal_sequential_fits():
    X, y = _digits(np.float32)
    configs = [dict(random_state=i, hidden_layer_sizes=(40,), max_iter=8) for i in range(4)]
    sequential = [_params(MLPClassifier(**c).fit(X, y)) for c in configs]
    results = [None] * len(configs)

    def work(i):
        results[i] = _params(MLPClassifier(**configs[i]).fit(X, y))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(configs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, sequential):
        np.testing.assert_array_equal(a, b)
    # the user's BLAS thread setting is restored afterwards
    with threadpool_limits(2, user_api="blas"):
        MLPClassifier(max_iter=1).fit(X[:50], y[:50])
        assert all(info["num_threads"] == 2 for info in threadpool_info()
                   if info["user_api"] == "blas")


# -- dtypes and input formats ----------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_runs_in_the_dtype_of_X(dtype):
    X, y = _digits(dtype)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(X, y)
    assert all(c.dtype == dtype for c in clf.coefs_ + clf.intercepts_)
    assert clf._engine.dtype == dtype
    assert clf._engine.optimizer_state()["a"].dtype == dtype
    assert clf.predict_proba(X).dtype == dtype
    assert clf.predict_proba(X[:1]).dtype == dtype
    # integer X trains in float64, as scikit-learn
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit((X * 16).astype(int), y)
    assert clf.coefs_[0].dtype == np.float64


def test_float32_training_close_to_float64():
    X, y = _digits()
    a = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0).fit(X, y)
    b = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0).fit(
        X.astype(np.float32), y)
    np.testing.assert_allclose(_params(b), _params(a), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_X_trains_like_dense(fmt, solver):
    X, y = _digits()
    Xs = sp.csr_matrix(X).asformat(fmt)
    kw = dict(hidden_layer_sizes=(20,), max_iter=5, solver=solver, random_state=0)
    dense = MLPClassifier(**kw).fit(X, y)
    sparse = MLPClassifier(**kw).fit(Xs, y)
    np.testing.assert_allclose(_params(sparse), _params(dense), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X), rtol=1e-9)
    np.testing.assert_allclose(dense.predict_proba(Xs[:3]), dense.predict_proba(X[:3]),
                               rtol=1e-9)


def test_fortran_ordered_and_strided_X():
    X, y = _digits()
    kw = dict(hidden_layer_sizes=(20,), max_iter=3, random_state=0)
    ref = MLPClassifier(**kw).fit(X, y)
    for Xv in (np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2]):
        est = MLPClassifier(**kw).fit(Xv, y)
        np.testing.assert_allclose(_params(est), _params(ref), rtol=1e-12)
        np.testing.assert_allclose(est.predict_proba(Xv), ref.predict_proba(X), rtol=1e-12)


def test_readonly_X():
    X, y = _digits(np.float32)
    X.setflags(write=False)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2).fit(X, y)
    clf.predict(X)


# -- targets ------------------------------------------------------------------------

def test_binary_multiclass_multilabel_and_multioutput():
    binary = MLPClassifier(max_iter=20, random_state=0).fit(X_IRIS, Y_IRIS == 1)
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    assert binary.predict_proba(X_IRIS).shape == (150, 2)
    np.testing.assert_allclose(binary.predict_proba(X_IRIS).sum(1), 1)
    multi = MLPClassifier(max_iter=20, random_state=0).fit(X_IRIS, Y_IRIS)
    assert multi.out_activation_ == "softmax"
    np.testing.assert_allclose(multi.predict_proba(X_IRIS).sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(multi.predict_log_proba(X_IRIS),
                               np.log(multi.predict_proba(X_IRIS)))
    Xm, Ym = make_multilabel_classification(random_state=0)
    ml = MLPClassifier(max_iter=20, random_state=0).fit(Xm, Ym)
    assert ml.out_activation_ == "logistic" and ml.predict(Xm).shape == Ym.shape
    assert set(np.unique(ml.predict(Xm))) <= {0, 1}
    reg = MLPRegressor(max_iter=20, random_state=0).fit(X_IRIS[:, 1:], X_IRIS[:, :2])
    assert reg.out_activation_ == "identity" and reg.predict(X_IRIS[:, 1:]).shape == (150, 2)
    pois = MLPRegressor(loss="poisson", max_iter=20, random_state=0).fit(X_IRIS, Y_IRIS)
    assert pois.out_activation_ == "exp" and (pois.predict(X_IRIS) > 0).all()


def test_string_labels():
    labels = np.array(["setosa", "versicolor", "virginica"])[Y_IRIS]
    clf = MLPClassifier(max_iter=30, random_state=0, early_stopping=True).fit(X_IRIS, labels)
    assert set(clf.predict(X_IRIS)) <= set(labels)
    assert clf.predict(X_IRIS[:1])[0] in labels


# -- activations and dropout ---------------------------------------------------------

TRAINABLE = sorted(name for name, info in fastact.ACTIVATIONS.items() if info.trainable
                   and info.pattern == "elementwise")


@pytest.mark.parametrize("name", TRAINABLE)
def test_every_activation_of_the_table_trains(name):
    clf = MLPClassifier(hidden_layer_sizes=(16,), activation=name, max_iter=60,
                        learning_rate_init=0.01, random_state=0).fit(X_IRIS, Y_IRIS)
    assert np.isfinite(clf.loss_) and clf.loss_ < clf.loss_curve_[0]
    assert np.isfinite(clf.predict_proba(X_IRIS)).all()


@pytest.mark.parametrize("activation", [
    ("leaky_relu", {"alpha": 0.2}),
    fastact.activation("softplus", beta=2.0),
    ["tanh", ("maxout", {"pieces": 2})],
    [("prelu", {"alpha": np.full(10, 0.1)}), "softmax"],
    ["log_softmax", fastact.activation("gelu", approximate="tanh")],
])
def test_activation_specifications(activation):
    clf = MLPClassifier(hidden_layer_sizes=(10, 10) if isinstance(activation, list) else (10,),
                        activation=activation, max_iter=80, learning_rate_init=0.01,
                        random_state=0).fit(X_IRIS, Y_IRIS)
    assert clf.score(X_IRIS, Y_IRIS) > 0.6
    assert clf.get_params()["activation"] is activation


def test_parameters_of_an_activation_change_the_network():
    a = MLPClassifier(hidden_layer_sizes=(8,), activation=("leaky_relu", {"alpha": 0.01}),
                      max_iter=5, random_state=0).fit(X_IRIS, Y_IRIS)
    b = MLPClassifier(hidden_layer_sizes=(8,), activation=("leaky_relu", {"alpha": 0.5}),
                      max_iter=5, random_state=0).fit(X_IRIS, Y_IRIS)
    assert not np.array_equal(_params(a), _params(b))


def _numpy_forward(est, X):
    """Reference inference for relu hidden layers and a softmax output."""
    a = X
    for W, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        a = np.maximum(a @ W + b, 0)
    z = a @ est.coefs_[-1] + est.intercepts_[-1]
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def test_dropout_trains_differently_and_is_off_at_predict_time():
    X, y = _digits()
    kw = dict(hidden_layer_sizes=(64, 32), max_iter=10, random_state=0)
    plain = MLPClassifier(**kw).fit(X, y)
    dropped = MLPClassifier(dropout=[0.5, 0.2], **kw).fit(X, y)
    again = MLPClassifier(dropout=[0.5, 0.2], **kw).fit(X, y)
    assert not np.array_equal(_params(plain), _params(dropped))
    np.testing.assert_array_equal(_params(dropped), _params(again))
    proba = dropped.predict_proba(X)
    np.testing.assert_array_equal(proba, dropped.predict_proba(X))
    np.testing.assert_allclose(proba, _numpy_forward(dropped, X), rtol=1e-9, atol=1e-12)
    assert dropped.score(X, y) > 0.8


def test_dropout_keeps_the_expected_activation():
    # inverted dropout: E[mask] = 1, so with rate p the loss at the initial
    # weights stays close to the loss without dropout
    X, y = _digits()
    base = MLPClassifier(hidden_layer_sizes=(256,), max_iter=1, learning_rate_init=1e-9,
                         random_state=0).fit(X, y)
    drop = MLPClassifier(hidden_layer_sizes=(256,), max_iter=1, learning_rate_init=1e-9,
                         dropout=0.5, random_state=0).fit(X, y)
    assert abs(drop.loss_ - base.loss_) < 0.05 * base.loss_


# -- solvers and stopping -----------------------------------------------------------------

def test_early_stopping_records_and_restores_the_best():
    X, y = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(32,), early_stopping=True, max_iter=100,
                        n_iter_no_change=3, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 100
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None


def test_max_iter_warns_like_sklearn():
    for cls in (MLPClassifier, sknn.MLPClassifier):
        with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
            with warnings.catch_warnings():
                warnings.simplefilter("always", ConvergenceWarning)
                cls(max_iter=2).fit(X_IRIS, Y_IRIS)
        with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
            with warnings.catch_warnings():
                warnings.simplefilter("always", ConvergenceWarning)
                cls(solver="lbfgs", max_iter=2).fit(X_IRIS, Y_IRIS)


def test_verbose_prints_like_sklearn(capsys):
    printed = []
    for cls in (MLPClassifier, sknn.MLPClassifier):
        cls(hidden_layer_sizes=(5,), max_iter=6, tol=10, n_iter_no_change=2, verbose=True,
            random_state=0).fit(X_IRIS, Y_IRIS)
        printed.append(capsys.readouterr().out)
    ours, theirs = printed
    pattern = re.compile(r"Iteration (\d+), loss = (\d+\.\d{8})")
    assert [m[0] for m in pattern.findall(ours)] == [m[0] for m in pattern.findall(theirs)]
    np.testing.assert_allclose([float(m[1]) for m in pattern.findall(ours)],
                               [float(m[1]) for m in pattern.findall(theirs)], rtol=1e-7)
    assert "Training loss did not improve more than tol=10.000000 for 2 consecutive " \
           "epochs. Stopping." in ours


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_ctrl_c_stops_quickly_and_leaves_a_usable_model(solver):
    rng = np.random.RandomState(0)
    X = rng.randn(4000, 50).astype(np.float32)
    y = rng.randint(0, 4, 4000)
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=100_000, tol=0, solver=solver,
                        random_state=0)
    fired = []

    def interrupt():
        fired.append(time.perf_counter())
        _thread.interrupt_main()

    timer = threading.Timer(0.4, interrupt)
    timer.start()
    try:
        with pytest.warns(UserWarning, match="Training interrupted by user"):
            clf.fit(X, y)
    finally:
        timer.cancel()
    assert fired and time.perf_counter() - fired[0] < 1.0
    assert clf.n_iter_ < 100_000
    assert np.isfinite(clf.predict_proba(X)).all()


# -- memory ------------------------------------------------------------------------

@pytest.mark.parametrize("early_stopping", [False, True])
def test_fit_does_not_copy_float32_X(early_stopping):
    rng = np.random.RandomState(0)
    X = rng.randn(20000, 200).astype(np.float32)
    y = rng.randint(0, 10, 20000)
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=1, early_stopping=early_stopping,
                        random_state=0)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        clf.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    model = 4 * 4 * sum(c.size for c in clf.coefs_ + clf.intercepts_)
    assert peak < 0.2 * X.nbytes + model, (peak, X.nbytes)


# -- prediction paths ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_short_and_full_prediction_paths_agree(dtype):
    X, y = _digits(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(30,), max_iter=5, random_state=0).fit(X, y)
    Xd = X.astype(dtype)
    full = clf.predict_proba(Xd)
    for rows in (slice(0, 1), slice(5, 8), slice(0, 500)):
        np.testing.assert_allclose(clf.predict_proba(Xd[rows]), full[rows], rtol=1e-5,
                                   atol=1e-7)
        np.testing.assert_array_equal(clf.predict(Xd[rows]), full[rows].argmax(1))
    np.testing.assert_allclose(clf.predict_proba(X[:4].tolist()), full[:4], rtol=1e-5)
    np.testing.assert_allclose(full, _numpy_forward(clf, X.astype(np.float64)), rtol=1e-4,
                               atol=1e-6)


def test_assigned_coefs_are_used():
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X_IRIS,
                                                                                  Y_IRIS)
    clf.coefs_[1] = np.zeros_like(clf.coefs_[1])
    clf.intercepts_[1] = np.array([0.0, 5.0, 0.0])
    assert (clf.predict(X_IRIS) == 1).all()
    clf.coefs_[0][...] = 0      # in place: the buffer itself
    assert (clf.predict(X_IRIS[:1]) == 1).all()


# -- the epoch shuffle (fastact._mlp_core.shuffle_rows, csrc/mt_shuffle.h)

@pytest.mark.parametrize("seed, skip", [(0, 0), (1, 623), (2, 624), (3, 1000), (4, 5)])
def test_shuffle_rows_is_randomstate_shuffle(seed, skip):
    # the same order, and the generator left exactly where NumPy leaves it
    # (key, position, and the next draws), across twists of the state
    ref, mine = np.random.RandomState(seed), np.random.RandomState(seed)
    ref.random_sample(skip)
    mine.random_sample(skip)
    for n in (0, 1, 2, 3, 17, 623, 624, 625, 1347, 1347, 4096, 70000):
        a = np.arange(n, dtype=np.int64)
        b = a.copy()
        ref.shuffle(a)
        shuffle_rows(mine, b)
        np.testing.assert_array_equal(a, b)
        sa, sb = ref.get_state(), mine.get_state()
        np.testing.assert_array_equal(sa[1], sb[1])
        assert sa[2] == sb[2]
    assert ref.randint(1 << 30, size=5).tolist() == mine.randint(1 << 30, size=5).tolist()


def test_shuffle_rows_falls_back_to_numpy():
    # not an MT19937 RandomState, or not a contiguous int64 array: rs.shuffle
    for make in (lambda: np.random.RandomState(np.random.PCG64(5)),
                 lambda: np.random.RandomState(5)):
        for view in (lambda: np.arange(50, dtype=np.int32),
                     lambda: np.arange(100, dtype=np.int64)[::2]):   # strided
            ref, mine = make(), make()
            a, b = view(), view()
            ref.shuffle(a)
            shuffle_rows(mine, b)
            np.testing.assert_array_equal(a, b)
            assert ref.randint(1 << 30, size=3).tolist() == mine.randint(1 << 30, size=3).tolist()
    ref, mine = np.random.RandomState(np.random.PCG64(9)), np.random.RandomState(np.random.PCG64(9))
    a = np.arange(300, dtype=np.int64)
    b = a.copy()
    ref.shuffle(a)
    shuffle_rows(mine, b)
    np.testing.assert_array_equal(a, b)
