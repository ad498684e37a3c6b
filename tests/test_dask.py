"""fastact on Dask (issue 5): distributed inference through ParallelPostFit on
dask arrays and dataframes, streamed training (Incremental and
fastact.dask.partial_fit_epochs), GridSearchCV / RandomizedSearchCV on joblib's
dask backend, small pickles loaded by the workers, thread safety, and a worker
killed in the middle of a predict.

The cluster is a LocalCluster of 2 worker processes (with nannies), 1 thread
each, on 127.0.0.1, shared by the module.  Skipped without the ``dask`` extra
(``pip install '.[dask]'``).  Every wait is bounded.
"""

import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

import joblib  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import fastact  # noqa: E402
from fastact.dask import partial_fit_epochs  # noqa: E402

ParallelPostFit = dask_ml_wrappers.ParallelPostFit
Incremental = dask_ml_wrappers.Incremental

TIMEOUT = 60  # seconds, for any single computation on the cluster
CHUNK = 400   # rows per chunk: a multiple of the batch size (200)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def client():
    # the helpers below (_slow_identity, _load_and_predict) run in the workers:
    # ship them by value, whatever the workers can import
    import cloudpickle

    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    with warnings.catch_warnings():
        # without a dashboard the scheduler still serves HTTP (health,
        # metrics) on 8787, or on a free port with this warning if taken
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.CRITICAL)
    c = distributed.Client(cluster, timeout="60s")
    try:
        c.wait_for_workers(2, timeout=TIMEOUT)
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)
        cloudpickle.unregister_pickle_by_value(module)


@pytest.fixture(scope="module")
def data():
    """6000 rows, 20 float32 features: the first 4800 to train, the rest to test."""
    X, y = make_classification(n_samples=6000, n_features=20, n_informative=10,
                               n_redundant=4, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def model(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fastact.MLPClassifier(hidden_layer_sizes=(32,), max_iter=30,
                                     random_state=0).fit(X[:4800], y[:4800])


def _compute(client, collection, **kwargs):
    futures = client.compute(collection, **kwargs)
    distributed.wait(futures, timeout=TIMEOUT)
    return client.gather(futures)


def _blockwise(fn, X, chunk):
    """fn applied to each chunk of X in memory, concatenated, single-threaded:
    exactly what the workers compute (the nannies start them with
    OMP_NUM_THREADS=1).  fastact's float outputs may differ in the last bit
    with a row's position in the block and with the OpenMP thread count, so
    comparisons with one in-memory call on all of X allow 1e-6."""
    with threadpool_limits(limits=1):
        return np.concatenate([fn(X[i:i + chunk]) for i in range(0, len(X), chunk)])


def _slow_identity(x, delay):
    time.sleep(delay)
    return x


def _load_and_predict(blob, X):
    import fastact  # noqa: F401  (imported before the clock starts)

    t0 = time.perf_counter()
    est = pickle.loads(blob)
    load_s = time.perf_counter() - t0
    import fastact._mlp_core as core

    return {"proba": est.predict_proba(X), "load_s": load_s, "core": core.__file__,
            "pyximport": "pyximport" in sys.modules, "pid": os.getpid()}


# -- 1. distributed inference ---------------------------------------------------

def test_parallel_post_fit_dask_array(client, model, data):
    X, _ = data
    Xd = da.from_array(X, chunks=(500, 20))
    clf = ParallelPostFit(model)
    pred = clf.predict(Xd)
    assert isinstance(pred, da.Array) and pred.numblocks == (12,)
    labels, proba = _compute(client, [pred, clf.predict_proba(Xd)])
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_array_equal(proba, _blockwise(model.predict_proba, X, 500))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-6)


def test_parallel_post_fit_regressor_float64(client):
    X, y = make_regression(n_samples=3000, n_features=10, noise=1.0, random_state=1)
    reg = fastact.MLPRegressor(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(X, y)
    Xd = da.from_array(X, chunks=(250, 10))
    got = _compute(client, ParallelPostFit(reg).predict(Xd))
    assert got.dtype == np.float64 and got.shape == (3000,)
    np.testing.assert_array_equal(got, _blockwise(reg.predict, X, 250))
    np.testing.assert_allclose(got, reg.predict(X), rtol=1e-12, atol=1e-12)


def test_parallel_post_fit_dask_dataframe(client, data):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    # fitted on a DataFrame: the workers check the partitions' column names
    m = fastact.MLPClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0).fit(df, y)
    ddf = dd.from_pandas(df, npartitions=5)
    clf = ParallelPostFit(m, predict_meta=np.array([], dtype=y.dtype),
                          predict_proba_meta=np.empty((0, 2), dtype=np.float32))
    labels, proba = _compute(client, [clf.predict(ddf), clf.predict_proba(ddf)])
    np.testing.assert_array_equal(np.asarray(labels), m.predict(df))
    np.testing.assert_allclose(np.asarray(proba), m.predict_proba(df), rtol=0, atol=1e-6)
    assert np.asarray(proba).shape == (len(df), 2)


# -- 2. streamed training -------------------------------------------------------

def test_incremental_one_pass_equals_partial_fit_epochs(client, data):
    """Incremental (dask-ml) and partial_fit_epochs make the same chain of
    partial_fit calls: same chunk order, same model, whichever worker runs
    each step (the model's full state, RNG included, travels with it)."""
    X, y = data
    Xd, yd = da.from_array(X[:4800], chunks=(CHUNK, 20)), da.from_array(y[:4800], chunks=CHUNK)
    est = fastact.MLPClassifier(hidden_layer_sizes=(32,), batch_size=200, random_state=0)
    inc = Incremental(est, shuffle_blocks=False).fit(Xd, yd, classes=[0, 1])
    ours = partial_fit_epochs(est, Xd, yd, epochs=1, classes=[0, 1], shuffle_blocks=False)
    assert not hasattr(est, "coefs_")  # the helper trains a copy
    assert inc.estimator_.t_ == ours.t_ == 4800
    for a, b in zip(inc.estimator_.coefs_ + inc.estimator_.intercepts_,
                    ours.coefs_ + ours.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(inc.predict(X[4800:]), ours.predict(X[4800:]))


def test_partial_fit_epochs_matches_in_memory_training(client, data):
    X, y = data
    Xtr, ytr, Xte, yte = X[:4800], y[:4800], X[4800:], y[4800:]
    epochs = 8
    kw = dict(hidden_layer_sizes=(32,), batch_size=200, random_state=0)
    in_memory = fastact.MLPClassifier(max_iter=epochs, tol=0.0, n_iter_no_change=10**6,
                                      **kw).fit(Xtr, ytr)
    assert in_memory.n_iter_ == epochs
    Xd = da.from_array(Xtr, chunks=(CHUNK, 20))   # 12 chunks
    yd = da.from_array(ytr, chunks=CHUNK)
    streamed = partial_fit_epochs(fastact.MLPClassifier(**kw), Xd, yd, epochs=epochs,
                                  random_state=0)   # classes found from y
    np.testing.assert_array_equal(streamed.classes_, [0, 1])
    assert streamed.t_ == in_memory.t_ == epochs * len(Xtr)
    acc_mem, acc_stream = in_memory.score(Xte, yte), streamed.score(Xte, yte)
    assert acc_mem > 0.85
    assert abs(acc_stream - acc_mem) <= 0.01, (acc_stream, acc_mem)

    # the same seeds give the same model on the local scheduler (one OpenMP
    # thread, as in the workers): nothing of the training state is lost on
    # its way between the worker processes
    with dask.config.set(scheduler="sync"), threadpool_limits(limits=1):
        local = partial_fit_epochs(fastact.MLPClassifier(**kw), Xd, yd, epochs=epochs,
                                   random_state=0)
    for a, b in zip(local.coefs_, streamed.coefs_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_epochs_dask_dataframe(data):
    """Partitions of a dask DataFrame / Series are the chunks; the column
    names reach the model."""
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = data
    df = pd.DataFrame(X[:1200], columns=[f"f{i}" for i in range(X.shape[1])])
    ddf = dd.from_pandas(df, npartitions=3)
    dy = dd.from_pandas(pd.Series(y[:1200], name="y"), npartitions=3)
    with dask.config.set(scheduler="sync"):
        clf = partial_fit_epochs(fastact.MLPClassifier(hidden_layer_sizes=(8,), random_state=0),
                                 ddf, dy, epochs=2, random_state=0)
    assert clf.t_ == 2400
    assert list(clf.feature_names_in_) == list(df.columns)
    np.testing.assert_array_equal(clf.classes_, [0, 1])


def test_partial_fit_epochs_arguments():
    """Local (synchronous scheduler): the helper's inputs and errors."""
    X, y = make_regression(n_samples=600, n_features=5, random_state=0)
    w = np.linspace(0.5, 1.5, 600)
    Xd = da.from_array(X, chunks=(200, 5))
    with dask.config.set(scheduler="sync"):
        reg = fastact.MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
        # NumPy y and sample_weight are cut like X; columns chunks are merged
        out = partial_fit_epochs(reg, Xd.rechunk((200, 2)), y, epochs=2, sample_weight=w,
                                 shuffle_blocks=False)
        assert out.t_ == 1200 and not hasattr(reg, "coefs_")
        ref = fastact.MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
        for _ in range(2):
            for i in range(0, 600, 200):
                ref.partial_fit(X[i:i + 200], y[i:i + 200], sample_weight=w[i:i + 200])
        np.testing.assert_array_equal(out.predict(X), ref.predict(X))
        # continues from a fitted model; y with other chunks is re-chunked
        more = partial_fit_epochs(out, Xd, da.from_array(y, chunks=150), epochs=1)
        assert more.t_ == 1800 and out.t_ == 1200
        delayed_model = partial_fit_epochs(reg, Xd, y, compute=False)
        assert delayed_model.compute().t_ == 600

        with pytest.raises(ValueError, match="epochs"):
            partial_fit_epochs(reg, Xd, y, epochs=0)
        with pytest.raises(TypeError, match="dask array"):
            partial_fit_epochs(reg, X, y)
        with pytest.raises(ValueError, match="600 rows but y has 400"):
            partial_fit_epochs(reg, Xd, da.from_array(y[:400], chunks=200))
        with pytest.raises(ValueError, match="600 rows but sample_weight has 599"):
            partial_fit_epochs(reg, Xd, y, sample_weight=w[1:])


# -- 3. cluster-wide search -----------------------------------------------------

def test_search_cv_on_joblib_dask_backend(client, data):
    X, y = data
    X, y = X[:2400], y[:2400]
    base = fastact.MLPClassifier(max_iter=10, random_state=0)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(8,), (32,)]}
    dists = {"alpha": [1e-5, 1e-4, 1e-3, 1e-2], "learning_rate_init": [1e-3, 3e-3, 1e-2]}

    def searches():
        return (GridSearchCV(base, grid, cv=3, n_jobs=-1),
                RandomizedSearchCV(base, dists, n_iter=4, cv=3, random_state=0, n_jobs=-1))

    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_config(backend="dask"):
            on_cluster = [s.fit(X, y) for s in searches()]
    ran_on = {t["worker"] for t in stream.data}
    assert ran_on and ran_on <= set(client.scheduler_info()["workers"])

    with threadpool_limits(limits=1):  # as in the workers
        in_process = [s.set_params(n_jobs=1).fit(X, y) for s in searches()]
    for a, b in zip(on_cluster, in_process):
        assert a.best_params_ == b.best_params_
        np.testing.assert_allclose(a.cv_results_["mean_test_score"],
                                   b.cv_results_["mean_test_score"], rtol=0, atol=1e-12)
        assert isinstance(a.best_estimator_, fastact.MLPClassifier)


# -- 4. small pickles, loaded in workers; threads -------------------------------

def test_model_pickles_small_and_loads_in_workers(client, model, data):
    X, _ = data
    blob = pickle.dumps(model)
    weights = sum(a.nbytes for a in model.coefs_ + model.intercepts_)
    # the weights, Adam's two moment buffers (partial_fit can continue) and
    # a few kB of hyper-parameters and history
    assert len(blob) <= 3 * weights + 16384, (len(blob), weights)
    got = client.run(_load_and_predict, blob, X[:1000])
    assert len(got) == 2 and len({r["pid"] for r in got.values()}) == 2
    expected = _blockwise(model.predict_proba, X[:1000], 1000)
    for r in got.values():
        np.testing.assert_array_equal(r["proba"], expected)
        np.testing.assert_allclose(r["proba"], model.predict_proba(X[:1000]), rtol=0, atol=1e-6)
        # the compiled extension, nothing rebuilt or re-fitted on load
        assert r["core"].endswith((".so", ".pyd")) and not r["pyximport"]
        assert r["load_s"] < 2.0


def test_four_threads_predict_on_one_model(model):
    rng = np.random.default_rng(1)
    blocks = [rng.standard_normal((n, 20)).astype(np.float32) for n in (1, 37, 500, 3000)]
    sequential = [(model.predict_proba(b), model.predict(b)) for b in blocks]
    start = threading.Barrier(4)

    def work(seed):
        order = np.random.default_rng(seed).permutation(len(blocks) * 4) % len(blocks)
        start.wait(timeout=TIMEOUT)
        return [(i, model.predict_proba(blocks[i]), model.predict(blocks[i])) for i in order]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(4), timeout=TIMEOUT))
    for per_thread in results:
        for i, proba, labels in per_thread:
            np.testing.assert_array_equal(proba, sequential[i][0])
            np.testing.assert_array_equal(labels, sequential[i][1])


def test_threads_fit_separate_models(data):
    X, y = data
    X, y = X[:2000], y[:2000]

    def fit(seed):
        return fastact.MLPClassifier(hidden_layer_sizes=(16,), max_iter=5,
                                     random_state=seed).fit(X, y)

    sequential = [fit(s) for s in range(4)]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(fit, range(4), timeout=TIMEOUT))
    for a, b in zip(sequential, concurrent):
        for ca, cb in zip(a.coefs_, b.coefs_):
            np.testing.assert_array_equal(ca, cb)


# -- 6. the optional extra ------------------------------------------------------

def test_fastact_without_dask(tmp_path):
    """`import fastact` never imports dask; `fastact.dask` without dask says
    how to install it."""
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = {[p or os.getcwd() for p in sys.path]!r}
        import fastact
        assert "dask" not in sys.modules, "import fastact imported dask"
        sys.modules["dask"] = None          # as if dask were not installed
        try:
            import fastact.dask
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("fastact.dask imported without dask")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'fastact[dask]'" in proc.stdout


# -- 5. a worker killed in the middle of a predict (keep last: it restarts a worker)

@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_worker_killed_mid_predict(client, model):
    rng = np.random.default_rng(2)
    n_chunks, chunk = 60, 200
    X = rng.standard_normal((n_chunks * chunk, 20)).astype(np.float32)
    expected = _blockwise(model.predict_proba, X, chunk)
    pids = client.run(os.getpid)
    assert len(pids) == 2

    # 60 chunks x 0.1 s over 2 single-threaded workers: about 3 s of work
    Xd = da.from_array(X, chunks=(chunk, 20)).map_blocks(_slow_identity, 0.1, dtype=X.dtype)
    future = client.compute(ParallelPostFit(model).predict_proba(Xd), retries=2)
    deadline = time.monotonic() + TIMEOUT
    while not all(client.processing().get(w) for w in pids):  # both are busy
        assert time.monotonic() < deadline, "the predict did not start"
        time.sleep(0.05)
    time.sleep(0.5)
    assert not future.done()
    victim = sorted(pids)[0]
    os.kill(pids[victim], signal.SIGKILL)

    result = future.result(timeout=TIMEOUT)   # rescheduled on the survivor
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_allclose(result, model.predict_proba(X), rtol=0, atol=1e-6)
    assert victim not in client.scheduler_info()["workers"]
    # the nanny brings up a new worker process in its place
    client.wait_for_workers(2, timeout=TIMEOUT)
    assert pids[victim] not in client.run(os.getpid).values()
