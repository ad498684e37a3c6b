"""High-precision reference implementations of the activation table.

One row of ``REFERENCE`` per row of the table in ACTIVATIONS.md: the forward
formula, the slope exactly as the spec writes it (a function of ``y`` for
"output" activations, of ``x`` for "input" ones) and the analytic derivative
df/dx, all evaluated in mpmath at 40 significant digits and then rounded to
float64.  Adding an activation to the spec adds one row here.

Conventions
-----------
* Inputs are float64 arrays (float32 values are exactly representable).
  Results are float64, correctly rounded from the 40-digit value; for a
  float32 target round them once more with ``as_dtype``.
* ``±inf`` is evaluated at ``±10**400`` (beyond every dtype), so that
  ``f(±inf)`` rounds to the mathematical limit; NaN gives NaN.
* Values whose true magnitude exceeds the float64 range become ``±inf``.

The rowwise (softmax, log_softmax), per-feature (prelu) and reducing (maxout)
rows and the two fused losses work on whole arrays; see ``forward_ref``,
``backward_ref``, ``softmax_xent_ref`` and ``logistic_xent_ref``.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from mpmath.ctx_mp import MPContext

MP = MPContext()          # private context: nobody else changes its precision
MP.dps = 40
BIG = MP.mpf("1e400")     # stands for +inf
SQRT2 = MP.sqrt(2)
INV_SQRT_2PI = 1 / MP.sqrt(2 * MP.pi)
SQRT_8_OVER_PI = MP.sqrt(8 / MP.pi)
GELU_C = MP.mpf("0.044715")

#: The spec's accuracy bound: relative error where the true value is normal.
RTOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}


def rtol_for(dtype):
    return RTOL[np.dtype(dtype)]


# ---------------------------------------------------------------------------
# mpmath building blocks


def _mp(v):
    """float -> mpf, with ±inf standing in as ±BIG."""
    if math.isinf(v):
        return BIG if v > 0 else -BIG
    return MP.mpf(v)


def _pos(v):
    return v if v > 0 else MP.zero


def _sigmoid(v):
    return 1 / (1 + MP.exp(-v))


def _sigmoid_slope(v):
    """sigma(v) (1 - sigma(v)) without cancellation."""
    e = MP.exp(-abs(v))
    return e / (1 + e) ** 2


def _softplus(v):
    return _pos(v) + MP.log1p(MP.exp(-abs(v)))


def _clamp(v, lim):
    return max(-lim, min(lim, v))


def _Phi(x):
    # erfc is exact enough far beyond any dtype: Phi(-1e5) is e^(-5e9)
    return MP.erfc(-_clamp(x, 10**5) / SQRT2) / 2


def _phi(x):
    return INV_SQRT_2PI * MP.exp(-_clamp(x, 10**5) ** 2 / 2)


def _gelu_tanh_2u(x):
    x = _clamp(x, 10**50)
    return SQRT_8_OVER_PI * (x + GELU_C * x**3)


def _step01(cond):
    return MP.one if cond else MP.zero


# ---------------------------------------------------------------------------
# the table


@dataclass(frozen=True)
class Row:
    """Reference for one activation.

    forward(x, **p)     f(x)
    slope(s, **p)       the spec's slope column, s = y or x per ``slope_from``
    derivative(x, **p)  df/dx (where f is differentiable)
    terms(s, **p)       sum of the magnitudes of the slope formula's terms: the
                        scale its rounding errors are relative to (default |slope|)
    kinks(**p)          points where f is not differentiable
    """

    slope_from: str
    forward: object = None
    slope: object = None
    derivative: object = None
    terms: object = None
    kinks: object = None
    defaults: dict = field(default_factory=dict)
    pattern: str = "elementwise"


def _leaky(x, a):
    return x if x > 0 else a * x


def _elu(x, alpha):
    return x if x > 0 else alpha * MP.expm1(x)


def _softplus_fwd(x, beta, threshold):
    bx = beta * x
    return x if bx > threshold else _softplus(bx) / beta


def _softplus_der(x, beta, threshold):
    # below the threshold sigma(beta x); above it y = x and the spec's slope
    # 1 - e^(-beta y) is what the kernel uses
    bx = beta * x
    return 1 - MP.exp(-bx) if bx > threshold else _sigmoid(bx)


def _gelu_fwd(x, approximate):
    if approximate == "tanh":
        return x * _sigmoid(_gelu_tanh_2u(x))
    return x * _Phi(x)


def _gelu_der(x, approximate):
    if approximate == "tanh":
        v = _gelu_tanh_2u(x)
        dv = SQRT_8_OVER_PI * (1 + 3 * GELU_C * _clamp(x, 10**50) ** 2)
        return _sigmoid(v) + x * _sigmoid_slope(v) * dv
    return _Phi(x) + x * _phi(x)


def _gelu_terms(x, approximate):
    if approximate == "tanh":
        v = _gelu_tanh_2u(x)
        dv = SQRT_8_OVER_PI * (1 + 3 * GELU_C * _clamp(x, 10**50) ** 2)
        return _sigmoid(v) + abs(x * _sigmoid_slope(v) * dv)
    return _Phi(x) + abs(x) * _phi(x)


def _mish_fwd(x):
    return x * MP.tanh(_softplus(x))


def _mish_der(x):
    sp = _softplus(x)
    return MP.tanh(sp) + x * MP.sech(sp) ** 2 * _sigmoid(x)


def _mish_terms(x):
    sp = _softplus(x)
    return abs(MP.tanh(sp)) + abs(x) * MP.sech(sp) ** 2 * _sigmoid(x)


def _hardswish_der(x):
    return MP.zero if x < -3 else (MP.one if x > 3 else (2 * x + 3) / 6)


def _swish_der(x, beta):
    return _sigmoid(beta * x) + beta * x * _sigmoid_slope(beta * x)


REFERENCE = {
    "identity": Row("output", lambda x: x, lambda y: MP.one, lambda x: MP.one),
    "logistic": Row("output", _sigmoid, lambda y: y * (1 - y), _sigmoid_slope),
    "tanh": Row("output", MP.tanh, lambda y: 1 - y * y, lambda x: MP.sech(x) ** 2,
                terms=lambda y: 1 + y * y),
    "relu": Row("output", _pos, lambda y: _step01(y > 0), lambda x: _step01(x > 0),
                kinks=lambda: (0.0,)),
    "leaky_relu": Row("output", lambda x, alpha: _leaky(x, alpha),
                      lambda y, alpha: MP.one if y > 0 else alpha,
                      lambda x, alpha: MP.one if x > 0 else alpha,
                      kinks=lambda alpha: (0.0,), defaults={"alpha": 0.01}),
    "elu": Row("output", _elu,
               lambda y, alpha: MP.one if y > 0 else y + alpha,
               lambda x, alpha: MP.one if x > 0 else alpha * MP.exp(x),
               terms=lambda y, alpha: MP.one if y > 0 else abs(y) + alpha,
               kinks=lambda alpha: (0.0,), defaults={"alpha": 1.0}),
    "selu": Row("output", lambda x, alpha, scale: scale * _elu(x, alpha),
                lambda y, alpha, scale: scale if y > 0 else y + scale * alpha,
                lambda x, alpha, scale: scale if x > 0 else scale * alpha * MP.exp(x),
                terms=lambda y, alpha, scale: scale if y > 0 else abs(y) + scale * alpha,
                kinks=lambda alpha, scale: (0.0,),
                defaults={"alpha": 1.6732632423543772, "scale": 1.0507009873554805}),
    "celu": Row("output", lambda x, alpha: _pos(x) + min(MP.zero, alpha * MP.expm1(x / alpha)),
                lambda y, alpha: MP.one if y > 0 else y / alpha + 1,
                lambda x, alpha: MP.one if x > 0 else MP.exp(x / alpha),
                terms=lambda y, alpha: MP.one if y > 0 else abs(y) / alpha + 1,
                kinks=lambda alpha: (0.0,), defaults={"alpha": 1.0}),
    "softplus": Row("output", _softplus_fwd,
                    lambda y, beta, threshold: -MP.expm1(-beta * y),
                    _softplus_der,
                    kinks=lambda beta, threshold: (threshold / beta,),
                    defaults={"beta": 1.0, "threshold": 20.0}),
    "softsign": Row("output", lambda x: x / (1 + abs(x)), lambda y: (1 - abs(y)) ** 2,
                    lambda x: 1 / (1 + abs(x)) ** 2),
    "hard_sigmoid": Row("output", lambda x: max(MP.zero, min(MP.one, x / 6 + MP.mpf(0.5))),
                        lambda y: MP.one / 6 if 0 < y < 1 else MP.zero,
                        lambda x: MP.one / 6 if -3 < x < 3 else MP.zero,
                        kinks=lambda: (-3.0, 3.0)),
    "hard_tanh": Row("output", lambda x, min_val, max_val: max(min_val, min(max_val, x)),
                     lambda y, min_val, max_val: _step01(min_val < y < max_val),
                     lambda x, min_val, max_val: _step01(min_val < x < max_val),
                     kinks=lambda min_val, max_val: (min_val, max_val),
                     defaults={"min_val": -1.0, "max_val": 1.0}),
    "relu6": Row("output", lambda x: max(MP.zero, min(MP.mpf(6), x)),
                 lambda y: _step01(0 < y < 6), lambda x: _step01(0 < x < 6),
                 kinks=lambda: (0.0, 6.0)),
    "exp": Row("output", MP.exp, lambda y: y, MP.exp),
    "step": Row("output", lambda x, threshold: _step01(x > threshold),
                lambda y, threshold: MP.zero, lambda x, threshold: MP.zero,
                kinks=lambda threshold: (threshold,), defaults={"threshold": 0.0}),
    "swish": Row("input", lambda x, beta: x * _sigmoid(beta * x), _swish_der, _swish_der,
                 terms=lambda x, beta: _sigmoid(beta * x) + abs(beta * x) * _sigmoid_slope(beta * x),
                 defaults={"beta": 1.0}),
    "gelu": Row("input", _gelu_fwd, _gelu_der, _gelu_der, terms=_gelu_terms,
                defaults={"approximate": "none"}),
    "mish": Row("input", _mish_fwd, _mish_der, _mish_der, terms=_mish_terms),
    "hardswish": Row("input", lambda x: x * max(MP.zero, min(MP.mpf(6), x + 3)) / 6,
                     _hardswish_der, _hardswish_der,
                     terms=lambda x: MP.zero if (x < -3 or x > 3) else (2 * abs(x) + 3) / 6,
                     kinks=lambda: (-3.0, 3.0)),
    # whole-array rows: see forward_ref / backward_ref
    "prelu": Row("output", pattern="per_feature", defaults={"alpha": None}),
    "softmax": Row("output", pattern="rowwise"),
    "log_softmax": Row("output", pattern="rowwise"),
    "maxout": Row("input", pattern="reduce", defaults={"pieces": None}),
}

ALIASES = {"linear": "identity", "sigmoid": "logistic", "silu": "swish"}

ELEMENTWISE = tuple(n for n, r in REFERENCE.items() if r.pattern == "elementwise")


def canonical(name):
    return ALIASES.get(name, name)


def row(name):
    return REFERENCE[canonical(name)]


def bind(name, params):
    """The spec defaults overlaid with ``params`` (as floats / strs)."""
    p = dict(row(name).defaults)
    p.update(params)
    return p


def kinks(name, **params):
    r = row(name)
    if r.kinks is None:
        return ()
    p = {k: float(v) for k, v in bind(name, params).items()}
    return tuple(float(k) for k in r.kinks(**p))


# ---------------------------------------------------------------------------
# elementwise evaluation, memoised per (function, params, value)

_MEMO = {}


def _mp_params(params):
    return {k: (v if isinstance(v, str) else MP.mpf(float(v))) for k, v in params.items()}


def _eval(name, which, x, params):
    name = canonical(name)
    fn = getattr(REFERENCE[name], which)
    if fn is None and which == "terms":
        fn = REFERENCE[name].slope
        absolute = True
    else:
        absolute = False
    p = bind(name, params)
    key_p = tuple(sorted((k, v if isinstance(v, str) else float(v)) for k, v in p.items()))
    mp_p = None
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape, dtype=np.float64)
    flat_in, flat_out = x.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat_in.tolist()):
        if v != v:
            flat_out[i] = math.nan
            continue
        key = (name, which, key_p, v)
        r = _MEMO.get(key)
        if r is None:
            if mp_p is None:
                mp_p = _mp_params(p)
            with MP.workdps(40):
                val = fn(_mp(v), **mp_p)
                r = float(abs(val) if absolute else val)
            _MEMO[key] = r
        flat_out[i] = r
    return out


def forward_elementwise(name, x, **params):
    """f(x), correctly rounded to float64."""
    return _eval(name, "forward", x, params)


def slope(name, s, **params):
    """The spec's slope at ``s`` (``y`` or ``x`` per the row's slope_from)."""
    return _eval(name, "slope", s, params)


def slope_terms(name, s, **params):
    """Magnitude scale of the slope formula's terms at ``s`` (for tolerances)."""
    return _eval(name, "terms", s, params)


def derivative(name, x, **params):
    """The analytic df/dx at ``x``."""
    return _eval(name, "derivative", x, params)


def as_dtype(ref64, dtype):
    """Round float64 reference values to ``dtype`` (overflow gives ±inf)."""
    with np.errstate(over="ignore"):
        return np.asarray(ref64, dtype=np.float64).astype(dtype)


# ---------------------------------------------------------------------------
# whole-array rows


def _softmax_row(row_vals, log):
    n = len(row_vals)
    out = [math.nan] * n
    if any(v != v for v in row_vals):
        return out                       # NaN anywhere: the row is undefined
    n_pos = sum(1 for v in row_vals if v == math.inf)
    if n_pos:
        for i, v in enumerate(row_vals):
            if log:
                out[i] = -math.log(n_pos) if v == math.inf else -math.inf
            else:
                out[i] = 1.0 / n_pos if v == math.inf else 0.0
        return out
    if all(v == -math.inf for v in row_vals):
        return out                       # 0/0: no limit
    xs = [MP.mpf(v) if v != -math.inf else None for v in row_vals]
    m = max(v for v in xs if v is not None)
    es = [MP.exp(v - m) if v is not None else MP.zero for v in xs]
    s = MP.fsum(es)
    ls = MP.log(s)
    for i, v in enumerate(xs):
        if log:
            out[i] = float(v - m - ls) if v is not None else -math.inf
        else:
            out[i] = float(es[i] / s)
    return out


def softmax_ref(x, log=False):
    """softmax (or log_softmax) along the last axis, float64."""
    x = np.asarray(x, dtype=np.float64)
    rows = x.reshape(-1, x.shape[-1]) if x.size else x.reshape(0, max(x.shape[-1], 0))
    with MP.workdps(40):
        out = np.array([_softmax_row(r.tolist(), log) for r in rows], dtype=np.float64)
    return out.reshape(x.shape)


def prelu_ref(x, alpha):
    x = np.asarray(x, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    return np.where(x > 0, x, alpha * x)


def maxout_ref(x, pieces):
    """(y, arg) with y = max over each group of ``pieces`` along the last axis
    (NaN wins, the first maximum wins ties) and arg the winning piece."""
    x = np.asarray(x)
    g = x.reshape(x.shape[:-1] + (x.shape[-1] // pieces, pieces))
    key = np.where(np.isnan(g), np.inf, g)
    # first NaN if any, else the first maximum
    nan_any = np.isnan(g).any(axis=-1)
    arg = np.where(nan_any, np.argmax(np.isnan(g), axis=-1), np.argmax(key, axis=-1))
    y = np.take_along_axis(g, arg[..., None], axis=-1)[..., 0]
    return y, arg


def forward_ref(name, x, **params):
    """f(x) for any row of the table, float64."""
    name = canonical(name)
    pattern = REFERENCE[name].pattern
    if pattern == "elementwise":
        return forward_elementwise(name, x, **params)
    if name == "prelu":
        return prelu_ref(x, params["alpha"])
    if name in ("softmax", "log_softmax"):
        return softmax_ref(x, log=name == "log_softmax")
    if name == "maxout":
        return maxout_ref(np.asarray(x, dtype=np.float64), params["pieces"])[0]
    raise KeyError(name)


def backward_ref(name, y, delta, x=None, **params):
    """What backward must return, in float64, together with a scale for its
    rounding error: ``(expected, scale)``; prelu: ``((d, grad_alpha), (sd, sga))``."""
    name = canonical(name)
    r = REFERENCE[name]
    delta = np.asarray(delta, dtype=np.float64)
    if r.pattern == "elementwise":
        s = x if r.slope_from == "input" else y
        sl = slope(name, s, **params)
        with np.errstate(invalid="ignore", over="ignore"):
            return delta * sl, np.abs(delta) * slope_terms(name, s, **params)
    y = np.asarray(y, dtype=np.float64)
    if name == "prelu":
        alpha = np.asarray(params["alpha"], dtype=np.float64)
        neg = ~(y > 0)
        d = delta * np.where(neg, alpha, 1.0)
        lead = tuple(range(y.ndim - 1))
        contrib = np.where(neg, delta * (y / alpha), 0.0)
        ga = contrib.sum(axis=lead) if lead else contrib
        ga_scale = np.abs(contrib).sum(axis=lead) if lead else np.abs(contrib)
        return (d, ga), (np.abs(d), ga_scale)
    if name == "softmax":
        with MP.workdps(40):
            yy, dd = y.reshape(-1, y.shape[-1]), delta.reshape(-1, y.shape[-1])
            out = np.empty_like(yy)
            for i in range(yy.shape[0]):
                dot = MP.fdot(dd[i].tolist(), yy[i].tolist())
                out[i] = [float(MP.mpf(a) * (MP.mpf(b) - dot)) for a, b in zip(yy[i], dd[i])]
            dots = np.sum(np.abs(dd * yy), axis=-1, keepdims=True)
            scale = np.abs(yy) * (np.abs(dd) + dots)
        return out.reshape(y.shape), scale.reshape(y.shape)
    if name == "log_softmax":
        with MP.workdps(40):
            yy, dd = y.reshape(-1, y.shape[-1]), delta.reshape(-1, y.shape[-1])
            out = np.empty_like(yy)
            for i in range(yy.shape[0]):
                s = MP.fsum(dd[i].tolist())
                out[i] = [float(MP.mpf(b) - MP.exp(a) * s) for a, b in zip(yy[i], dd[i])]
            scale = np.abs(dd) + np.exp(yy) * np.sum(np.abs(dd), axis=-1, keepdims=True)
        return out.reshape(y.shape), scale.reshape(y.shape)
    if name == "maxout":
        k = params["pieces"]
        x = np.asarray(x, dtype=np.float64)
        _, arg = maxout_ref(x, k)
        g = np.zeros(x.shape[:-1] + (x.shape[-1] // k, k))
        np.put_along_axis(g, arg[..., None], delta[..., None], axis=-1)
        g = g.reshape(x.shape)
        return g, np.abs(g)
    raise KeyError(name)


# ---------------------------------------------------------------------------
# fused losses


def _weights(w, n):
    return [MP.one] * n if w is None else [MP.mpf(float(v)) for v in np.asarray(w, np.float64)]


def softmax_xent_ref(z, t, w=None):
    """(loss, gradient, proba, loss_scale) of softmax + cross-entropy, float64.

    loss = sum_i w_i sum_j t_ij (lse_i - z_ij) / sum(w); gradient
    w_i (p_ij - t_ij) / sum(w).  ``loss_scale`` bounds the magnitude of the
    terms a correct float computation has to round (for tolerances)."""
    z = np.asarray(z, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n, k = z.shape
    ws = _weights(w, n)
    with MP.workdps(40):
        W = MP.fsum(ws)
        loss, scale = MP.zero, MP.zero
        grad, proba = np.empty_like(z), np.empty_like(z)
        for i in range(n):
            zi = [MP.mpf(v) for v in z[i]]
            ti = [MP.mpf(v) for v in t[i]]
            m = max(zi)
            es = [MP.exp(v - m) for v in zi]     # z - m is exact at this precision
            s = MP.fsum(es)
            log_s = MP.log(s)
            loss += ws[i] * MP.fsum(tj * ((m - zj) + log_s) for tj, zj in zip(ti, zi))
            scale += ws[i] * (MP.fsum(abs(tj) for tj in ti) * (1 + abs(log_s))
                              + MP.fsum(abs(tj * (zj - m)) for tj, zj in zip(ti, zi)))
            for j in range(k):
                p = es[j] / s
                proba[i, j] = float(p)
                grad[i, j] = float(ws[i] * (p - ti[j]) / W) if W else 0.0
        if not W:
            return 0.0, grad, proba, 0.0
        return float(loss / W), grad, proba, float(scale / W)


def logistic_xent_ref(z, t, w=None):
    """(loss, gradient, proba, loss_scale) of sigmoid + binary cross-entropy:
    loss = sum_ij w_i (softplus(z_ij) - t_ij z_ij) / sum(w)."""
    z = np.asarray(z, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n, k = z.shape
    ws = _weights(w, n)
    with MP.workdps(40):
        W = MP.fsum(ws)
        loss, scale = MP.zero, MP.zero
        grad, proba = np.empty_like(z), np.empty_like(z)
        for i in range(n):
            for j in range(k):
                zj, tj = MP.mpf(z[i, j]), MP.mpf(t[i, j])
                sp = _softplus(zj)
                loss += ws[i] * (sp - tj * zj)
                scale += ws[i] * (abs(sp) + abs(tj * zj) + 1)
                p = _sigmoid(zj)
                proba[i, j] = float(p)
                grad[i, j] = float(ws[i] * (p - tj) / W) if W else 0.0
        if not W:
            return 0.0, grad, proba, 0.0
        return float(loss / W), grad, proba, float(scale / W)


# ---------------------------------------------------------------------------
# comparing


def _ordered(a, dtype):
    """Map floats to integers in the order of the reals (+0 and -0 both 0)."""
    dtype = np.dtype(dtype)
    ity = np.int32 if dtype == np.float32 else np.int64
    i = np.asarray(a, dtype=dtype).view(ity).astype(np.int64)
    lo = np.int64(np.iinfo(ity).min)
    return np.where(i < 0, lo - i, i)


def ulp_distance(a, b, dtype):
    """Number of representable ``dtype`` values between a and b (elementwise).

    Both rounded to ``dtype`` first; +0 and -0 are 0 apart; NaN vs NaN is 0,
    NaN vs a number is inf."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    oa = _ordered(as_dtype(a, dtype), dtype)
    ob = _ordered(as_dtype(b, dtype), dtype)
    same = (oa >= 0) == (ob >= 0)
    with np.errstate(over="ignore"):
        d = np.where(same, np.abs(np.where(same, oa - ob, 0)).astype(np.float64),
                     np.abs(oa.astype(np.float64)) + np.abs(ob.astype(np.float64)))
    an, bn = np.isnan(a), np.isnan(b)
    return np.where(an & bn, 0.0, np.where(an | bn, np.inf, d))


def relative_error(got, ref, dtype):
    """|got - ref| / max(|ref|, smallest normal of dtype)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    tiny = float(np.finfo(dtype).smallest_normal)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs(got - ref) / np.maximum(np.abs(ref), tiny)


def accuracy_violations(got, ref64, dtype, rtol=None, scale=None):
    """Where ``got`` misses the reference by the spec's rule (a bool mask).

    * NaN must be NaN; where ``ref`` rounds to +-inf in dtype, got must equal it;
    * where the true value is normal: |got - ref| <= rtol * |ref|;
    * where it is subnormal (or zero): |got - ref| <= the smallest normal
      (the spec asks nothing there; flushing to zero is fine).
    ``scale`` (optional, >= |ref|) replaces |ref| for results of formulas that
    cancel (slopes), making the bound relative to the size of their terms."""
    dtype = np.dtype(dtype)
    rtol = rtol_for(dtype) if rtol is None else rtol
    got = np.asarray(got, dtype=np.float64)
    ref64 = np.asarray(ref64, dtype=np.float64)
    ref_d = as_dtype(ref64, dtype).astype(np.float64)
    tiny = float(np.finfo(dtype).smallest_normal)
    mag = np.abs(ref64) if scale is None else np.maximum(np.abs(ref64), np.abs(scale))
    with np.errstate(invalid="ignore", over="ignore"):
        tol = np.where(mag >= tiny, rtol * mag, tiny)
        close = np.abs(got - ref64) <= tol
    bad = np.where(np.isnan(ref64), ~np.isnan(got),
                   np.where(np.isinf(ref_d), got != ref_d,
                            ~close | ~np.isfinite(got)))
    return bad


def describe(x, got, ref64, mask, limit=8):
    """A few lines describing the points selected by ``mask`` (for messages)."""
    idx = np.flatnonzero(np.asarray(mask).reshape(-1))
    xs = np.asarray(x).reshape(-1) if np.size(x) == np.size(mask) else None
    g, r = np.asarray(got).reshape(-1), np.asarray(ref64).reshape(-1)
    lines = [f"{len(idx)} point(s) off:"]
    for i in idx[:limit]:
        at = f"x={xs[i]!r}: " if xs is not None else f"[{i}]: "
        rel = abs(float(g[i]) - float(r[i])) / abs(float(r[i])) if r[i] and np.isfinite(r[i]) else float("nan")
        lines.append(f"  {at}got {g[i]!r}, expected {r[i]!r} (rel err {rel:.3g})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# input grids


def special_values(dtype):
    """±0, subnormals, the normal range ends, ±inf and NaN."""
    fi = np.finfo(dtype)
    sub = float(fi.smallest_subnormal)
    tiny = float(fi.smallest_normal)
    big = float(fi.max)
    pos = [0.0, sub, 2 * sub, tiny - sub, tiny, 2 * tiny, float(fi.eps), 0.5, 1.0,
           big / 2, float(np.nextafter(fi.max, 0, dtype=dtype)), big, math.inf]
    vals = pos + [-v for v in pos] + [math.nan]
    return np.array(vals, dtype=dtype)


def _around(points, dtype, k=3):
    """Each point and its k nearest neighbours on both sides in dtype."""
    out = []
    for p in points:
        v = np.asarray(p, dtype=dtype)
        up = down = v
        out.append(v)
        for _ in range(k):
            up = np.nextafter(up, np.asarray(np.inf, dtype))
            down = np.nextafter(down, np.asarray(-np.inf, dtype))
            out += [up, down]
    return np.array(out, dtype=dtype)


def dense_grid(dtype, extra_points=()):
    """A dense deterministic grid over the whole range of ``dtype``.

    Uniform steps over the moderate range, log-spaced magnitudes from the
    smallest subnormal to the largest finite value, fine bands where
    exponentials over/underflow (|x| near log(max), log(tiny), log(smallest
    subnormal) and twice those, for beta = 1/2), kinks +- a few ulps, and the
    special values."""
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    parts = [np.linspace(-8, 8, 641), np.linspace(-40, 40, 321)]
    lo, hi = math.log10(float(fi.smallest_subnormal)), math.log10(float(fi.max))
    with np.errstate(over="ignore"):
        mags = np.logspace(lo, hi, 400 if dtype == np.float64 else 300)
    mags = mags[mags <= float(fi.max)]
    parts += [mags, -mags]
    step = 0.25 if dtype == np.float64 else 0.1
    for c in (math.log(float(fi.max)), -math.log(float(fi.smallest_normal)),
              -math.log(float(fi.smallest_subnormal))):
        for scale in (1, 2):
            band = np.arange(c - 8, c + 8, step) * scale
            parts += [band, -band]
    kinks_ = [0.0, 1.0, -1.0, 3.0, -3.0, 6.0, 20.0, 2.5, 0.5, -2.0] + list(extra_points)
    parts.append(_around(kinks_, dtype).astype(np.float64))
    with np.errstate(over="ignore"):
        grid = np.concatenate([p.astype(dtype) for p in parts] + [special_values(dtype)])
    # unique, but keep -0.0 and NaN (np.unique merges/sorts them)
    fin = np.unique(grid[np.isfinite(grid) & (grid != 0)])
    rest = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype)
    return np.concatenate([fin, rest])


# ---------------------------------------------------------------------------
# the parameter variants every elementwise test runs: (id, name, params)

VARIANTS = [
    ("identity", "identity", {}),
    ("linear", "linear", {}),
    ("logistic", "logistic", {}),
    ("sigmoid", "sigmoid", {}),
    ("tanh", "tanh", {}),
    ("relu", "relu", {}),
    ("leaky_relu", "leaky_relu", {}),
    ("leaky_relu-a0.2", "leaky_relu", {"alpha": 0.2}),
    ("elu", "elu", {}),
    ("elu-a0.5", "elu", {"alpha": 0.5}),
    ("selu", "selu", {}),
    ("celu", "celu", {}),
    ("celu-a2", "celu", {"alpha": 2.0}),
    ("softplus", "softplus", {}),
    ("softplus-b2-t5", "softplus", {"beta": 2.0, "threshold": 5.0}),
    ("softsign", "softsign", {}),
    ("hard_sigmoid", "hard_sigmoid", {}),
    ("hard_tanh", "hard_tanh", {}),
    ("hard_tanh-m2-0.5", "hard_tanh", {"min_val": -2.0, "max_val": 0.5}),
    ("relu6", "relu6", {}),
    ("exp", "exp", {}),
    ("step", "step", {}),
    ("step-t0.5", "step", {"threshold": 0.5}),
    ("swish", "swish", {}),
    ("swish-b0.5", "swish", {"beta": 0.5}),
    ("silu", "silu", {}),
    ("gelu", "gelu", {}),
    ("gelu-tanh", "gelu", {"approximate": "tanh"}),
    ("mish", "mish", {}),
    ("hardswish", "hardswish", {}),
]
