"""Backward kernels: delta *= slope, against the spec's slope formula, the
analytic derivative and central finite differences; prelu's grad_alpha,
maxout's routing and the row rules of the softmax family."""

import numpy as np
import pytest
from sklearn.neural_network import _base as sk

import fastact
import reference as ref
from conftest import DTYPES, assert_untouched, snapshot

VARIANT_IDS = [v[0] for v in ref.VARIANTS]
INPUT_SLOPE = [n for n, i in fastact.ACTIVATIONS.items() if i.slope_from == "input"]
OUTPUT_SLOPE = [n for n, i in fastact.ACTIVATIONS.items() if i.slope_from == "output"]


def _slope_tail(name, params, x, dtype):
    """gelu tanh form, float32, x < -6: covered by test_gelu_tanh_slope_tail_float32."""
    if not (ref.canonical(name) == "gelu" and params.get("approximate") == "tanh"
            and np.dtype(dtype) == np.float32):
        return np.zeros(np.shape(x), bool)
    return np.asarray(x) < -6


def _backward_grid(dtype, name, params):
    fi = np.finfo(dtype)
    with np.errstate(over="ignore"):
        large = np.logspace(1, np.log10(float(fi.max)), 40).astype(dtype)
    large = large[np.isfinite(large)]
    kinks = [k for k in ref.kinks(name, **params) if np.isfinite(k)]
    parts = [np.linspace(-10, 10, 401).astype(dtype), large, -large,
             ref._around(kinks + [0.0, 3.0, -3.0, 6.0, 1.0, -1.0], dtype, 2),
             np.array([fi.smallest_subnormal, -fi.smallest_subnormal, fi.smallest_normal,
                       -fi.smallest_normal, fi.max, -fi.max, np.inf, -np.inf], dtype=dtype)]
    x = np.concatenate(parts).astype(dtype)
    return x[~_slope_tail(name, params, x, dtype)]


def _delta(rng, shape, dtype):
    return (rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)).astype(dtype)


def _run_backward(name, params, x, delta):
    """forward then backward the way a layer does; returns (y, new delta)."""
    y = fastact.forward(name, x, out=np.empty_like(x), **params)
    info = fastact.ACTIVATIONS[name]
    d = delta.copy()
    out = fastact.backward(name, y, d, x=x if info.slope_from == "input" else None, **params)
    assert out is d, "backward returns delta itself"
    return y, d


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("vid,name,params", ref.VARIANTS, ids=VARIANT_IDS)
def test_backward_is_the_spec_slope(vid, name, params, dtype, rng):
    """delta * slope(s) with s the y (or x) actually given, in high precision."""
    x = _backward_grid(dtype, name, params)
    delta = _delta(rng, x.shape, dtype)
    y, got = _run_backward(name, params, x, delta)
    s = (x if fastact.ACTIVATIONS[name].slope_from == "input" else y).astype(np.float64)
    ok = ~np.isnan(s)
    expected, scale = ref.backward_ref(name, y, delta, x=x, **params)
    bad = ref.accuracy_violations(got[ok], expected[ok], dtype, scale=scale[ok])
    assert not bad.any(), ref.describe(x[ok], got[ok], expected[ok], bad)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_mish_slope_where_exp_is_subnormal(dtype):
    """The slope ~(1 + x) e^x is normal a little past where e^x is subnormal
    (float32: x < -87.3); an unscaled e^x gave 4e-6 relative error at -91.6."""
    lo, hi = (-104, -80) if dtype == np.float32 else (-745, -700)
    x = np.linspace(lo, hi, 2001).astype(dtype)
    d = fastact.backward("mish", None, np.ones_like(x), x=x)
    want = ref.derivative("mish", x.astype(np.float64))
    scale = ref.slope_terms("mish", x.astype(np.float64))
    bad = ref.accuracy_violations(d, want, dtype, scale=scale)
    assert not bad.any(), ref.describe(x, d, want, bad)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_gelu_tanh_slope_tail(dtype):
    """Down to where the slope is subnormal, past where sigma(2u) is (float32
    x < -9.6, float64 x < -20.8): the unscaled sigma gave 8e-6 relative error
    at x = -10.2 (float32)."""
    lo, hi = (-12, -6) if dtype == np.float32 else (-23, -15)
    x = np.concatenate([np.linspace(lo, hi, 4001), [-9.75, -9.6, -9.5, -9.95, -6.8]])
    x = x.astype(dtype)
    d = fastact.backward("gelu", None, np.ones_like(x), x=x, approximate="tanh")
    want = ref.derivative("gelu", x.astype(np.float64), approximate="tanh")
    scale = ref.slope_terms("gelu", x.astype(np.float64), approximate="tanh")
    bad = ref.accuracy_violations(d, want, dtype, scale=scale)
    assert not bad.any(), ref.describe(x, d, want, bad)


def _away_from_kinks(x, name, params, gap=1e-3):
    keep = np.isfinite(x)
    for k in ref.kinks(name, **params):
        keep &= np.abs(x - k) > gap * max(1.0, abs(k))
    return x[keep]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("vid,name,params", ref.VARIANTS, ids=VARIANT_IDS)
def test_backward_matches_analytic_derivative(vid, name, params, dtype, rng):
    """backward(forward(x)) against df/dx at the same x.  For slopes taken from
    y the tolerance includes what 4 ulp of rounding in y moves the slope by."""
    x = np.concatenate([np.linspace(-12, 12, 481),
                        [-100.0, -50.0, -30.0, 30.0, 50.0, 100.0, 1e3, -1e3]]).astype(dtype)
    x = _away_from_kinks(x, name, params)
    x = x[~_slope_tail(name, params, x, dtype)]
    delta = _delta(rng, x.shape, dtype)
    y, got = _run_backward(name, params, x, delta)
    x64, d64 = x.astype(np.float64), delta.astype(np.float64)
    want = d64 * ref.derivative(name, x64, **params)
    spread = np.zeros_like(x64)
    if fastact.ACTIVATIONS[name].slope_from == "output":
        y_true = ref.forward_ref(name, x64, **params)
        u = 4 * np.spacing(np.abs(ref.as_dtype(y_true, dtype))).astype(np.float64)
        s0 = ref.slope(name, y_true, **params)
        spread = np.maximum(np.abs(ref.slope(name, y_true + u, **params) - s0),
                            np.abs(ref.slope(name, y_true - u, **params) - s0))
        s = y.astype(np.float64)
    else:
        s = x64
    scale = np.abs(d64) * ref.slope_terms(name, s, **params)
    tol = ref.rtol_for(dtype) * np.maximum(scale, np.abs(want)) + np.abs(d64) * spread \
        + np.finfo(dtype).smallest_normal
    want_d = ref.as_dtype(want, dtype).astype(np.float64)
    with np.errstate(invalid="ignore"):
        bad = np.where(np.isinf(want_d), got != want_d, ~(np.abs(got - want) <= tol))
    assert not bad.any(), ref.describe(x, got, want, bad)


@pytest.mark.parametrize("vid,name,params", ref.VARIANTS, ids=VARIANT_IDS)
def test_backward_matches_finite_differences(vid, name, params):
    """float64, moderate inputs away from kinks: the slope backward applies is
    the derivative of what forward computes."""
    x = _away_from_kinks(np.linspace(-5.0, 5.0, 201) + 0.0123, name, params, gap=1e-2)
    if ref.canonical(name) == "softplus":
        # above beta x > threshold forward is x (slope 1) while the spec's slope
        # stays 1 - e^(-beta y): only the smooth branch is a derivative
        x = x[params.get("beta", 1.0) * x < params.get("threshold", 20.0) - 1e-2]
    h = 1e-6
    f = lambda v: fastact.forward(name, v.copy(), **params)  # noqa: E731
    fd = (f(x + h) - f(x - h)) / (2 * h)
    _, slope = _run_backward(name, params, x, np.ones_like(x))
    np.testing.assert_allclose(slope, fd, rtol=1e-6, atol=1e-7)


def test_step_has_zero_slope(dtype):
    assert fastact.ACTIVATIONS["step"].trainable is False
    x = np.array([-1.0, 0.0, 0.5, 2.0], dtype=dtype)
    y = fastact.forward("step", x.copy())
    d = np.ones_like(x)
    fastact.backward("step", y, d)
    np.testing.assert_array_equal(d, 0.0)


@pytest.mark.parametrize("name,params,y,expected", [
    ("relu", {}, [0.0, -0.0, 1e-30, 2.0], [0.0, 0.0, 1.0, 1.0]),
    ("leaky_relu", {"alpha": 0.2}, [0.0, -1.0, 1e-30], [0.2, 0.2, 1.0]),
    ("elu", {"alpha": 0.5}, [0.0, -0.25, 3.0], [0.5, 0.25, 1.0]),
    ("celu", {"alpha": 2.0}, [0.0, -1.0, 3.0], [1.0, 0.5, 1.0]),
    ("relu6", {}, [0.0, 6.0, 3.0], [0.0, 0.0, 1.0]),
    ("hard_sigmoid", {}, [0.0, 1.0, 0.5], [0.0, 0.0, 1.0 / 6.0]),
    ("hard_tanh", {"min_val": -2.0, "max_val": 0.5}, [-2.0, 0.5, 0.0], [0.0, 0.0, 1.0]),
])
def test_slope_at_kinks_uses_strict_inequalities(name, params, y, expected, dtype):
    y = np.array(y, dtype=dtype)
    d = np.ones_like(y)
    fastact.backward(name, y, d, **params)
    np.testing.assert_allclose(d, np.array(expected, dtype=dtype), rtol=1e-7)


def test_hardswish_slope_at_its_kinks(dtype):
    x = np.array([-3.0, 3.0, -3.5, 3.5], dtype=dtype)
    d = np.ones_like(x)
    fastact.backward("hardswish", None, d, x=x)
    np.testing.assert_allclose(d, [-0.5, 1.5, 0.0, 1.0], rtol=1e-7)


@pytest.mark.parametrize("name", ["identity", "logistic", "tanh", "relu"])
def test_backward_agrees_with_scikit_learn(name, dtype, rng):
    x = rng.standard_normal((30, 7)).astype(dtype)
    x[0, :3] = 0.0
    y = fastact.forward(name, x.copy())
    delta = rng.standard_normal(x.shape).astype(dtype)
    mine = fastact.backward(name, y, delta.copy())
    theirs = delta.copy()
    sk.DERIVATIVES[name](y.copy(), theirs)
    # 1 - y**2 and y (1 - y) cancel near |y| = 1: bound relative to their terms
    terms = np.abs(delta) * (1 + np.abs(y) * (1 + np.abs(y)))
    assert (np.abs(mine - theirs) <= 4 * np.finfo(dtype).eps * terms).all()
    np.testing.assert_array_equal(mine == 0, theirs == 0)


# ---------------------------------------------------------------------------
# x (or y) is required


@pytest.mark.parametrize("name", INPUT_SLOPE)
def test_input_slope_requires_x(name, dtype):
    params = {"pieces": 2} if name == "maxout" else {}
    x = np.linspace(-2, 2, 8).astype(dtype).reshape(2, 4)
    y = fastact.forward(name, x.copy() if name != "maxout" else x, **params)
    delta = np.ones_like(y)
    before = snapshot(y, delta)
    with pytest.raises(ValueError, match=r"\bx\b"):
        fastact.backward(name, y, delta, **params)
    assert_untouched([y, delta], before)


@pytest.mark.parametrize("name", [n for n in OUTPUT_SLOPE if n != "prelu"])
def test_output_slope_requires_y(name, dtype):
    delta = np.ones((2, 3), dtype=dtype)
    before = snapshot(delta)
    with pytest.raises(ValueError, match=r"\by\b"):
        fastact.backward(name, None, delta)
    assert_untouched([delta], before)


def test_input_slope_ignores_y_values(dtype, rng):
    """y is optional for slope-from-input activations and does not matter."""
    x = rng.standard_normal(50).astype(dtype)
    delta = rng.standard_normal(50).astype(dtype)
    a = fastact.backward("gelu", None, delta.copy(), x=x)
    b = fastact.backward("gelu", np.full_like(x, 123.0), delta.copy(), x=x)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# prelu


@pytest.mark.parametrize("shape", [(6,), (9, 6), (2, 5, 6)], ids=str)
def test_prelu_backward_and_grad_alpha(shape, dtype, rng):
    alpha = np.array([0.01, 0.1, 0.25, 0.5, 1.0, 3.0])
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[:2] = 0.0
    y = fastact.forward("prelu", x.copy(), alpha=alpha)
    delta = rng.standard_normal(shape).astype(dtype)
    d = delta.copy()
    result = fastact.backward("prelu", y, d, alpha=alpha)
    assert isinstance(result, tuple) and len(result) == 2
    got_d, got_ga = result
    assert got_d is d
    assert got_ga.shape == (6,) and got_ga.dtype == dtype
    (want_d, want_ga), (sd, sga) = ref.backward_ref("prelu", y, delta, alpha=alpha)
    tol = 4 * np.finfo(dtype).eps
    assert (np.abs(got_d - want_d) <= tol * sd + 1e-300).all()
    n = max(1, x.size // 6)
    assert (np.abs(got_ga - want_ga) <= (n + 4) * tol * sga + 1e-300).all()
    # grad_alpha_j = sum over x_j < 0 of delta * x (the derivative of y = alpha x)
    lead = tuple(range(x.ndim - 1))
    direct = np.where(x < 0, delta.astype(np.float64) * x, 0.0)
    np.testing.assert_allclose(got_ga, direct.sum(axis=lead) if lead else direct,
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_prelu_grad_alpha_finite_differences(rng):
    alpha = np.array([0.2, 0.7, 1.3])
    x = rng.standard_normal((40, 3))
    w = rng.standard_normal((40, 3))
    loss = lambda a: float(np.sum(w * fastact.forward("prelu", x.copy(), alpha=a)))  # noqa: E731
    y = fastact.forward("prelu", x.copy(), alpha=alpha)
    _, ga = fastact.backward("prelu", y, w.copy(), alpha=alpha)
    h = 1e-6
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        fd = (loss(alpha + e) - loss(alpha - e)) / (2 * h)
        assert abs(ga[j] - fd) <= 1e-6 * max(1.0, abs(fd))


# ---------------------------------------------------------------------------
# maxout


@pytest.mark.parametrize("pieces", [2, 3])
@pytest.mark.parametrize("lead", [(), (5,), (2, 3)], ids=str)
def test_maxout_routes_delta_to_the_argmax(pieces, lead, dtype, rng):
    m = 4
    x = rng.integers(-2, 3, size=lead + (m * pieces,)).astype(dtype)  # ties
    x.reshape(-1)[:2] = [np.nan, np.inf]
    y = fastact.forward("maxout", x, pieces=pieces)
    delta = rng.uniform(1, 2, y.shape).astype(dtype)
    before = snapshot(x, y, delta)
    g = fastact.backward("maxout", y, delta, x=x, pieces=pieces)
    assert_untouched([x, y, delta], before)
    assert g.shape == x.shape and g.dtype == dtype
    assert g is not delta and not np.shares_memory(g, delta)
    want, _ = ref.backward_ref("maxout", y, delta, x=x, pieces=pieces)
    np.testing.assert_array_equal(g, want)
    # exactly one piece per group receives delta, the others 0
    groups = g.reshape(lead + (m, pieces))
    assert ((groups != 0).sum(axis=-1) == 1).all()
    np.testing.assert_array_equal(groups.sum(axis=-1), delta)
    # y may be omitted
    np.testing.assert_array_equal(fastact.backward("maxout", None, delta, x=x, pieces=pieces), g)


def test_maxout_first_maximum_wins_ties(dtype):
    x = np.array([[1.0, 1.0, 0.0, 2.0, 2.0, 2.0]], dtype=dtype)
    g = fastact.backward("maxout", None, np.array([[5.0, 7.0]], dtype=dtype), x=x, pieces=3)
    np.testing.assert_array_equal(g, [[5.0, 0.0, 0.0, 7.0, 0.0, 0.0]])


def test_maxout_finite_differences(rng):
    x = rng.standard_normal((6, 12))
    w = rng.standard_normal((6, 4))
    g = fastact.backward("maxout", None, w.copy(), x=x, pieces=3)
    h = 1e-7
    fd = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        fd[idx] = (np.sum(w * fastact.forward("maxout", xp, pieces=3))
                   - np.sum(w * fastact.forward("maxout", xm, pieces=3))) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-6)


# ---------------------------------------------------------------------------
# softmax family


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 19), (1, 1), (4,)], ids=str)
def test_softmax_family_backward_row_rule(name, shape, dtype, rng):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    y = fastact.forward(name, x, out=np.empty_like(x))
    delta = rng.standard_normal(shape).astype(dtype)
    d = delta.copy()
    assert fastact.backward(name, y, d) is d
    want, scale = ref.backward_ref(name, y, delta)
    tol = 8 * shape[-1] * np.finfo(dtype).eps * scale + np.finfo(dtype).smallest_normal
    bad = ~(np.abs(d - want) <= tol)
    assert not bad.any(), ref.describe(delta, d, want, bad)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_backward_is_the_vjp(name, rng):
    """<backward(delta), v> equals the directional derivative of <delta, f(x)>."""
    x = rng.standard_normal((4, 6)) * 2
    y = fastact.forward(name, x, out=np.empty_like(x))
    delta = rng.standard_normal(x.shape)
    g = fastact.backward(name, y, delta.copy())
    h = 1e-6
    for _ in range(5):
        v = rng.standard_normal(x.shape)
        fp = fastact.forward(name, x + h * v, out=np.empty_like(x))
        fm = fastact.forward(name, x - h * v, out=np.empty_like(x))
        fd = np.sum(delta * (fp - fm)) / (2 * h)
        assert abs(np.sum(g * v) - fd) <= 1e-6 * max(1.0, abs(fd))


def test_softmax_backward_of_constant_delta_is_zero(dtype, rng):
    """Adding a constant to all logits of a row does not change softmax."""
    x = rng.standard_normal((3, 8)).astype(dtype)
    y = fastact.forward("softmax", x, out=np.empty_like(x))
    d = np.full_like(x, 2.5)
    fastact.backward("softmax", y, d)
    np.testing.assert_allclose(d, 0.0, atol=16 * np.finfo(dtype).eps)


# ---------------------------------------------------------------------------
# the bound object


@pytest.mark.parametrize("vid,name,params", ref.VARIANTS[::3], ids=VARIANT_IDS[::3])
def test_activation_object_backward_matches_function(vid, name, params, rng):
    act = fastact.activation(name, **params)
    assert act.slope_from == fastact.ACTIVATIONS[name].slope_from
    x = rng.standard_normal((4, 5))
    y = act.forward(x.copy())
    delta = rng.standard_normal(x.shape)
    a = act.backward(y, delta.copy(), x=x)
    b = fastact.backward(name, y, delta.copy(), x=x, **params)
    np.testing.assert_array_equal(a, b)
