"""Forward kernels against the high-precision reference (ACTIVATIONS.md).

Accuracy rule of the spec: relative error <= 2e-6 (float32) / 1e-13 (float64)
where the true value is normal; an absolute floor of the smallest normal
where it is subnormal.  Stability: finite for finite inputs (where the true
value is representable), NaN -> NaN, +-inf -> the mathematical limit.
"""

import math

import numpy as np
import pytest

import fastact
import reference as ref
from conftest import DTYPES, record_accuracy

VARIANT_IDS = [v[0] for v in ref.VARIANTS]
_GRIDS = {}


def grid(dtype, extra=()):
    key = (np.dtype(dtype), tuple(extra))
    if key not in _GRIDS:
        _GRIDS[key] = ref.dense_grid(dtype, extra)
    return _GRIDS[key].copy()


def _extra_points(name, params):
    return tuple(k for k in ref.kinks(name, **params) if np.isfinite(k))


def _gate_underflows(name, params, x, dtype):
    """x * gate(x) activations (swish, mish) where the gate itself is below
    the normal range of dtype: covered by test_gated_tail_where_gate_is_subnormal."""
    if ref.canonical(name) not in ("swish", "mish"):
        return np.zeros(x.shape, bool)
    beta = params.get("beta", 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        return beta * x.astype(np.float64) < np.log(np.finfo(dtype).smallest_normal)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("vid,name,params", ref.VARIANTS, ids=VARIANT_IDS)
def test_elementwise_accuracy(vid, name, params, dtype):
    x = grid(dtype, _extra_points(name, params))
    x = x[~_gate_underflows(name, params, x, dtype)]
    expected = ref.forward_ref(name, x.astype(np.float64), **params)
    y = fastact.forward(name, x.copy(), **params)
    assert y.dtype == dtype and y.shape == x.shape

    bad = ref.accuracy_violations(y, expected, dtype)
    finite = np.isfinite(expected) & np.isfinite(y)
    ulps = ref.ulp_distance(y[finite], expected[finite], dtype)
    rel = ref.relative_error(y[finite], expected[finite], dtype)
    normal = np.abs(expected[finite]) >= np.finfo(dtype).smallest_normal
    record_accuracy(f"{vid}[{dtype.name}]", float(ulps[normal].max(initial=0)),
                    float(rel[normal].max(initial=0)))
    assert not bad.any(), f"{vid} {dtype.name}: " + ref.describe(x, y, expected, bad)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("vid,name,params", ref.VARIANTS, ids=VARIANT_IDS)
def test_elementwise_special_values(vid, name, params, dtype):
    """NaN -> NaN, +-inf -> the limit, +-0 and subnormals exact enough."""
    x = ref.special_values(dtype)
    expected = ref.forward_ref(name, x.astype(np.float64), **params)
    y = fastact.forward(name, x.copy(), **params)
    assert np.isnan(y[np.isnan(x)]).all(), "NaN must give NaN"
    for v in (np.inf, -np.inf):
        got = y[x == v][0]
        want = ref.as_dtype(expected[x == v], dtype)[0]
        assert got == want, f"{vid}({v}) = {got}, the limit is {want}"
    bad = ref.accuracy_violations(y, expected, dtype)
    assert not bad.any(), ref.describe(x, y, expected, bad)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("vid,name,params", ref.VARIANTS, ids=VARIANT_IDS)
def test_elementwise_finite_for_finite_inputs(vid, name, params, dtype):
    """No overflow or NaN where the true value is representable (exp and the
    unbounded activations overflow only where the true value does)."""
    fi = np.finfo(dtype)
    with np.errstate(over="ignore"):
        mags = np.logspace(0, np.log10(float(fi.max)), 200).astype(dtype)
    mags = mags[np.isfinite(mags)]
    x = np.concatenate([mags, -mags, [fi.max, -fi.max]]).astype(dtype)
    expected = ref.as_dtype(ref.forward_ref(name, x.astype(np.float64), **params), dtype)
    y = fastact.forward(name, x.copy(), **params)
    assert not np.isnan(y).any(), ref.describe(x, y, expected, np.isnan(y))
    should = np.isfinite(expected)
    assert np.isfinite(y[should]).all(), ref.describe(x, y, expected, should & ~np.isfinite(y))
    assert (y[~should] == expected[~should]).all()


@pytest.mark.parametrize("dtype,lo,hi", [(np.float32, -115.0, -80.0),
                                         (np.float64, -765.0, -700.0)],
                         ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["swish", "softplus"])
def test_beta_one_loops_over_the_left_tail(name, dtype, lo, hi):
    """swish and softplus with beta = 1 run loops of their own (no argument
    error to feed back; swish takes its exponential scaled): over the left
    tail, where e^x leaves the normal range before the result does, forward
    and slope keep the spec's bounds, and the result is 0 only where the true
    value is below the subnormals."""
    x = np.concatenate([np.linspace(lo, hi, 20001), np.linspace(-30, 30, 2001)]).astype(dtype)
    x64 = x.astype(np.float64)
    y = fastact.forward(name, x.copy())
    want = ref.forward_ref(name, x64)
    bad = ref.accuracy_violations(y, want, dtype)
    assert not bad.any(), ref.describe(x, y, want, bad)
    slope_src = x if fastact.ACTIVATIONS[name].slope_from == "input" else y
    d = fastact.backward(name, y, np.ones_like(x), x=x)
    want_d = ref.slope(name, slope_src.astype(np.float64)) \
        if fastact.ACTIVATIONS[name].slope_from == "output" else ref.derivative(name, x64)
    scale = ref.slope_terms(name, slope_src.astype(np.float64))
    bad = ref.accuracy_violations(d, want_d, dtype, scale=scale)
    assert not bad.any(), ref.describe(x, d, want_d, bad)
    assert (y[np.abs(want) >= float(np.finfo(dtype).smallest_subnormal)] != 0).all()


@pytest.mark.parametrize("name,params,dtype,x", [
    ("swish", {}, np.float32, [-91.63654, -91.52284, -91.83655]),
    ("mish", {}, np.float32, [-91.63654, -91.52284, -91.83655]),
    ("swish", {"beta": 0.5}, np.float32, [-184.44568, -185.07309]),
    ("swish", {"beta": 0.5}, np.float64, [-1431.2928370645282]),
], ids=["swish-f32", "mish-f32", "swish-b0.5-f32", "swish-b0.5-f64"])
def test_gated_tail_where_gate_is_subnormal(name, params, dtype, x):
    """x * sigma(x) is still a normal number where sigma(x) is subnormal: the
    spec's relative bound applies there."""
    x = np.array(x, dtype=dtype)
    expected = ref.forward_ref(name, x.astype(np.float64), **params)
    assert (np.abs(expected) >= np.finfo(dtype).smallest_normal).all()
    y = fastact.forward(name, x.copy(), **params)
    bad = ref.accuracy_violations(y, expected, dtype)
    assert not bad.any(), ref.describe(x, y, expected, bad)


def test_reference_defaults_match_the_table():
    """tests/reference.py mirrors the spec: one row per activation with the
    same parameter defaults, slope source, pattern and aliases."""
    assert set(fastact.ACTIVATIONS) == set(ref.REFERENCE)
    for name, info in fastact.ACTIVATIONS.items():
        row = ref.row(name)
        assert dict(info.params) == row.defaults, name
        assert info.slope_from == row.slope_from, name
        assert info.pattern == row.pattern, name
        assert set(info.aliases) == {a for a, c in ref.ALIASES.items() if c == name}, name
    for vid, name, params in ref.VARIANTS:
        assert set(params) <= set(fastact.ACTIVATIONS[name].params), vid


# ---------------------------------------------------------------------------
# elementwise activations with extreme parameters

EXTREME = [
    ("softplus-t1e30", "softplus", {"threshold": 1e30}),
    ("softplus-b2^-10", "softplus", {"beta": 2.0**-10}),
    ("softplus-b2^10", "softplus", {"beta": 2.0**10}),
    ("softplus-b2^10-t1e30", "softplus", {"beta": 2.0**10, "threshold": 1e30}),
    ("elu-a1e-3", "elu", {"alpha": 1e-3}),
    ("celu-a1e-3", "celu", {"alpha": 1e-3}),
    ("celu-a2^-20", "celu", {"alpha": 2.0**-20}),
    ("selu-a3-s0.5", "selu", {"alpha": 3.0, "scale": 0.5}),
    ("hard_tanh-m0.1-1e30", "hard_tanh", {"min_val": -0.1, "max_val": 1e30}),
    ("hard_tanh-m0.25-0.75", "hard_tanh", {"min_val": 0.25, "max_val": 0.75}),
    ("hard_tanh-m1e30-1e29", "hard_tanh", {"min_val": -1e30, "max_val": -1e29}),
    ("step-t-2.5", "step", {"threshold": -2.5}),
    ("step-t1e4", "step", {"threshold": 1e4}),
    ("swish-b-1", "swish", {"beta": -1.0}),
    ("swish-b-0.5", "swish", {"beta": -0.5}),
    ("swish-b8", "swish", {"beta": 8.0}),
]


def _extreme_grid(dtype, name, params):
    fi = np.finfo(dtype)
    lo, hi = math.log10(float(fi.smallest_subnormal)), math.log10(float(fi.max))
    with np.errstate(over="ignore"):
        mags = np.logspace(lo, hi, 160).astype(dtype)
    mags = mags[np.isfinite(mags)]
    kinks = [k for k in ref.kinks(name, **params) if abs(k) <= float(fi.max)]
    return np.concatenate([ref.special_values(dtype), mags, -mags,
                           np.linspace(-40, 40, 161).astype(dtype),
                           ref._around(kinks, dtype, 2)]).astype(dtype)


def _subnormal_intermediate(name, params, x, dtype):
    """Gates (swish, mish) and softplus's e^(beta x) below the normal range of
    dtype, where the result may still be normal: see
    test_gated_tail_where_gate_is_subnormal and test_softplus_left_tail_float32."""
    if ref.canonical(name) != "softplus":
        return _gate_underflows(name, params, x, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        return params.get("beta", 1.0) * x.astype(np.float64) < np.log(
            np.finfo(dtype).smallest_normal)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("vid,name,params", EXTREME, ids=[v[0] for v in EXTREME])
def test_elementwise_extreme_parameters(vid, name, params, dtype):
    """Stable for parameters far from the defaults: NaN -> NaN, +-inf -> the
    limit, no NaN / overflow for finite x where the true value is finite, and
    the spec's accuracy."""
    x = _extreme_grid(dtype, name, params)
    expected = ref.forward_ref(name, x.astype(np.float64), **params)
    with np.errstate(all="ignore"):
        y = fastact.forward(name, x.copy(), **params)
    assert np.isnan(y[np.isnan(x)]).all(), "NaN must give NaN"
    assert not np.isnan(y[~np.isnan(x)]).any(), ref.describe(x, y, expected, np.isnan(y))
    want = ref.as_dtype(expected, dtype)
    inf = np.isinf(want) | np.isinf(x)
    assert (y[inf] == want[inf]).all(), ref.describe(x, y, expected, inf & (y != want))
    keep = ~_subnormal_intermediate(name, params, x, dtype)
    bad = ref.accuracy_violations(y[keep], expected[keep], dtype)
    assert not bad.any(), f"{vid} {dtype.name}: " + ref.describe(x[keep], y[keep],
                                                                 expected[keep], bad)


@pytest.mark.parametrize("params,x", [
    ({"beta": 1000.0}, [-0.0804, -0.0802, -0.079]),
    ({"beta": 0.1}, [-896.05, -895.15, -892.0]),
], ids=["beta1000-rounded-argument", "beta0.1-subnormal-exp"])
def test_softplus_left_tail_float32(params, x):
    x = np.array(x, dtype=np.float32)
    expected = ref.forward_ref("softplus", x.astype(np.float64), **params)
    assert (np.abs(expected) >= np.finfo(np.float32).smallest_normal).all()
    y = fastact.forward("softplus", x.copy(), **params)
    bad = ref.accuracy_violations(y, expected, np.float32)
    assert not bad.any(), ref.describe(x, y, expected, bad)


def test_softplus_huge_threshold_does_not_overflow_float32():
    for beta, v in [(2.0, np.finfo(np.float32).max), (1000.0, 1e36)]:
        x = np.array([v], dtype=np.float32)
        y = fastact.forward("softplus", x.copy(), beta=beta, threshold=1e300)
        assert np.isfinite(y).all() and abs(y[0] / x[0] - 1) <= 2e-6, (beta, x, y)


def test_step_threshold_is_not_rounded_to_float32():
    for threshold, v in [(0.1, 0.1), (1e30, 1e30), (-1e-50, 0.0)]:
        x = np.array([v], dtype=np.float32)
        assert float(x[0]) > threshold
        y = fastact.forward("step", x.copy(), threshold=threshold)
        assert y[0] == 1, (threshold, x, y)


def test_swish_beta_zero_at_infinity(dtype):
    x = np.array([np.inf, -np.inf, 3.0], dtype=dtype)
    y = fastact.forward("swish", x.copy(), beta=0.0)
    np.testing.assert_array_equal(y, [np.inf, -np.inf, 1.5])


@pytest.mark.parametrize("name,params", [
    ("celu", {"alpha": 1000.0}), ("selu", {"alpha": 1e-3, "scale": 1000.0}),
], ids=["celu-a1000", "selu-a1e-3-s1000"])
def test_subnormal_intermediate_with_normal_result_float32(name, params):
    x = np.array([-1.1754944e-38, -2.3509887e-38, -3.0805857e-38], dtype=np.float32)
    expected = ref.forward_ref(name, x.astype(np.float64), **params)
    assert (np.abs(expected) >= np.finfo(np.float32).smallest_normal).all()
    y = fastact.forward(name, x.copy(), **params)
    bad = ref.accuracy_violations(y, expected, np.float32)
    assert not bad.any(), ref.describe(x, y, expected, bad)


# ---------------------------------------------------------------------------
# softmax family: rows along the last axis

ROWWISE = ["softmax", "log_softmax"]


def _rows(rng, shape, dtype):
    """Rows of very different spreads (unit, 30, 1e4, near the dtype's maximum,
    across the exp underflow of the dtype).  Each row's two largest entries are
    within 4: the reference's 40 digits cannot resolve log_softmax's top entry
    -log1p(r) for r below ~1e-26 (test_softmax_family_two_entries_far_apart
    covers that with the closed form)."""
    fi = np.finfo(dtype)
    spreads = [1.0, 30.0, 1e4, float(fi.max) / 8, -np.log(float(fi.smallest_normal)) / 2]
    x = rng.standard_normal(shape).reshape(-1, shape[-1])
    for i, row in enumerate(x):
        row *= spreads[i % len(spreads)]
        top = int(np.argmax(row))
        row[(top + 1) % len(row)] = row[top] - rng.uniform(0, 4)
    return x.reshape(shape).astype(dtype)


@pytest.mark.parametrize("shape", [(7, 33), (2, 3, 19)], ids=str)
@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_accuracy(name, shape, dtype, rng):
    x = _rows(rng, shape, dtype)
    expected = ref.forward_ref(name, x.astype(np.float64))
    y = fastact.forward(name, x, out=np.empty_like(x))
    assert y.dtype == dtype and y.shape == shape
    bad = ref.accuracy_violations(y, expected, dtype)
    finite = np.isfinite(expected) & np.isfinite(y)
    normal = np.abs(expected[finite]) >= np.finfo(dtype).smallest_normal
    ulps = ref.ulp_distance(y[finite], expected[finite], dtype)
    rel = ref.relative_error(y[finite], expected[finite], dtype)
    record_accuracy(f"{name}{list(shape)}[{dtype.name}]", float(ulps[normal].max(initial=0)),
                    float(rel[normal].max(initial=0)))
    assert not bad.any(), f"{name} {dtype.name}: " + ref.describe(x, y, expected, bad)


# Row widths meet three code paths: short rows (<= 32) in blocks with
# sequential sums, mid-width rows (<= 256) in blocks with 16-lane sums, wide
# rows one at a time; the widths around each boundary are covered.
WIDTHS = [1, 2, 10, 32, 33, 100, 256, 257, 1000]


@pytest.mark.parametrize("cols", WIDTHS)
@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_accuracy_at_every_row_width(name, cols, dtype, rng):
    x = _rows(rng, (3000 // cols + 3, cols), dtype)
    expected = ref.forward_ref(name, x.astype(np.float64))
    y = fastact.forward(name, x.copy())
    bad = ref.accuracy_violations(y, expected, dtype)
    assert not bad.any(), f"{name} {dtype.name}: " + ref.describe(x, y, expected, bad)


@pytest.mark.parametrize("cols", [3, 10, 40, 100, 300])
@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_row_does_not_depend_on_other_rows(name, cols, dtype, rng):
    """Rows are processed in blocks; a row's bits must not depend on which
    block it falls in, on a +inf or NaN row next to it, or on the thread
    count (which moves the block boundaries)."""
    x = rng.standard_normal((2500, cols)).astype(dtype) * 5
    x[1200, 0] = np.inf
    x[1201, -1] = np.nan
    one = fastact.forward(name, x, out=np.empty_like(x), n_threads=1)
    two = fastact.forward(name, x, out=np.empty_like(x), n_threads=2)
    np.testing.assert_array_equal(one, two)
    for i in (0, 1199, 1200, 1201, 1202, 2499):
        alone = fastact.forward(name, x[i:i + 1].copy())
        np.testing.assert_array_equal(one[i], alone[0])
    d = rng.standard_normal(x.shape).astype(dtype)
    y = np.nan_to_num(one, nan=0.0, neginf=-30.0)
    b1 = fastact.backward(name, y, d.copy(), n_threads=1)
    b2 = fastact.backward(name, y, d.copy(), n_threads=2)
    np.testing.assert_array_equal(b1, b2)
    for i in (0, 1200, 2499):
        alone = fastact.backward(name, y[i:i + 1].copy(), d[i:i + 1].copy())
        np.testing.assert_array_equal(b1[i], alone[0])


def _check_rows(name, x, want):
    """forward(name, x) against explicit limits ``want`` (which the reference's
    row rule must give too)."""
    y = fastact.forward(name, x, out=np.empty_like(x))
    want = np.asarray(want, dtype=np.float64)
    assert not ref.accuracy_violations(ref.forward_ref(name, x.astype(np.float64)), want,
                                       np.float64).any()
    bad = ref.accuracy_violations(y, want, x.dtype)
    assert not bad.any(), f"{name} {x.dtype.name}: " + ref.describe(x, y, want, bad)


@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_infinite_entries(name, dtype):
    """+inf entries share the mass equally (log_softmax: -log(count) there,
    -inf elsewhere); -inf entries next to finite ones get 0 (-inf)."""
    fmax, inf = np.finfo(dtype).max, np.inf
    x = np.array([[inf, 0.0, -inf, 3.0],
                  [inf, inf, -5.0, inf],
                  [-inf, 2.0, -inf, -inf],
                  [inf, inf, inf, inf],
                  [fmax, -inf, inf, -fmax]], dtype=dtype)
    if name == "softmax":
        want = [[1, 0, 0, 0], [1 / 3, 1 / 3, 0, 1 / 3], [0, 1, 0, 0], [0.25] * 4, [0, 0, 1, 0]]
    else:
        l3, l4 = -np.log(3.0), -np.log(4.0)
        want = [[0, -inf, -inf, -inf], [l3, l3, -inf, l3], [-inf, 0, -inf, -inf],
                [l4] * 4, [-inf, -inf, 0, -inf]]
    _check_rows(name, x, want)


@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_nan_and_all_minus_inf_rows(name, dtype):
    """A NaN anywhere makes its row NaN; a row of -inf only is 0/0 (NaN); a
    single -inf or NaN is such a row.  The other rows are unaffected."""
    nan, inf = np.nan, np.inf
    x = np.array([[nan, 0.0, 1.0], [2.0, -inf, nan], [nan] * 3, [-inf] * 3,
                  [0.0, -inf, 2.0]], dtype=dtype)
    y = fastact.forward(name, x, out=np.empty_like(x))
    assert np.isnan(y[:4]).all(), y
    expected = ref.forward_ref(name, x.astype(np.float64))
    bad = ref.accuracy_violations(y, expected, dtype)
    assert not bad.any(), ref.describe(x, y, expected, bad)
    for v in (-inf, nan):
        assert np.isnan(fastact.forward(name, np.array([[v]], dtype=dtype))).all()


@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_nan_beats_infinity(name, dtype):
    x = np.array([[np.nan, np.inf, 0.0], [np.inf, -np.inf, np.nan]], dtype=dtype)
    y = fastact.forward(name, x, out=np.empty_like(x))
    assert np.isnan(y).all(), y


@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_rows_of_one_element(name, dtype):
    """softmax of a single entry is 1 and log_softmax 0, whatever the entry
    (+inf included); as (n, 1) rows and as a 1-D array of length 1."""
    fi = np.finfo(dtype)
    v = np.array([-fi.max, -1e30, -2.5, -0.0, 0.0, fi.smallest_subnormal, 7.0, fi.max,
                  np.inf], dtype=dtype)
    want = np.full((v.size, 1), 1.0 if name == "softmax" else 0.0)
    _check_rows(name, v[:, None], want)
    for i in range(v.size):
        y = fastact.forward(name, v[i:i + 1].copy())
        assert y.shape == (1,) and not ref.accuracy_violations(y, want[i], dtype).any(), (v[i], y)


@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_rows_are_normalized(name, dtype, rng):
    """softmax rows sum to 1 and log_softmax rows log-sum-exp to 0 for any
    row length; the spec's bound per entry gives the tolerance (log_softmax:
    errors of rtol |y_i| weighted by e^y_i, at most rtol log n)."""
    rtol = ref.rtol_for(dtype)
    for n in (1, 2, 7, 64, 1000):
        x = (rng.standard_normal((6, n)) * [[0.1], [1], [10], [100], [1e4], [1e30]]).astype(dtype)
        y = fastact.forward(name, x, out=np.empty_like(x)).astype(np.float64)
        p = y if name == "softmax" else np.exp(y)
        tol = rtol * (1 + (0 if name == "softmax" else np.log(n))) + n * 2e-16
        assert (np.abs(p.sum(axis=-1) - 1) <= tol).all(), (n, p.sum(axis=-1) - 1)


@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_family_in_place(name, dtype, rng):
    """x is out (the default): each row's max and sum are taken from the input
    before the row is overwritten."""
    x = _rows(rng, (6, 37), dtype)
    expected = ref.forward_ref(name, x.astype(np.float64))
    for use_out in (False, True):
        a = x.copy()
        y = fastact.forward(name, a, out=a) if use_out else fastact.forward(name, a)
        assert y is a
        bad = ref.accuracy_violations(y, expected, dtype)
        assert not bad.any(), ref.describe(x, y, expected, bad)


@pytest.mark.parametrize("gap", [20.0, 50.0, 80.0, 300.0, 700.0])
def test_softmax_family_two_entries_far_apart(gap, dtype):
    """[[0, -gap]]: log_softmax = [-t, -gap - t], t = log1p(e^-gap).  log of the
    rounded sum 1 + e^-gap is log(1) = 0 in float32 already at gap 20 (and has
    ~8 correct digits in float64), while -t is a normal number up to gap ~87
    (float32) / ~708 (float64).  Closed form: the reference's 40 digits lose
    t beyond gap ~60."""
    t = math.log1p(math.exp(-gap))
    x = np.array([[0.0, -gap], [-gap, 0.0]], dtype=dtype)
    want = {"log_softmax": [[-t, -gap - t], [-gap - t, -t]],
            "softmax": [[1 / (1 + math.exp(-gap)), math.exp(-gap - t)],
                        [math.exp(-gap - t), 1 / (1 + math.exp(-gap))]]}
    for name in ROWWISE:
        y = fastact.forward(name, x, out=np.empty_like(x))
        bad = ref.accuracy_violations(y, want[name], dtype)
        assert not bad.any(), f"{name}: " + ref.describe(x, y, np.asarray(want[name]), bad)


def test_softmax_small_probabilities_float32():
    """Probabilities down to ~1e-35 are normal float32 values: 2e-6 applies."""
    x = np.array([[0.1, -80.3], [1.7, -70.9], [-0.3, -60.77]], dtype=np.float32)
    expected = ref.forward_ref("softmax", x.astype(np.float64))
    y = fastact.forward("softmax", x, out=np.empty_like(x))
    bad = ref.accuracy_violations(y, expected, np.float32)
    assert not bad.any(), ref.describe(x, y, expected, bad)


# ---------------------------------------------------------------------------
# prelu (per-feature alpha) and maxout


@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)], ids=str)
def test_prelu_per_feature_alpha(shape, dtype, rng):
    alpha = np.array([0.01, 0.25, 1.0, 2.0, 1e-3])
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    specials = [np.nan, np.inf, -np.inf, -0.0, -float(np.finfo(dtype).max)]
    x.reshape(-1)[:5] = specials
    expected = ref.forward_ref("prelu", x.astype(np.float64), alpha=alpha)
    y = fastact.forward("prelu", x.copy(), alpha=alpha)
    bad = ref.accuracy_violations(y, expected, dtype)
    assert not bad.any(), ref.describe(x, y, expected, bad)
    # each feature column uses its own alpha
    neg = x < 0
    col = np.broadcast_to(np.arange(5), shape)
    with np.errstate(invalid="ignore"):
        ratio = y[neg & np.isfinite(x)] / x[neg & np.isfinite(x)]
    np.testing.assert_allclose(ratio, alpha[col[neg & np.isfinite(x)]], rtol=1e-6)


@pytest.mark.parametrize("pieces", [2, 3])
@pytest.mark.parametrize("lead", [(), (4,), (2, 3)], ids=str)
def test_maxout(pieces, lead, dtype, rng):
    m = 4
    x = rng.integers(-3, 4, size=lead + (m * pieces,)).astype(dtype)  # many ties
    flat = x.reshape(-1)
    flat[:3] = [np.nan, np.inf, -np.inf]
    y = fastact.forward("maxout", x, pieces=pieces)
    assert y.shape == lead + (m,) and y.dtype == dtype
    expected, _ = ref.maxout_ref(x, pieces)
    np.testing.assert_array_equal(y, expected)
    out = np.full(lead + (m,), 7.0, dtype=dtype)
    assert fastact.forward("maxout", x, out=out, pieces=pieces) is out
    np.testing.assert_array_equal(out, expected)


def test_maxout_extreme_values(dtype):
    fi = np.finfo(dtype)
    x = np.array([[fi.max, -fi.max, -0.0, 0.0, fi.smallest_subnormal, -np.inf]], dtype=dtype)
    y = fastact.forward("maxout", x, pieces=2)
    np.testing.assert_array_equal(y, [[fi.max, 0.0, fi.smallest_subnormal]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 3), (100, 10), (33, 20), (5, 33), (9, 48), (3, 63), (2, 64),
                                   (101, 100), (9, 65), (17, 127), (5, 200), (6, 250), (3, 255),
                                   (4, 256), (3, 129)])
@pytest.mark.parametrize("in_place", [True, False])
def test_prelu_narrow_rows_as_runs(dtype, shape, in_place):
    # rows narrower than 256 go through the kernel in runs of whole rows with
    # alpha repeated (csrc/kernels_impl.h, fa_prelu_forward), the last run
    # partial: every element must still meet its own column's alpha
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    alpha = rng.uniform(0.05, 0.9, shape[1]).astype(dtype)
    want = np.where(x > 0, x, alpha * x)
    if in_place:
        got = fastact.forward("prelu", x.copy(), alpha=alpha)
    else:
        got = fastact.forward("prelu", x, out=np.empty_like(x), alpha=alpha)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prelu_narrow_rows_as_runs_threads(dtype):
    x = np.random.default_rng(5).standard_normal((30001, 10)).astype(dtype)
    alpha = np.linspace(0.1, 0.9, 10).astype(dtype)
    want = np.where(x > 0, x, alpha * x)
    for nt in (1, 2, 3):
        np.testing.assert_array_equal(
            fastact.forward("prelu", x.copy(), n_threads=nt, alpha=alpha), want)
