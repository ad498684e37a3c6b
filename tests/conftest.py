"""Shared fixtures and helpers of the kernel test suite."""

import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]

# (test id) -> (max ulp, max relative error) recorded by the accuracy tests
ULP_STATS = {}


def record_accuracy(key, max_ulp, max_rel):
    ULP_STATS[key] = (max_ulp, max_rel)


def pytest_terminal_summary(terminalreporter):
    if not ULP_STATS:
        return
    tr = terminalreporter
    tr.section("fastact accuracy (max ulp / max rel. error vs reference)")
    for key in sorted(ULP_STATS):
        ulp, rel = ULP_STATS[key]
        tr.write_line(f"{key:<40} {ulp:>12.4g} ulp   {rel:.3g}")


@pytest.fixture(params=DTYPES, ids=lambda d: d.name)
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


def child_env(extra=None):
    """Environment for a child interpreter that must import the same fastact as
    this test session: the directory holding that package goes first on
    PYTHONPATH.  (Not the repository root: after ``pip install .`` the source
    tree has no compiled modules, and a child started in it would import the
    uncompiled ``fastact/`` folder.)  Run children with ``cwd=CHILD_CWD``."""
    import fastact

    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastact.__file__)))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


# A working directory for child interpreters, outside the source tree: with
# ``python -c`` the current directory comes first on sys.path.
CHILD_CWD = tempfile.mkdtemp(prefix="fastact-tests-")


def run_isolated(code, timeout=120):
    """Run ``code`` in a fresh interpreter (for inputs that may crash the
    process); returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=CHILD_CWD,
                          env=child_env(), capture_output=True, text=True, timeout=timeout)


def snapshot(*arrays):
    """Copies of every ndarray among ``arrays`` (others pass through)."""
    return [a.copy() if isinstance(a, np.ndarray) else a for a in arrays]


def assert_untouched(arrays, copies):
    for a, c in zip(arrays, copies):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, c, err_msg="input was modified")
            assert a.dtype == c.dtype and a.shape == c.shape


# --- hypothesis budgets (fuzz tests: tests/test_fuzz_*.py) --------------------
# HYPOTHESIS_PROFILE selects the budget: "ci" (the default, what .ci/run and
# `pytest` use: a bounded number of examples per test, no per-example deadline
# since the machine is shared and the sanitizer build is slow) or "long" (a
# soak run, e.g. `HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz_*.py`).
try:
    from hypothesis import HealthCheck as _HealthCheck
    from hypothesis import settings as _hyp_settings
except ImportError:  # hypothesis is a test extra; the fuzz tests importorskip it
    pass
else:
    _HYP_RELAXED = [_HealthCheck.too_slow, _HealthCheck.data_too_large,
                    _HealthCheck.filter_too_much]
    _hyp_settings.register_profile(
        "ci", max_examples=60, deadline=None, print_blob=True,
        suppress_health_check=_HYP_RELAXED)
    _hyp_settings.register_profile(
        "long", max_examples=2000, deadline=None, print_blob=True,
        suppress_health_check=_HYP_RELAXED)
    _hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
