"""Faults: Ctrl-C in the middle of fit, absurd layer sizes, diverging fits.

Ctrl-C and the memory tests run in a child interpreter: a SIGINT that
escaped the estimator would otherwise abort the whole pytest session, and an
allocation gone wrong must not take the test process (or the machine) with
it, so the child runs under an address-space limit.

The only timing assertion of the suite is here: a SIGINT sent by a timer
thread during fit must end it within half a second; the assertion allows
STOP_LIMIT seconds (a loaded CI machine) and the measured value is printed
and recorded as the test property "sigint_latency_s".
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from conftest import CHILD_CWD, child_env

SANITIZER = bool(os.environ.get("FASTACT_SANITIZER"))
# seconds; the requirement is 0.5 (the sanitizer build runs several times slower)
STOP_LIMIT = 10.0 if SANITIZER else 2.0

try:
    from fastact import MLPClassifier, MLPRegressor
    HAVE_MLP = True
except ImportError:
    HAVE_MLP = False
pytestmark = pytest.mark.skipif(not HAVE_MLP, reason="fastact.MLPClassifier/MLPRegressor "
                                "are not available yet")


def run_child(code, timeout=300, env=None):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=CHILD_CWD,
                       env=child_env(env),
                       capture_output=True, text=True, timeout=timeout)
    out = [line for line in r.stdout.splitlines() if line.startswith("RESULT ")]
    assert r.returncode == 0 and out, f"child failed ({r.returncode}):\n{r.stdout[-2000:]}\n" \
                                      f"{r.stderr[-3000:]}"
    return json.loads(out[-1][len("RESULT "):])


# ---------------------------------------------------------------------------
# Ctrl-C


SIGINT_CHILD = """
    import json, os, signal, threading, time, warnings
    import numpy as np
    from fastact import MLPClassifier

    def trial(solver, dtype, hidden, n, cont, delay):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((n, 40)).astype(dtype)
        y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
        m = MLPClassifier(hidden_layer_sizes=hidden, solver=solver, max_iter=100000,
                          tol=0.0, n_iter_no_change=10**6, max_fun=10**9, batch_size=200,
                          random_state=0)
        sent = {}

        def fire():
            sent["t"] = time.perf_counter()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

        timer = threading.Timer(delay, fire)
        t0 = time.perf_counter()
        timer.start()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                m.fit(X, y)
                outcome = "returned"
            except KeyboardInterrupt:
                outcome = "KeyboardInterrupt"
        t1 = time.perf_counter()
        timer.cancel()              # a fit that ended on its own: no signal
        try:
            timer.join()
        except KeyboardInterrupt:   # ... or one that came just after it ended
            pass
        res = dict(outcome=outcome, latency=t1 - sent.get("t", t0), ran=t1 - t0,
                   warnings=[str(w.message) for w in caught],
                   fitted=hasattr(m, "coefs_"))
        if res["fitted"] and cont:
            res["finite"] = bool(all(np.isfinite(c).all() for c in m.coefs_ + m.intercepts_))
            res["n_iter"] = int(m.n_iter_)
            p = m.predict_proba(X[:100])
            res["predict_ok"] = bool(np.isfinite(p).all())
            before = [c.copy() for c in m.coefs_]
            if solver == "lbfgs":
                m.set_params(warm_start=True, max_iter=2)
                m.fit(X[:2000], y[:2000])              # lbfgs has no partial_fit
            else:
                t_ = m.t_
                m.partial_fit(X[:2000], y[:2000])
                res["t_advanced"] = m.t_ == t_ + 2000
            res["continued"] = bool(any(not np.array_equal(a, b)
                                        for a, b in zip(before, m.coefs_)))
            res["finite_after"] = bool(all(np.isfinite(c).all() for c in m.coefs_))
        return res

    out = {}
    for key, solver, dtype, hidden, n, cont in TRIALS:
        out[key] = trial(solver, getattr(np, dtype), hidden, n, cont, 1.5 if cont else 0.5)
    print("RESULT " + json.dumps(out))
"""

SOLVERS = [("adam", "float32"), ("sgd", "float64"), ("lbfgs", "float32")]
# (key, solver, dtype, hidden_layer_sizes, rows, continue the model afterwards)
# (lbfgs on (64, 64) converged in 1.6 s on the AVX-512 machine, about when
# the signal comes; on (256, 256) it takes ~10 s)
TRIALS = [(f"{s}-{d}", s, d, (256, 256), 20000, True) for s, d in SOLVERS]
if not SANITIZER:        # (an evaluation takes minutes under ASan)
    TRIALS.append(("lbfgs-big", "lbfgs", "float32", (1536, 1536), 4096, False))


@pytest.fixture(scope="module")
def sigint_trials():
    """One child runs every trial (one interpreter start, not four)."""
    return run_child(SIGINT_CHILD.replace("TRIALS", repr(TRIALS)), timeout=900)


@pytest.mark.parametrize("solver,dtype", SOLVERS)
def test_sigint_stops_fit_and_leaves_a_model_to_continue(solver, dtype, sigint_trials,
                                                         record_property):
    res = sigint_trials[f"{solver}-{dtype}"]
    record_property("sigint_latency_s", round(res["latency"], 4))
    print(f"\nSIGINT -> fit returned after {res['latency'] * 1000:.1f} ms "
          f"({solver}, {dtype}; fit ran {res['ran']:.2f} s; outcome {res['outcome']})")
    assert res["ran"] > 1.4, "fit finished before the signal: make the problem bigger"
    assert res["latency"] < STOP_LIMIT, \
        f"fit took {res['latency']:.3f} s to stop after SIGINT (required: 0.5 s)"
    assert res["outcome"] == "returned", "KeyboardInterrupt escaped fit (scikit-learn " \
        "stops, warns 'Training interrupted by user.' and keeps the model)"
    assert any("interrupted" in w for w in res["warnings"]), res["warnings"]
    assert res["fitted"] and res["finite"] and res["predict_ok"]
    assert res["continued"] and res["finite_after"]
    if solver != "lbfgs":
        assert res["t_advanced"]


@pytest.mark.skipif(SANITIZER, reason="ASan runs the chunks several times slower "
                    "than the 0.5 s bound allows")
def test_sigint_stops_a_large_lbfgs_fit_within_half_a_second(sigint_trials, record_property):
    res = sigint_trials["lbfgs-big"]
    record_property("sigint_latency_s", round(res["latency"], 4))
    print(f"\nSIGINT -> lbfgs (1536, 1536) fit returned after {res['latency'] * 1000:.0f} ms")
    assert res["outcome"] == "returned"
    assert res["latency"] < 0.5, f"took {res['latency']:.2f} s"


# ---------------------------------------------------------------------------
# absurd layer sizes


# the prelude of the child processes below: the process's address-space size
VM_SIZE = """
    def vm_size():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
"""

MEMORY_CHILD = """
    import json, resource, time, tracemalloc, warnings
    import numpy as np
    from fastact import MLPClassifier
""" + VM_SIZE + """    # safety net: whatever fit tries, it cannot take more than this
    limit = vm_size() + {headroom}
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    X = np.random.default_rng(0).standard_normal((20, 10)).astype(np.{dtype})
    y = np.arange(20) % 3
    results = []
    for params in {cases}:
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                MLPClassifier(max_iter=1, random_state=0, **params).fit(X, y)
            outcome = "fitted"
        except (ValueError, MemoryError, TypeError) as e:
            outcome = type(e).__name__ + ": " + str(e)[:200]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        results.append(dict(params=repr(params), outcome=outcome, peak=peak,
                            seconds=time.perf_counter() - t0))
    print("RESULT " + json.dumps(results))
"""


ABSURD = [
    {"hidden_layer_sizes": (10**6, 10**6)},
    {"hidden_layer_sizes": (2**31,)},
    {"hidden_layer_sizes": (10**12,)},
    {"hidden_layer_sizes": (2**40, 1)},
    {"hidden_layer_sizes": (50000, 50000)},
    {"hidden_layer_sizes": (10**4,), "activation": ("maxout", {"pieces": 10**6})},
    {"hidden_layer_sizes": (3,) * 20000 + (10**9,)},
]


def _beyond_ram_width():
    """A width w such that the (w, w) hidden layer's float64 parameter,
    gradient and Adam buffers (4 x 8 w^2 bytes) exceed this machine's RAM."""
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int((1.1 * ram / 32) ** 0.5) + 1, ram


@pytest.fixture(scope="module")
def memory_trials():
    """One child fits every absurd network under an address-space limit (the
    safety net: it can never take more than ~1.3 parameter buffers of the
    beyond-RAM case, and lazily zeroed pages are not touched)."""
    if SANITIZER:
        pytest.skip("ASan reserves terabytes of address space: an RLIMIT_AS safety "
                    "net cannot work under it")
    w, ram = _beyond_ram_width()
    cases = ABSURD + [{"hidden_layer_sizes": (w, w)}]
    res = run_child(MEMORY_CHILD.format(headroom=int(1.3 * 8 * w * w), dtype="float64",
                                        cases=repr(cases)))
    return res[:len(ABSURD)], res[-1], w, ram


def test_absurd_layer_sizes_are_refused_before_allocating(memory_trials):
    """More parameters than any machine could hold (or than BLAS can index):
    ValueError/MemoryError at once, without allocating anything large."""
    for r in memory_trials[0]:
        assert r["outcome"] != "fitted", f"{r['params']} was fitted"
        assert r["peak"] < 64 * 2**20, \
            f"{r['params']}: allocated {r['peak'] / 2**20:.0f} MiB before refusing ({r['outcome']})"
        assert r["seconds"] < 30, r


def test_layer_sizes_beyond_memory_are_refused_before_allocating(memory_trials):
    r, w, ram = memory_trials[1], memory_trials[2], memory_trials[3]
    assert r["outcome"] != "fitted"
    assert r["peak"] < 256 * 2**20, (
        f"hidden_layer_sizes=({w}, {w}) needs {4 * 8 * w * w / 2**30:.1f} GiB "
        f"(RAM {ram / 2**30:.1f} GiB); fit allocated {r['peak'] / 2**30:.2f} GiB before "
        f"refusing: {r['outcome']}")


MIDWAY_CHILD = """
    import json, resource, warnings
    import numpy as np
    from fastact import MLPClassifier
""" + VM_SIZE + """
    def public(m):
        return sorted(k for k in vars(m) if k.endswith("_") and not k.startswith("_"))

    warnings.simplefilter("ignore")
    X = np.random.default_rng(0).standard_normal((50, 10))
    y = np.arange(50) % 3
    kw = dict(hidden_layer_sizes=(2000, 2000), max_iter=1, random_state=0)
    fitted = MLPClassifier(**kw).fit(X, y)             # 4e6 parameters: 32 MB a buffer
    buffer = 8 * fitted._engine.n_params
    calls = [("fit", lambda: MLPClassifier(**kw), lambda m: m.fit(X, y)),
             ("partial_fit", lambda: MLPClassifier(**kw),
              lambda m: m.partial_fit(X, y, classes=[0, 1, 2])),
             ("warm_start", lambda: fitted, lambda m: m.set_params(warm_start=True).fit(X, y)),
             ("partial_fit_again", lambda: fitted, lambda m: m.partial_fit(X, y))]
    out = []
    for k in (0.5, 1.5, 2.5, 3.5, 4.5, 5.5):
        for name, make, call in calls:
            m = make()
            before = dict(keys=sorted(vars(m)), coefs=[c.copy() for c in getattr(m, "coefs_", [])],
                          n_iter=getattr(m, "n_iter_", None), t=getattr(m, "t_", None))
            # a soft limit only: it is lifted again after the call
            soft = vm_size() + int(k * buffer)
            resource.setrlimit(resource.RLIMIT_AS, (soft, resource.RLIM_INFINITY))
            try:
                call(m)
                outcome = "fitted"
            except Exception as e:
                outcome = type(e).__name__
            finally:
                resource.setrlimit(resource.RLIMIT_AS,
                                   (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            res = dict(call=name, buffers=k, outcome=outcome)
            if outcome != "fitted":
                res["same_attributes"] = sorted(vars(m)) == before["keys"]
                coefs = getattr(m, "coefs_", [])
                res["same_coefs"] = len(before["coefs"]) == len(coefs) and all(
                    np.array_equal(a, b) for a, b in zip(before["coefs"], coefs))
                res["same_counters"] = (getattr(m, "n_iter_", None), getattr(m, "t_", None)) \
                    == (before["n_iter"], before["t"])
                res["public"] = public(m)
                res["predicts"] = (not before["coefs"]
                                   or bool(np.isin(m.predict(X[:5]), [0, 1, 2]).all()))
            out.append(res)
    print("RESULT " + json.dumps(out))
"""


def test_allocation_failure_midway_leaves_the_estimator_as_it_was():
    """A network within the memory estimate whose buffers still cannot all be
    allocated (here: an address-space limit at several points of fit):
    MemoryError, and the estimator is left exactly as before the call (a
    fresh one unfitted, a fitted one with its weights and counters)."""
    if SANITIZER:
        pytest.skip("ASan reserves terabytes of address space: RLIMIT_AS cannot work under it")
    results = run_child(MIDWAY_CHILD)
    failed = [r for r in results if r["outcome"] != "fitted"]
    assert failed, "no call failed: lower the limits"
    for r in failed:
        assert r["outcome"] == "MemoryError", r
        assert r["same_attributes"] and r["same_coefs"] and r["same_counters"], r
        assert r["predicts"], r
        if r["call"] in ("fit", "partial_fit"):
            assert r["public"] == [], r


# ---------------------------------------------------------------------------
# diverging fits


def _exploding_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5)) * 1e3
    y = X @ rng.standard_normal(5) * 1e4
    return X, y


@pytest.mark.parametrize("solver,lr,dtype", [("sgd", 10.0, np.float64),
                                             ("adam", 1e20, np.float32)])
def test_diverging_fit_is_reported_clearly(solver, lr, dtype):
    X, y = _exploding_regression()
    X = X.astype(dtype)
    m = MLPRegressor(hidden_layer_sizes=(20,), solver=solver, learning_rate_init=lr,
                     max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as info:
            m.fit(X, y)
    msg = str(info.value)
    assert "non-finite" in msg, msg
    assert "learning_rate_init" in msg or "scale" in msg.lower() or "preprocess" in msg, msg
    assert not hasattr(m, "coefs_"), "a failed first fit left a fitted model"


def test_diverging_partial_fit_leaves_the_model_as_it_was():
    """The partial_fit call that diverges raises and leaves the weights, t_
    and n_iter_ exactly as they were before that call."""
    X, y = _exploding_regression()
    m = MLPRegressor(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=0.5,
                     max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.partial_fit(X / 1e3, y / 1e7)           # well scaled: a finite step
        for _ in range(20):                        # then raw: the steps explode
            before = [a.copy() for a in m.coefs_ + m.intercepts_]
            state = (m.t_, m.n_iter_, len(m.loss_curve_))
            try:
                m.partial_fit(X, y)
            except ValueError as e:
                assert "non-finite" in str(e), e
                break
        else:
            pytest.fail("partial_fit never diverged")
    for a, b in zip(m.coefs_ + m.intercepts_, before):
        np.testing.assert_array_equal(a, b, err_msg="the failed partial_fit changed the weights")
    assert (m.t_, m.n_iter_, len(m.loss_curve_)) == state
    assert np.isfinite(m.predict(X[:5] / 1e3)).all()


def test_diverging_fit_with_early_stopping_restores_the_best_weights():
    X, y = _exploding_regression()
    m = MLPRegressor(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=10.0,
                     max_iter=50, random_state=0, early_stopping=True, validation_fraction=0.2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            m.fit(X, y)
        except ValueError as e:
            assert "non-finite" in str(e), e
            return
    assert any("non-finite" in str(w.message) for w in caught), [str(w.message) for w in caught]
    for a in m.coefs_ + m.intercepts_:
        assert np.isfinite(a).all()
    assert np.isfinite(m.predict(X)).all()


def test_diverging_classifier_is_reported_clearly():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 8)) * 1e6
    y = (X[:, 0] > 0).astype(int)
    m = MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=1e6,
                      momentum=0.99, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m.fit(X, y)
        except ValueError as e:
            assert "non-finite" in str(e), e
            assert not hasattr(m, "coefs_")
            return
    # a classifier whose loss stays finite (log-sum-exp) must still hold finite weights
    for a in m.coefs_ + m.intercepts_:
        assert np.isfinite(a).all()


def test_gemm_out_of_memory_raises_and_leaves_the_estimator_as_it_was():
    """When fastact's GEMM cannot allocate its packing memory the training
    step stops with MemoryError (it does not hand the product to BLAS, which
    would need memory too), and the estimator is left as it was."""
    from fastact._mlp_core import _gemm_alloc_failure
    if not _gemm_alloc_failure(False):
        pytest.skip("training does not run on fastact's GEMM on this CPU")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 30)).astype(np.float32)
    y = np.arange(300) % 3
    kw = dict(hidden_layer_sizes=(40, 20), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = MLPClassifier(**kw).fit(X, y)
        before = [c.copy() for c in fitted.coefs_ + fitted.intercepts_]
        counters = (fitted.n_iter_, fitted.t_, list(fitted.loss_curve_))
        fresh = MLPClassifier(**kw)
        lbfgs = MLPClassifier(solver="lbfgs", **kw)
        _gemm_alloc_failure(True)
        try:
            for call in (lambda: fresh.fit(X, y), lambda: lbfgs.fit(X, y),
                         lambda: fitted.partial_fit(X, y),
                         lambda: fitted.set_params(warm_start=True).fit(X, y)):
                with pytest.raises(MemoryError, match="packing memory"):
                    call()
        finally:
            _gemm_alloc_failure(False)
    assert not hasattr(fresh, "coefs_") and not hasattr(lbfgs, "coefs_")
    assert all(np.array_equal(a, b)
               for a, b in zip(before, fitted.coefs_ + fitted.intercepts_))
    assert (fitted.n_iter_, fitted.t_, list(fitted.loss_curve_)) == counters
    assert np.isin(fitted.predict(X[:10]), [0, 1, 2]).all()
    fitted.set_params(warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted.fit(X, y)                       # and it trains again afterwards
