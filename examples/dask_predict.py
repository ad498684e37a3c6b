"""Predict with a fastact model on a Dask cluster, and measure the throughput.

A model is trained in memory on a sample; a large dask array is created on a
LocalCluster (in the workers' memory, spread evenly over them); a
``dask_ml.wrappers.ParallelPostFit`` around the model predicts it chunk by
chunk on the workers.  Printed at 1 worker, then at 2 (each worker: one
process with one thread), best of --repeat runs:

- rows/s on the cluster: the predictions computed and held by the workers;
- rows/s to labels here: the same, gathered into a NumPy array in this process.

    pip install '.[dask]'                 # fastact with dask, distributed, dask-ml
    python examples/dask_predict.py       # 2,000,000 rows, under a minute
    python examples/dask_predict.py --rows 20000000 --workers 1 2 4

The workers are new processes: they import fastact as installed (with an
in-place development build, run from the repository root with PYTHONPATH=.).
"""

import argparse
import os
import time
import uuid
import warnings

import numpy as np


def _problem(n_rows, n_features, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    w = np.random.default_rng(12345).standard_normal(n_features).astype(np.float32)
    y = (X @ w + np.sin(3 * X[:, 0]) > 0).astype(np.int64)
    return X, y


def _chunk(i, n_rows, n_features, seed):
    return np.random.default_rng([seed, i]).standard_normal((n_rows, n_features),
                                                             dtype=np.float32)


def _cpu_seconds():
    import psutil  # a dependency of distributed

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _identity(x):
    return x


def _fresh(X):
    """X under new task keys: Dask would hand back a result still held under
    the same key instead of computing it again (the extra step is fused into
    the predict tasks and costs nothing)."""
    return X.map_blocks(_identity, dtype=X.dtype, name=f"rows-{uuid.uuid4().hex}")


def _cluster_array(client, n_rows, n_features, chunk, seed):
    import dask.array as da
    from dask.distributed import wait

    workers = sorted(client.scheduler_info()["workers"])
    sizes = [min(chunk, n_rows - start) for start in range(0, n_rows, chunk)]
    futures = [client.submit(_chunk, i, size, n_features, seed,
                             workers=[workers[i % len(workers)]], pure=True)
               for i, size in enumerate(sizes)]
    wait(futures)
    return da.concatenate([da.from_delayed(f, shape=(size, n_features), dtype=np.float32)
                           for f, size in zip(futures, sizes)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows to predict")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=50_000, help="rows per chunk")
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 32],
                    help="hidden layer sizes")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="worker counts to measure")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per worker count")
    args = ap.parse_args(argv)
    start = time.perf_counter()

    from dask.distributed import Client, LocalCluster, wait
    from dask_ml.wrappers import ParallelPostFit
    from threadpoolctl import threadpool_limits

    import fastact

    # -- a model, trained in memory -------------------------------------------
    X_train, y_train = _problem(20_000, args.features, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of a short fit
        model = fastact.MLPClassifier(hidden_layer_sizes=tuple(args.hidden), max_iter=20,
                                      random_state=0).fit(X_train, y_train)
    X_test, y_test = _problem(20_000, args.features, seed=1)
    print(f"model: {model.hidden_layer_sizes}, {args.features} features, "
          f"test accuracy {model.score(X_test, y_test):.3f}")

    # reference: the same work in this process, one thread
    X_ref = _problem(min(args.rows, 1_000_000), args.features, seed=2)[0]
    with threadpool_limits(limits=1):
        model.predict(X_ref[:1000])
        t0 = time.perf_counter()
        model.predict(X_ref)
        ref = len(X_ref) / (time.perf_counter() - t0)
    print(f"in memory, 1 thread:   {ref:>12,.0f} rows/s")

    # -- the cluster ------------------------------------------------------------
    clf = ParallelPostFit(model)
    results = {}
    with warnings.catch_warnings():
        # no dashboard; the scheduler's small HTTP server takes another port
        # when 8787 is in use, and says so
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(n_workers=min(args.workers), threads_per_worker=1,
                               processes=True, host="127.0.0.1", dashboard_address=None)
    with cluster, Client(cluster) as client:
        for n in sorted(set(args.workers)):
            cluster.scale(n)
            client.wait_for_workers(n, timeout=120)
            # the data: a dask array whose chunks are generated on the workers
            # and stay in their memory, dealt round-robin over them
            X = _cluster_array(client, args.rows, args.features, args.chunk, seed=100 + n)
            per_worker = sorted(len(keys) for keys in client.has_what().values())
            # warm-up: a chunk on every worker (imports dask-ml and fastact there)
            clf.predict(X[: n * args.chunk]).compute()
            on_cluster = end_to_end = np.inf
            cpu0, wall0 = sum(client.run(_cpu_seconds).values()), time.perf_counter()
            for _ in range(args.repeat):
                # predictions computed and held on the workers
                t0 = time.perf_counter()
                held = client.persist(clf.predict(_fresh(X)))
                wait(held)
                on_cluster = min(on_cluster, time.perf_counter() - t0)
                del held
                # dask array -> NumPy labels in this process
                t0 = time.perf_counter()
                labels = clf.predict(_fresh(X)).compute()
                end_to_end = min(end_to_end, time.perf_counter() - t0)
            # CPU time the workers got (on a shared machine, less than n CPUs)
            # and the rows they predicted per CPU-second of theirs
            cpu = sum(client.run(_cpu_seconds).values()) - cpu0
            busy = cpu / (time.perf_counter() - wall0)
            per_cpu = 2 * args.repeat * args.rows / cpu
            assert labels.shape == (args.rows,)
            # the workers' predictions are the model's
            first = X[: args.chunk].compute()
            assert np.array_equal(labels[: args.chunk], model.predict(first))
            results[n] = args.rows / on_cluster
            print(f"{n} worker(s) x 1 thread: {results[n]:>12,.0f} rows/s on the cluster, "
                  f"{args.rows / end_to_end:>12,.0f} rows/s to labels here\n"
                  f"    chunks per worker {per_worker}; the workers used {busy:.2f} CPUs, "
                  f"{per_cpu:,.0f} rows per CPU-second")
            del X, labels  # free the workers' memory before the next run
    if len(results) > 1:
        lo, hi = min(results), max(results)
        print(f"speed-up {lo} -> {hi} workers: {results[hi] / results[lo]:.2f}x "
              f"on {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f})")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
