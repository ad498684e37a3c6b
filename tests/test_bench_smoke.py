"""The benchmark definitions of fastact._bench execute, and every peer form
computes what fastact computes (a wrong peer form would make the benchmark
compare different work).  Tiny sizes, no timing assertions."""

import numpy as np
import pytest

import fastact
from fastact import _bench as B

# loose enough for the peers' own rounding (torch's float64 hardsigmoid slope
# uses a float32 1/6), tight enough to catch a wrong formula
TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-7, atol=1e-9)}
# elements that may differ: a kink the peer places on the input side and
# fastact on the output side (e.g. hardsigmoid's slope at y rounded to 1)
MAX_MISMATCH = 0.002


def _as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


def _check_same(cell, name, ref, got):
    for i, (a, b) in enumerate(zip(_as_tuple(ref), _as_tuple(got))):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"{cell} {name}: shape {b.shape} != {a.shape}"
        tol = dict(TOL[cell.dtype])
        if cell.direction == "fused-bwd" and i == 1 and a.size:
            # the bias gradient is a column sum: peers add in another order, so
            # a column that cancels differs by rounding of its largest terms
            tol["atol"] = max(tol["atol"], tol["rtol"] * float(np.nanmax(np.abs(a))))
        bad = ~np.isclose(a, b, equal_nan=True, **tol)
        assert bad.mean() <= MAX_MISMATCH, (
            f"{cell} {name}: {bad.sum()} of {bad.size} elements differ from fastact, "
            f"max abs diff {np.nanmax(np.abs(a - b)):.3g}")


def _run_cell(cell):
    bench = B.build(cell)
    assert set(bench.contenders) == set(B.contender_names(cell))
    assert bench.contenders["fastact"].role == "fastact"
    ref = bench.run_once("fastact")
    again = bench.run_once("fastact")         # the reset restores the inputs
    for a, b in zip(_as_tuple(ref), _as_tuple(again)):
        np.testing.assert_array_equal(a, b)
    for name, c in bench.contenders.items():
        if c.role in ("peer", "info"):
            _check_same(cell, name, ref, bench.run_once(name))
    t = B.time_interleaved(bench.contenders, bench.reset, repeats=1, warmup=0)
    assert set(t) == set(bench.contenders)
    rec = B._record(bench, 1, t)
    for stat in ("median", "min"):
        assert B.derive(rec, stat)["fa_over_roofline"] > 0
    return rec


@pytest.mark.parametrize("dtype", B.DTYPES)
@pytest.mark.parametrize("direction", ["fwd", "bwd"])
def test_kernel_cells(direction, dtype):
    cells = B.kernel_cells(direction, sizes=(1000,), dtypes=(dtype,))
    assert {c.activation for c in cells} == set(fastact.ACTIVATIONS)
    recs = [_run_cell(c) for c in cells]
    text = B.markdown_report({"machine": B.machine_info(), "records": recs})
    assert "| tanh |" in text


def test_kernel_shapes():
    assert B.KernelCell("fwd", "tanh", 1000, "float32").shape == (1000,)
    for name in ("softmax", "log_softmax", "prelu", "maxout"):
        assert B.KernelCell("fwd", name, 1000, "float64").shape == (10, 100)


def test_fused_cells():
    cells = B.fused_cells()
    assert {c.direction for c in cells} == {"fused-fwd", "fused-bwd"}
    recs = [_run_cell(c) for c in cells]
    assert all("unfused_over_fa" in B.derive(r) for r in recs)
    assert "K-fused" in B.markdown_report({"machine": B.machine_info(), "records": recs})


def test_sklearn_and_torch_peers_present():
    names = B.contender_names(B.KernelCell("fwd", "tanh", 1000, "float32"))
    assert {"fastact", "roofline", "numpy", "sklearn"} <= set(names)
    if B._torch() is not None:
        assert "torch" in names


def test_training_definitions():
    p = B.mlp_params("T1")
    assert p["max_iter"] == 200 and p["tol"] == 0 and p["n_iter_no_change"] > p["max_iter"]
    assert B.mlp_params("T2")["hidden_layer_sizes"] == (256, 128)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((450, 8)).astype(np.float32)
    floor = B.GemmFloor(X, (16, 12), 3, batch_size=200, epochs=1)
    floor.fit()
    assert floor.predict(X).shape == (450, 3)
    if not B.has_estimator():
        assert B.run_training(threads=(1,))[0]["skipped"]


def test_target_rows():
    """The 1k call target is checked both as BENCHMARKS.md states it (us) and
    carried to this machine through the roofline call of the same run."""
    def rec(act, fa, roof):
        return {"workload": "fwd", "activation": act, "dtype": "float32", "n": 1_000,
                "threads": 1, "fastact": fa, "roofline": roof, "fa_over_roofline": fa / roof}
    rows = {d.split(":")[1].split("(")[0].strip(): (v, ok)
            for d, v, _, ok in B.check_targets([rec("relu", 1e-6, 4e-6), rec("gelu", 4e-6, 2.5e-6)])}
    assert rows["slowest call"] == (pytest.approx(4.0), False)            # 4 us > 1.5 us
    assert rows["slowest call / roofline call"] == (pytest.approx(1.6), True)  # 1.6 <= 1.5/0.8


def test_peer_accuracy_script():
    """bench/peer_accuracy.py runs, and fastact keeps the accuracy rule there.
    (A subprocess: the script may put the checkout on sys.path, which this
    process, and the Dask workers later tests start from it, must not see.)"""
    import pathlib
    import subprocess
    import sys
    path = pathlib.Path(__file__).resolve().parent.parent / "bench" / "peer_accuracy.py"
    proc = subprocess.run([sys.executable, str(path), "--activations", "mish,log_softmax",
                           "--dtypes", "float32,float64"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = [r for r in proc.stdout.splitlines() if r.startswith("| mish")
            or r.startswith("| log_softmax")]
    ours = [r for r in rows if "| fastact |" in r]
    assert len(ours) == 6                     # mish fwd + bwd, log_softmax fwd; 2 dtypes
    assert not any("✗" in r for r in ours), ours
