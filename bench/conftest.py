"""pytest-benchmark suites of fastact (run explicitly: ``pytest bench/``; the
default test run collects only ``tests/``).

Options: ``--quick`` (sizes 1k/100k/1M, fewer rounds), ``--threads 1,2``
(thread counts; default 1), ``--activations tanh,relu`` (subset).  Every
contender of one cell (fastact, roofline, peers) lands in one benchmark group
``<direction>-<activation>-<dtype>-<N>-<threads>t``.  For ratios measured side
by side prefer ``python bench/report.py`` (interleaved timer); these suites run
the contenders one after the other.

Benchmark BLAS-heavy suites with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE pytest bench/ ...``.
"""

import numpy as np
import pytest

from fastact import _bench as B


def pytest_addoption(parser):
    group = parser.getgroup("fastact-bench")
    group.addoption("--quick", action="store_true", default=False,
                    help="smaller sizes and fewer rounds")
    group.addoption("--threads", default="1",
                    help="comma-separated thread counts to pin (default 1)")
    group.addoption("--activations", default=None,
                    help="comma-separated activations (default: all)")


def _threads(config):
    return [int(t) for t in str(config.getoption("--threads")).split(",") if t]


def _activations(config):
    acts = config.getoption("--activations")
    return [a.strip() for a in acts.split(",")] if acts else None


def pytest_generate_tests(metafunc):
    cfg = metafunc.config
    if "kernel_case" in metafunc.fixturenames:
        direction = metafunc.module.DIRECTION
        if isinstance(direction, dict):
            direction = direction[metafunc.function.__name__]
        sizes = B.QUICK_SIZES if cfg.getoption("--quick") else B.SIZES
        acts = _activations(cfg)
        if direction.startswith("fused"):
            cells = [c for c in B.fused_cells(acts) if c.direction == direction]
        else:
            cells = B.kernel_cells(direction, sizes, activations=acts)
        cases = [(cell, nt, name) for cell in cells for nt in _threads(cfg)
                 for name in B.contender_names(cell)]
        metafunc.parametrize("kernel_case", cases,
                             ids=[f"{c}-{nt}t-{name}" for c, nt, name in cases])


class _OneCellCache:
    """The last built cell: the contenders of a cell run consecutively, so a
    single entry avoids rebuilding 10M-element buffers for each of them."""

    def __init__(self):
        self.cell = self.bench = None

    def get(self, cell):
        if self.cell != cell:
            self.bench = None
            self.bench = B.build(cell)
            self.cell = cell
        return self.bench


_CACHE = _OneCellCache()


@pytest.fixture
def run_kernel_case(request):
    quick = request.config.getoption("--quick")

    def run(benchmark, case):
        cell, nt, name = case
        bench = _CACHE.get(cell)
        c = bench.contenders[name]
        rounds = (B._FUSED_REPEATS["quick" if quick else "full"]
                  if isinstance(cell, B.FusedCell) else B.repeats_for(cell.n, quick))
        benchmark.group = f"{cell.group}-{nt}t"
        benchmark.name = f"{name}"
        benchmark.extra_info.update(
            contender=name, label=c.label, role=c.role, activation=cell.activation,
            n=cell.n, dtype=cell.dtype, threads=nt,
            roofline_scale=bench.roofline_scale if c.role == "roofline" else 1.0)
        with B.pinned_threads(nt), np.errstate(all="ignore"):
            benchmark.pedantic(c.fn, setup=bench.reset, rounds=rounds, iterations=1,
                               warmup_rounds=1)
    return run
