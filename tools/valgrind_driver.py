"""What tools/valgrind.sh runs under memcheck: a sweep of every kernel
(both dtypes, odd layouts, in place and out of place, the fused kernels and
losses, the error paths) and small fits / predictions of both estimators.

Small on purpose: memcheck runs it 20-50x slower than native.  Prints
"valgrind_driver: done" at the end; any exception is a failure.
"""

import pickle
import sys
import warnings

import numpy as np

import fastact


def kernel_sweep():
    rng = np.random.default_rng(0)
    names = sorted(dict(fastact.ACTIVATIONS))
    for dtype in (np.float32, np.float64):
        for shape in [(3, 37), (1, 1), (0, 4), (2, 3, 8)]:
            x = (rng.standard_normal(shape) * 3).astype(dtype)
            if x.size >= 5:
                x.flat[:5] = [np.nan, np.inf, -np.inf, 0.0, 1e30]
            d = rng.standard_normal(shape).astype(dtype)
            for name in names:
                if name == "prelu":
                    params = {"alpha": np.linspace(0.1, 0.9, shape[-1]) if shape[-1] else [1.0]}
                    if not shape[-1]:
                        continue
                elif name == "maxout":
                    params = {"pieces": 2 if shape[-1] % 2 == 0 else 1}
                    if params["pieces"] == 1:
                        continue
                else:
                    params = {}
                act = fastact.activation(name, **params)
                y = act.forward(x.copy())
                if name != "maxout":
                    act.forward(x, out=np.empty_like(x))
                    act.forward(np.asfortranarray(x).copy(order="F"))
                    if x.ndim >= 2:
                        act.forward(x[:, ::-1].copy()[:, ::-1])       # negative strides
                    g = act.backward(y, d.copy(), x=x)
                    act.backward(y, y, x=x)                           # delta is y
                else:
                    g = act.backward(None, np.ones_like(y), x=x)
                del g
            if x.ndim == 2:
                b = rng.standard_normal(shape[1]).astype(dtype)
                for name in ("tanh", "gelu", "relu", "softmax", "log_softmax"):
                    act = fastact.activation(name)
                    z = x.copy()
                    saved = np.empty_like(z)
                    act.bias_forward(z, b, saved_input=saved)
                    if name not in ("softmax", "log_softmax"):
                        act.backward_bias_grad(z, d.copy(), x=saved)
                t = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])] \
                    if shape[1] else np.zeros(shape, dtype)
                z = np.nan_to_num(x, posinf=50, neginf=-50)
                p = np.empty_like(z)
                fastact.softmax_cross_entropy(z.copy(), t, np.ones(shape[0]), proba=p)
                fastact.logistic_cross_entropy(z.copy(), t)
    # error paths
    x = np.ones((2, 3))
    for call in (lambda: fastact.forward("tanh", x.astype(np.float16)),
                 lambda: fastact.forward("nope", x),
                 lambda: fastact.forward("prelu", x, alpha=[1.0]),
                 lambda: fastact.backward("gelu", x, x.copy()),
                 lambda: fastact.softmax_cross_entropy(x.copy(), x, -np.ones(2))):
        try:
            call()
        except (TypeError, ValueError):
            pass
    # the OpenMP path (one buffer above the parallel threshold)
    big = rng.standard_normal(1 << 18).astype(np.float32)
    fastact.forward("tanh", big, n_threads=2)
    fastact.backward("tanh", big, np.ones_like(big), n_threads=2)


def estimators():
    try:
        from fastact import MLPClassifier, MLPRegressor
    except ImportError:
        print("valgrind_driver: no estimators yet, kernels only")
        return
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 6))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dtype in (np.float32, np.float64):
            Xd = X.astype(dtype)
            for kw in (dict(solver="adam", activation="relu"),
                       dict(solver="sgd", activation=("leaky_relu", {"alpha": 0.1}), dropout=0.2),
                       dict(solver="lbfgs", activation="tanh"),
                       dict(solver="adam", activation=("maxout", {"pieces": 2}),
                            early_stopping=True)):
                m = MLPClassifier(hidden_layer_sizes=(8, 5), max_iter=3, random_state=0, **kw)
                m.fit(Xd, y)
                m.predict_proba(Xd)
                m.predict(Xd[::-2])
                if kw["solver"] != "lbfgs" and not kw.get("early_stopping"):
                    m.partial_fit(Xd, y)
                pickle.loads(pickle.dumps(m)).predict(Xd[:3])
            r = MLPRegressor(hidden_layer_sizes=(7,), max_iter=3, random_state=0,
                             activation="gelu").fit(Xd, X[:, :2])
            r.predict(np.asfortranarray(Xd))
            import scipy.sparse as sp
            r.predict(sp.csr_matrix(Xd))
            MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(sp.csr_matrix(Xd), y)
            for bad in (lambda: r.predict(Xd[:, :2]),
                        lambda: MLPClassifier(hidden_layer_sizes=(10**6, 10**6)).fit(Xd, y),
                        lambda: MLPClassifier(activation="step").fit(Xd, y)):
                try:
                    bad()
                except (TypeError, ValueError):
                    pass


if __name__ == "__main__":
    print("valgrind_driver: fastact from", fastact.__file__, flush=True)
    kernel_sweep()
    print("valgrind_driver: kernels done", flush=True)
    estimators()
    print("valgrind_driver: done", flush=True)
    sys.exit(0)
