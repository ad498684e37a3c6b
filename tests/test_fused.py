"""Fused layer and loss kernels against their unfused composition and a
high-precision reference: bias_act_forward, backward_bias_grad,
softmax_cross_entropy, logistic_cross_entropy."""

import numpy as np
import pytest
import scipy.special
from sklearn.neural_network import _base as sk

import fastact
import reference as ref

FUSED_CASES = [
    ("relu", {}), ("identity", {}), ("logistic", {}), ("tanh", {}),
    ("leaky_relu", {"alpha": 0.2}), ("elu", {}), ("selu", {}), ("softplus", {}),
    ("hard_tanh", {"min_val": -2.0, "max_val": 0.5}), ("exp", {}),
    ("swish", {"beta": 0.5}), ("gelu", {}), ("gelu", {"approximate": "tanh"}),
    ("mish", {}), ("hardswish", {}),
]
FUSED_IDS = [n + ("-" + "-".join(f"{k}{v}" for k, v in p.items()) if p else "")
             for n, p in FUSED_CASES]


def _eps(dtype):
    return float(np.finfo(dtype).eps)


# ---------------------------------------------------------------------------
# bias_act_forward


@pytest.mark.parametrize("name,params", FUSED_CASES, ids=FUSED_IDS)
def test_bias_act_forward_matches_unfused(name, params, dtype, rng):
    z = (rng.standard_normal((17, 40)) * 3).astype(dtype)
    bias = rng.standard_normal(40).astype(dtype)
    pre = z + bias                                    # rounded in dtype, as the kernel
    unfused = fastact.forward(name, pre.copy(), **params)
    out = fastact.bias_act_forward(name, z, bias, **params)
    assert out is z
    np.testing.assert_allclose(z, unfused, rtol=4 * _eps(dtype), atol=0)
    expected = ref.forward_ref(name, pre.astype(np.float64), **params)
    bad = ref.accuracy_violations(z, expected, dtype)
    assert not bad.any(), ref.describe(pre, z, expected, bad)


@pytest.mark.parametrize("name,params", FUSED_CASES[::2], ids=FUSED_IDS[::2])
def test_bias_act_forward_saves_the_input(name, params, dtype, rng):
    z = rng.standard_normal((9, 20)).astype(dtype)
    bias = rng.standard_normal(20).astype(dtype)
    pre = z + bias
    saved = np.full_like(z, np.nan)
    fastact.bias_act_forward(name, z, bias, saved_input=saved, **params)
    np.testing.assert_array_equal(saved, pre)
    np.testing.assert_allclose(z, fastact.forward(name, pre.copy(), **params),
                               rtol=4 * _eps(dtype), atol=0)
    # the saved input is what backward needs for slope-from-input activations
    delta = np.ones_like(z)
    d, bg = fastact.backward_bias_grad(name, z, delta, x=saved, **params)
    np.testing.assert_allclose(d, fastact.backward(name, z, np.ones_like(z), x=pre, **params),
                               rtol=4 * _eps(dtype), atol=0)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_bias_act_forward_output_layer(name, dtype, rng):
    z = (rng.standard_normal((25, 7)) * 3).astype(dtype)
    bias = rng.standard_normal(7).astype(dtype)
    pre = z + bias
    saved = np.empty_like(z)
    fastact.bias_act_forward(name, z, bias, saved_input=saved)
    np.testing.assert_array_equal(saved, pre)
    expected = ref.forward_ref(name, pre.astype(np.float64))
    bad = ref.accuracy_violations(z, expected, dtype)
    assert not bad.any(), ref.describe(pre, z, expected, bad)
    z2 = pre.copy()
    fastact.bias_act_forward(name, z2, np.zeros(7, dtype))
    np.testing.assert_allclose(z2, fastact.forward(name, pre.copy()), rtol=4 * _eps(dtype),
                               atol=4 * _eps(dtype))


def test_bias_act_forward_bias_aliasing_z(dtype, rng):
    """bias may be a row of z itself: the original row is added everywhere."""
    z = rng.standard_normal((5, 8)).astype(dtype)
    bias_values = z[2].copy()
    want = fastact.forward("tanh", z + bias_values)
    fastact.bias_act_forward("tanh", z, z[2])
    np.testing.assert_allclose(z, want, rtol=4 * _eps(dtype), atol=0)


def test_bias_act_forward_bias_aliasing_saved_input(dtype, rng):
    """A bias sharing memory with saved_input: the original bias is used
    (or a ValueError names bias/saved_input)."""
    z = rng.standard_normal((4, 6)).astype(dtype)
    saved = np.zeros((4, 6), dtype)
    saved[0] = np.arange(6)
    bias0, z0 = saved[0].copy(), z.copy()
    try:
        fastact.bias_act_forward("gelu", z, saved[0], saved_input=saved)
    except ValueError as e:
        assert "bias" in str(e) or "saved_input" in str(e)
        np.testing.assert_array_equal(z, z0)
        return
    np.testing.assert_array_equal(saved, z0 + bias0)
    np.testing.assert_allclose(z, fastact.forward("gelu", z0 + bias0), rtol=4 * _eps(dtype))


def test_bias_act_forward_bias_may_be_strided(dtype, rng):
    z = rng.standard_normal((4, 6)).astype(dtype)
    bias = rng.standard_normal(12).astype(dtype)[::2]
    want = fastact.forward("elu", z + bias)
    fastact.bias_act_forward("elu", z, bias)
    np.testing.assert_allclose(z, want, rtol=4 * _eps(dtype), atol=0)


def test_bias_act_forward_empty(dtype):
    z = np.empty((0, 5), dtype)
    assert fastact.bias_act_forward("relu", z, np.ones(5, dtype)) is z
    z = np.empty((3, 0), dtype)
    assert fastact.bias_act_forward("softmax", z, np.ones(0, dtype)) is z


# ---------------------------------------------------------------------------
# backward_bias_grad


@pytest.mark.parametrize("name,params", FUSED_CASES, ids=FUSED_IDS)
def test_backward_bias_grad_matches_unfused(name, params, dtype, rng):
    x = (rng.standard_normal((300, 150)) * 3).astype(dtype)   # > 64 columns: threads split them
    y = fastact.forward(name, x, out=np.empty_like(x), **params)
    delta = rng.standard_normal(x.shape).astype(dtype)
    unfused = fastact.backward(name, y, delta.copy(), x=x, **params)
    d = delta.copy()
    bias_grad = np.full(150, np.nan, dtype)
    got_d, got_bg = fastact.backward_bias_grad(name, y, d, x=x, bias_grad=bias_grad, **params)
    assert got_d is d and got_bg is bias_grad
    # The fused loop may contract a*b+c into FMAs where the unfused one does not;
    # near a zero of the slope (gelu at x ~ -0.75) that changes the last bits of
    # a value that is only absolutely accurate: bound by |delta|, not |result|.
    err = np.abs(d.astype(np.float64) - unfused)
    assert (err <= 4 * _eps(dtype) * (np.abs(unfused) + np.abs(delta))).all(), err.max()
    want = unfused.astype(np.float64).sum(axis=0)
    tol = 2 * x.shape[0] * _eps(dtype) * np.abs(unfused.astype(np.float64)).sum(axis=0)
    assert (np.abs(bias_grad - want) <= tol + 1e-30).all()
    # allocated when omitted
    _, bg2 = fastact.backward_bias_grad(name, y, delta.copy(), x=x, **params)
    np.testing.assert_array_equal(bg2, bias_grad)


def test_backward_bias_grad_delta_is_y(dtype, rng):
    y = fastact.forward("logistic", rng.standard_normal((10, 8)).astype(dtype))
    want_d = fastact.backward("logistic", y.copy(), y.copy())
    d, bg = fastact.backward_bias_grad("logistic", y, y)
    assert d is y
    np.testing.assert_allclose(d, want_d, rtol=4 * _eps(dtype))
    np.testing.assert_allclose(bg, want_d.sum(axis=0), rtol=64 * _eps(dtype))


def test_backward_bias_grad_empty_rows(dtype):
    d, bg = fastact.backward_bias_grad("relu", np.empty((0, 4), dtype), np.empty((0, 4), dtype))
    np.testing.assert_array_equal(bg, np.zeros(4))


# ---------------------------------------------------------------------------
# softmax + cross-entropy


def _one_hot(rng, n, k):
    return np.eye(k)[rng.integers(0, k, n)]


def _gradient_and_proba(loss_fn, z, t):
    """(gradient, probabilities) of a fused loss on a copy of z."""
    z = z.copy()
    proba = np.empty_like(z)
    loss_fn(z, t, proba=proba)
    return z, proba


def _check_loss(kind, z, t, w=None, proba=None):
    dtype = z.dtype
    reference = ref.softmax_xent_ref if kind == "softmax" else ref.logistic_xent_ref
    fn = fastact.softmax_cross_entropy if kind == "softmax" else fastact.logistic_cross_entropy
    want_loss, want_grad, want_p, scale = reference(z, t, w)
    zz = z.copy()
    loss = fn(zz, t, w, proba=proba)
    assert isinstance(loss, float)
    assert np.isfinite(loss)
    k = z.shape[1]
    assert abs(loss - want_loss) <= 4 * (k + 2) * _eps(dtype) * scale + 1e-300, \
        (loss, want_loss, scale)
    n = z.shape[0]
    wr = np.ones(n) if w is None else np.asarray(w, np.float64)
    row_scale = (wr / wr.sum())[:, None] * np.ones((1, k))
    assert np.isfinite(zz).all()
    err = np.abs(zz - want_grad)
    assert (err <= 8 * _eps(dtype) * row_scale + 1e-300).all(), \
        ref.describe(z, zz, want_grad, ~(err <= 8 * _eps(dtype) * row_scale))
    if proba is not None:
        np.testing.assert_allclose(proba, want_p, rtol=8 * _eps(dtype),
                                   atol=8 * _eps(dtype))
    return loss, zz


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("k", [2, 5, 37])
def test_softmax_cross_entropy_against_reference(k, weighted, dtype, rng):
    n = 40
    z = (rng.standard_normal((n, k)) * 4).astype(dtype)
    t = _one_hot(rng, n, k)
    w = rng.uniform(0, 3, n) if weighted else None
    _check_loss("softmax", z, t, w, proba=np.empty_like(z))


def test_softmax_cross_entropy_soft_targets(dtype, rng):
    z = rng.standard_normal((20, 6)).astype(dtype)
    t = rng.dirichlet(np.ones(6), 20)
    _check_loss("softmax", z, t, rng.uniform(0.5, 2, 20))


@pytest.mark.parametrize("magnitude", [1e4, 1e30])
def test_softmax_cross_entropy_extreme_logits(magnitude, dtype):
    """Where log(softmax) of a rounded probability is log(0) = -inf, the fused
    loss is the finite log-sum-exp value."""
    z = np.array([[magnitude, -magnitude, 0.0],
                  [-magnitude, magnitude, 0.0],
                  [0.0, 0.0, magnitude],
                  [magnitude, magnitude, -magnitude]], dtype=dtype)
    t = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1.0]])
    loss, grad = _check_loss("softmax", z, t, proba=np.empty_like(z))
    want = (2 * magnitude + 0 + magnitude + (2 * magnitude + np.log(2))) / 4
    assert loss == pytest.approx(want, rel=1e-6)
    np.testing.assert_allclose(grad, np.array([[1, -1, 0], [0, 0, 0], [-1, 0, 1],
                                               [0.5, 0.5, -1]]) / 4, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 10, 17, 64])
def test_softmax_cross_entropy_row_does_not_depend_on_other_rows(k, dtype, rng):
    """A row's gradient and probabilities have the same bits wherever it sits
    among the rows of a call (rows go in blocks, vectorized across rows), and
    whether or not another row holds +inf (such a row takes its limit)."""
    n = 700
    z = (rng.standard_normal((n, k)) * 3).astype(dtype)
    t = _one_hot(rng, n, k)

    def run(zz, tt):
        return _gradient_and_proba(fastact.softmax_cross_entropy, zz, tt)

    grad, proba = run(z, t)
    for shift in (1, 5, 8, 203):
        g, p = run(np.roll(z, shift, 0), np.roll(t, shift, 0))
        np.testing.assert_array_equal(np.roll(g, -shift, 0), grad)
        np.testing.assert_array_equal(np.roll(p, -shift, 0), proba)
    z_inf = z.copy()
    z_inf[3, 0] = np.inf
    g, p = run(z_inf, t)
    rest = np.arange(n) != 3
    np.testing.assert_array_equal(g[rest], grad[rest])
    np.testing.assert_array_equal(p[rest], proba[rest])
    assert p[3, 0] == 1 and (p[3, 1:] == 0).all()


def test_softmax_cross_entropy_against_scikit_learn(dtype, rng):
    n, k = 50, 4
    z = rng.standard_normal((n, k)).astype(dtype)
    t = _one_hot(rng, n, k)
    w = rng.uniform(0.2, 2.0, n)
    p = scipy.special.softmax(z.astype(np.float64), axis=1)
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    for weights in (None, w):
        zz = z.copy()
        loss = fastact.softmax_cross_entropy(zz, t, weights)
        assert loss == pytest.approx(sk.log_loss(t, p, sample_weight=weights), rel=rtol)
        ww = np.ones(n) if weights is None else weights
        np.testing.assert_allclose(zz, ww[:, None] * (p - t) / ww.sum(), rtol=rtol,
                                   atol=rtol / n)


def test_softmax_cross_entropy_array_like_targets_and_weights(rng):
    z = rng.standard_normal((3, 3))
    t = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    zz = z.copy()
    loss = fastact.softmax_cross_entropy(zz, t, [1, 2, 3])
    want_loss, want_grad, _, _ = ref.softmax_xent_ref(z, np.array(t, float), [1, 2, 3])
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(zz, want_grad, atol=1e-15)
    zb = z.copy()
    assert fastact.softmax_cross_entropy(zb, np.array(t, bool)) == pytest.approx(
        ref.softmax_xent_ref(z, np.array(t, float))[0], rel=1e-12)


@pytest.mark.parametrize("kind", ["softmax", "logistic"])
def test_zero_weights_give_zero_loss_and_gradient(kind, dtype):
    fn = fastact.softmax_cross_entropy if kind == "softmax" else fastact.logistic_cross_entropy
    z = np.array([[1.0, 2.0], [3.0, 0.0]], dtype=dtype)
    loss = fn(z, np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2))
    assert loss == 0.0
    np.testing.assert_array_equal(z, 0.0)
    # a zero-weight row contributes nothing
    z = np.array([[1.0, 2.0], [3.0, 0.0]], dtype=dtype)
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    loss = fn(z, t, np.array([0.0, 2.0]))
    z1 = np.array([[3.0, 0.0]], dtype=dtype)
    assert loss == pytest.approx(fn(z1, t[1:]), rel=1e-6)
    np.testing.assert_array_equal(z[0], 0.0)


@pytest.mark.parametrize("kind", ["softmax", "logistic"])
def test_loss_of_empty_batch(kind, dtype):
    fn = fastact.softmax_cross_entropy if kind == "softmax" else fastact.logistic_cross_entropy
    z = np.empty((0, 3), dtype)
    assert fn(z, np.empty((0, 3))) == 0.0


@pytest.mark.parametrize("kind", ["softmax", "logistic"])
def test_proba_may_not_silently_alias_target(kind):
    fn = fastact.softmax_cross_entropy if kind == "softmax" else fastact.logistic_cross_entropy
    z = np.array([[1.0, 2.0], [3.0, 0.0]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    want_loss, want_grad, want_p, _ = (ref.softmax_xent_ref if kind == "softmax"
                                       else ref.logistic_xent_ref)(z, t)
    try:
        loss = fn(z, t, proba=t)
    except ValueError as e:
        assert "proba" in str(e)
        return
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(z, want_grad, atol=1e-15)
    np.testing.assert_allclose(t, want_p, rtol=1e-15)


def test_target_aliasing_z_is_read_before_z_is_overwritten(rng):
    """target overlapping z (e.g. the same buffer) is copied first."""
    z = np.array([[0.2, 0.8], [0.6, 0.4]])
    want_loss, want_grad, _, _ = ref.softmax_xent_ref(z, z.copy())
    loss = fastact.softmax_cross_entropy(z, z)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(z, want_grad, atol=1e-15)


# ---------------------------------------------------------------------------
# logistic + binary cross-entropy


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("k", [1, 4], ids=["binary", "multilabel"])
def test_logistic_cross_entropy_against_reference(k, weighted, dtype, rng):
    n = 40
    z = (rng.standard_normal((n, k)) * 4).astype(dtype)
    t = rng.integers(0, 2, (n, k)).astype(float)
    w = rng.uniform(0, 3, n) if weighted else None
    _check_loss("logistic", z, t, w, proba=np.empty_like(z))


@pytest.mark.parametrize("n, k", [(1500, 1), (700, 3), (3, 1500)],
                         ids=["binary", "rows-across-chunks", "row-longer-than-a-chunk"])
def test_logistic_cross_entropy_in_chunks(n, k, dtype, rng):
    """The kernel runs flat over chunks of 1024 elements: rows that straddle
    a chunk edge, or span several chunks, still add their loss terms in row
    order with their own weight, and a row's bits do not depend on where it
    sits."""
    z = (rng.standard_normal((n, k)) * 4).astype(dtype)
    t = rng.integers(0, 2, (n, k)).astype(float)
    w = rng.uniform(0, 3, n)
    _check_loss("logistic", z, t, w, proba=np.empty_like(z))
    _check_loss("logistic", z, t)

    def run(zz, tt):
        return _gradient_and_proba(fastact.logistic_cross_entropy, zz, tt)

    grad, proba = run(z, t)
    for shift in (1, 7):
        g, p = run(np.roll(z, shift, 0), np.roll(t, shift, 0))
        np.testing.assert_array_equal(np.roll(g, -shift, 0), grad)
        np.testing.assert_array_equal(np.roll(p, -shift, 0), proba)


def test_logistic_cross_entropy_soft_targets(dtype, rng):
    z = (rng.standard_normal((15, 3)) * 3).astype(dtype)
    t = rng.uniform(0, 1, (15, 3))
    _check_loss("logistic", z, t)


@pytest.mark.parametrize("magnitude", [1e4, 1e30])
def test_logistic_cross_entropy_extreme_logits(magnitude, dtype):
    z = np.array([[magnitude, -magnitude], [-magnitude, magnitude]], dtype=dtype)
    t = np.array([[0.0, 1.0], [0.0, 1.0]])
    loss, grad = _check_loss("logistic", z, t, proba=np.empty_like(z))
    assert loss == pytest.approx((2 * magnitude + 0.0) / 2, rel=1e-6)
    np.testing.assert_allclose(grad, np.array([[1.0, -1.0], [0.0, 0.0]]) / 2, atol=1e-7)


@pytest.mark.parametrize("k", [1, 3])
def test_logistic_cross_entropy_against_scikit_learn(k, dtype, rng):
    n = 60
    z = (rng.standard_normal((n, k)) * 2).astype(dtype)
    t = rng.integers(0, 2, (n, k)).astype(float)
    w = rng.uniform(0.2, 2.0, n)
    p = scipy.special.expit(z.astype(np.float64))
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    for weights in (None, w):
        zz = z.copy()
        loss = fastact.logistic_cross_entropy(zz, t, weights)
        assert loss == pytest.approx(sk.binary_log_loss(t, p, sample_weight=weights), rel=rtol)
        ww = np.ones(n) if weights is None else weights
        np.testing.assert_allclose(zz, ww[:, None] * (p - t) / ww.sum(), rtol=rtol,
                                   atol=rtol / n)


@pytest.mark.parametrize("kind", ["softmax", "logistic"])
def test_loss_is_the_same_for_float32_targets_and_weights(kind, rng):
    fn = fastact.softmax_cross_entropy if kind == "softmax" else fastact.logistic_cross_entropy
    z = rng.standard_normal((10, 3)).astype(np.float32)
    t = _one_hot(rng, 10, 3)
    w = rng.uniform(0.5, 1.5, 10)
    z1, z2 = z.copy(), z.copy()
    a = fn(z1, t, w)
    b = fn(z2, t.astype(np.float32), w.astype(np.float32))
    assert a == b
    np.testing.assert_array_equal(z1, z2)


def test_fused_loss_gradient_is_the_derivative_of_the_loss(rng):
    """Finite differences of the returned loss (float64) match the gradient."""
    for fn, t in [(fastact.softmax_cross_entropy, _one_hot(rng, 6, 4)),
                  (fastact.logistic_cross_entropy, rng.integers(0, 2, (6, 4)).astype(float))]:
        z = rng.standard_normal((6, 4))
        w = rng.uniform(0.5, 2, 6)
        g = z.copy()
        fn(g, t, w)
        h = 1e-6
        for idx in [(0, 0), (2, 3), (5, 1)]:
            zp, zm = z.copy(), z.copy()
            zp[idx] += h
            zm[idx] -= h
            fd = (fn(zp, t, w) - fn(zm, t, w)) / (2 * h)
            assert g[idx] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_activation_object_fused_methods(dtype, rng):
    act = fastact.activation("gelu", approximate="tanh")
    z = rng.standard_normal((6, 130)).astype(dtype)
    bias = rng.standard_normal(130).astype(dtype)
    z1, z2 = z.copy(), z.copy()
    s1, s2 = np.empty_like(z), np.empty_like(z)
    assert act.bias_forward(z1, bias, saved_input=s1) is z1
    fastact.bias_act_forward("gelu", z2, bias, saved_input=s2, approximate="tanh")
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_array_equal(s1, s2)
    delta = rng.standard_normal(z.shape).astype(dtype)
    bg = np.empty(130, dtype)
    d1, g1 = act.backward_bias_grad(z1, delta.copy(), x=s1, bias_grad=bg)
    assert g1 is bg
    d2, g2 = fastact.backward_bias_grad("gelu", z2, delta.copy(), x=s2, approximate="tanh")
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("loss", ["softmax", "logistic"])
@pytest.mark.parametrize("cols", [1, 3, 10, 70])
def test_fused_losses_with_a_subnormal_weight_total(loss, cols):
    # 1 / total overflows for a subnormal float64 total: the kernels scale the
    # weights by a power of two first, so loss and gradient stay the ratios
    # w_r / total (found by test_fused_losses_fuzz: 1 row, w = 2.2e-313)
    fn = fastact.softmax_cross_entropy if loss == "softmax" else fastact.logistic_cross_entropy
    rng = np.random.default_rng(cols)
    rows = 5
    z = rng.standard_normal((rows, cols))
    t = np.eye(cols)[rng.integers(0, cols, rows)] if loss == "softmax" \
        else (rng.random((rows, cols)) < 0.5).astype(float)
    w = rng.uniform(0.5, 2.0, rows)
    l_ref = fn(z.copy(), t, w)
    for tiny in (1e-300, 2.2250738585072014e-308, 5e-320):
        wt = w * tiny                 # rounded: subnormal weights keep few digits
        g = z.copy()
        l_tiny = fn(g, t, wt)
        assert np.isfinite(l_tiny) and np.all(np.isfinite(g))
        # the same weights times 2^1000 (exact), all normal: the same ratios
        g_big = z.copy()
        l_big = fn(g_big, t, wt * 2.0 ** 1000)
        np.testing.assert_allclose(l_tiny, l_big, rtol=1e-12)
        np.testing.assert_allclose(g, g_big, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(l_big, l_ref, rtol=1e-2)
