"""Resources: no memory growth over thousands of repeated small calls.

Resident memory is read from /proc/self/statm after a warm-up, with the
garbage collector run and glibc's free lists trimmed before each reading;
the bounds are generous (a few MB over thousands of calls): what they catch
is a buffer lost per call, not allocator noise.  No timing is asserted.

Skipped under the sanitizer build (FASTACT_SANITIZER): ASan's quarantine and
shadow memory make RSS meaningless; there, leaks are valgrind's job
(tools/valgrind.sh).
"""

import ctypes
import gc
import os
import pickle
import warnings

import numpy as np
import pytest

import fastact

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get("FASTACT_SANITIZER")),
                       reason="RSS is meaningless under AddressSanitizer"),
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm"),
]

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 2**20

try:
    _LIBC = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc
    _LIBC = None


def rss():
    gc.collect()
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def growth(step, n, warmup):
    """RSS growth over n calls of step(i) after `warmup` calls; also the
    growth over the second half alone (a steady leak shows in both)."""
    for i in range(warmup):
        step(i)
    r0 = rss()
    for i in range(n // 2):
        step(i)
    r1 = rss()
    for i in range(n // 2, n):
        step(i)
    r2 = rss()
    return r2 - r0, r2 - r1


def test_kernels_do_not_leak():
    rng = np.random.default_rng(0)
    x32 = rng.standard_normal((16, 33)).astype(np.float32)
    x64 = rng.standard_normal((16, 33))
    t = np.eye(33)[rng.integers(0, 33, 16)]
    w = rng.random(16)
    b = rng.standard_normal(33)
    names = ["tanh", "gelu", "swish", "softmax", "log_softmax", "elu", "softplus", "mish"]

    def step(i):
        name = names[i % len(names)]
        x = x32 if i % 2 else x64
        y = fastact.forward(name, x.copy())
        fastact.backward(name, y, np.ones_like(y), x=x)
        fastact.forward(name, x, out=np.empty_like(x))
        fastact.forward(name, x[:, ::2].copy(order="F"))
        fastact.forward("prelu", x.copy(), alpha=np.full(33, 0.1 + i % 7))   # not cached
        fastact.backward("prelu", y, np.ones_like(y), alpha=np.full(33, 0.25))
        yo = fastact.forward("maxout", x[:, :32], pieces=2)
        fastact.backward("maxout", yo, np.ones_like(yo), x=x[:, :32], pieces=2)
        z = x64.copy()
        fastact.bias_act_forward("tanh", z, b, saved_input=np.empty_like(z))
        fastact.backward_bias_grad("tanh", z, np.ones_like(z))
        fastact.softmax_cross_entropy(x64.copy(), t, w, proba=np.empty_like(x64))
        fastact.logistic_cross_entropy(x64.copy(), t)
        fastact.activation("leaky_relu", alpha=0.01 + (i % 50) * 1e-3)
        # failing calls take the error paths
        for bad in (lambda: fastact.forward("tanh", x.astype(np.float16)),
                    lambda: fastact.forward("no_such", x),
                    lambda: fastact.forward("prelu", x, alpha=np.ones(3)),
                    lambda: fastact.backward("gelu", x, x.copy()),
                    lambda: fastact.softmax_cross_entropy(x64.copy(), t, -w)):
            try:
                bad()
            except (TypeError, ValueError):
                pass

    total, second_half = growth(step, 4000, 400)
    assert total < 8 * MB and second_half < 6 * MB, \
        f"RSS grew by {total / MB:.1f} MB over 4000 rounds of kernel calls " \
        f"({second_half / MB:.1f} MB in the second half)"


try:
    from fastact import MLPClassifier, MLPRegressor
    HAVE_MLP = True
except ImportError:
    HAVE_MLP = False


@pytest.mark.skipif(not HAVE_MLP, reason="fastact.MLPClassifier/MLPRegressor are not "
                    "available yet")
def test_repeated_small_fit_predict_does_not_leak():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 20))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    X32 = X.astype(np.float32)
    Xbig = rng.standard_normal((3000, 20))
    configs = [
        dict(cls=MLPClassifier, hidden_layer_sizes=(128,), solver="adam"),
        dict(cls=MLPClassifier, hidden_layer_sizes=(64, 32), solver="sgd", activation="gelu",
             dropout=0.2),
        dict(cls=MLPClassifier, hidden_layer_sizes=(96,), solver="lbfgs", activation="tanh"),
        dict(cls=MLPRegressor, hidden_layer_sizes=(128,), solver="adam",
             activation=("maxout", {"pieces": 2})),
        dict(cls=MLPClassifier, hidden_layer_sizes=(64,), solver="adam", early_stopping=True),
    ]

    def step(i):
        c = dict(configs[i % len(configs)])
        cls = c.pop("cls")
        Xi = X32 if i % 2 else X
        target = y if cls is MLPClassifier else X[:, :2]
        m = cls(max_iter=2, random_state=i % 5, **c).fit(Xi, target)
        m.predict(Xi)
        m.predict(Xbig[: 100 + (i % 7) * 50])
        if hasattr(m, "predict_proba"):
            m.predict_proba(Xi[:5])
        if i % 3 == 0 and c.get("solver") != "lbfgs" and not c.get("early_stopping"):
            m.partial_fit(Xi, target)
        if i % 10 == 0:
            pickle.loads(pickle.dumps(m)).predict(Xi[:3])
            m.predict(Xbig)                       # the OpenMP path of predict
        # failing calls: validation errors and a refused network
        bads = [lambda: m.predict(Xi[:, :3])]
        if i % 10 == 5:
            bads += [lambda: cls(hidden_layer_sizes=(0,)).fit(Xi, target),
                     lambda: cls(activation="step", max_iter=1).fit(Xi, target),
                     lambda: cls(hidden_layer_sizes=(10**6, 10**6)).fit(Xi, target)]
        for bad in bads:
            try:
                bad()
            except (TypeError, ValueError):
                pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        total, second_half = growth(step, 1000, 50)
    assert total < 24 * MB and second_half < 16 * MB, \
        f"RSS grew by {total / MB:.1f} MB over 1000 small fit + 3000 predict rounds " \
        f"({second_half / MB:.1f} MB in the second half)"
