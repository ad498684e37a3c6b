"""T1/T2 (fit) and P1/P2 (predict_proba) of BENCHMARKS.md: fastact's
MLPClassifier vs scikit-learn, a PyTorch loop of the same net and the GEMM
floor, one benchmark group per workload and thread count.  Skipped while
fastact.MLPClassifier does not exist."""

import functools

import numpy as np
import pytest

from fastact import _bench as B

pytestmark = pytest.mark.skipif(
    not B.has_estimator(), reason="fastact.MLPClassifier does not exist yet")

CONTENDERS = ["fastact", "sklearn", "torch", "gemm_floor"]


def _estimator(workload, name):
    if name == "fastact":
        return B.fastact_estimator(workload)
    if name == "sklearn":
        return B.sklearn_estimator(workload)
    if B._torch() is None:
        pytest.skip("torch is not installed")
    return B.torch_estimator(workload)


def _floor(workload):
    Xtr, _, ytr, _ = B.load_workload_data(workload)
    p = B.mlp_params(workload)
    return B.GemmFloor(Xtr, p["hidden_layer_sizes"], len(np.unique(ytr)), p["batch_size"],
                       p["max_iter"])


@functools.lru_cache(maxsize=None)
def _fitted(workload, name, threads):
    Xtr, _, ytr, _ = B.load_workload_data(workload)
    with B.pinned_threads(threads):
        return B._fit_quiet(_estimator(workload, name), Xtr, ytr)


def pytest_generate_tests(metafunc):
    if "threads" in metafunc.fixturenames:
        ts = [int(t) for t in str(metafunc.config.getoption("--threads")).split(",") if t]
        metafunc.parametrize("threads", ts, ids=[f"{t}t" for t in ts])


@pytest.mark.parametrize("name", CONTENDERS)
@pytest.mark.parametrize("workload", ["T1", "T2"])
def test_fit(benchmark, workload, name, threads, request):
    Xtr, Xte, ytr, yte = B.load_workload_data(workload)
    benchmark.group = f"{workload}-fit-{threads}t"
    rounds = 1 if request.config.getoption("--quick") else 3
    with B.pinned_threads(threads):
        if name == "gemm_floor":
            benchmark.pedantic(_floor(workload).fit, rounds=rounds, iterations=1)
            return
        holder = {}

        def setup():
            holder["est"] = _estimator(workload, name)
            return (holder["est"], Xtr, ytr), {}

        benchmark.pedantic(B._fit_quiet, setup=setup, rounds=rounds, iterations=1)
        benchmark.extra_info["accuracy"] = float(holder["est"].score(Xte, yte))


@pytest.mark.parametrize("name", ["fastact", "sklearn"])
def test_p1_one_row(benchmark, name, threads, request):
    _, Xte, _, _ = B.load_workload_data("T1")
    est = _fitted("T1", name, threads)
    row = np.ascontiguousarray(Xte[:1])
    benchmark.group = f"P1-{threads}t"
    rounds = 200 if request.config.getoption("--quick") else 1000
    with B.pinned_threads(threads):
        benchmark.pedantic(est.predict_proba, args=(row,), rounds=rounds, iterations=1,
                           warmup_rounds=20)


@pytest.mark.parametrize("name", CONTENDERS)
def test_p2_10k_rows(benchmark, name, threads, request):
    _, Xte, _, _ = B.load_workload_data("T2")
    benchmark.group = f"P2-{threads}t"
    rounds = 3 if request.config.getoption("--quick") else 11
    with B.pinned_threads(threads):
        if name == "gemm_floor":
            fn = functools.partial(_floor("T2").predict, Xte)
        else:
            fn = functools.partial(_fitted("T2", name, threads).predict_proba, Xte)
        benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
