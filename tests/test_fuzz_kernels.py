"""Property-based fuzzing of the kernel API (forward, backward, the fused
layer kernels and the fused losses).

The invariant every call must keep, whatever the input:

* either it raises TypeError or ValueError and every input buffer, including
  the bytes around a strided view, is byte-for-byte untouched,
* or it returns, and the arrays it writes hold the reference result
  (tests/reference.py, 40-digit mpmath), nothing outside them changed, and
  the other inputs are untouched.

Inputs range over random shapes (0-d, empty, one element, up to 3-D, long
1-D buffers that reach the vector loops' tails), both float dtypes and the
invalid ones, layouts (C, F, transposed, strided with negative and large
steps, offsets, broadcast, misaligned), read-only flags, aliasing (out is x,
out overlaps x, delta is y, delta is x, bias inside z or bias_grad),
parameters at and beyond their limits, and NaN/inf patterns.

Accuracy itself is tests/test_forward.py's job: the tolerance here is a few
times the spec's, widened by the condition number of f at x, so that what
fails here is a wrong element, not a last-bit difference.

Known bugs have their own xfail(strict=True) tests at the end and are
excluded from the random strategies (each exclusion names its test).

Budget: HYPOTHESIS_PROFILE (tests/conftest.py), "ci" by default.
"""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import assume, given, note  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import fastact  # noqa: E402
import reference as R  # noqa: E402
from conftest import CHILD_CWD, child_env  # noqa: E402

SANITIZER = bool(os.environ.get("FASTACT_SANITIZER"))
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
NAMES = sorted(dict(fastact.ACTIVATIONS))
ALIASES = {"linear": "identity", "sigmoid": "logistic", "silu": "swish"}
ELEMENTWISE = [n for n in NAMES if fastact.ACTIVATIONS[n].pattern == "elementwise"]
ROWWISE = ("softmax", "log_softmax")
BAD_DTYPES = [np.float16, np.int8, np.int32, np.int64, np.uint16, np.bool_,
              np.complex64, np.complex128, np.longdouble, object,
              np.dtype(">f4"), np.dtype(">f8")]          # non-native byte order
RTOL_FACTOR = 8          # times the spec's relative bound (see module docstring)
ERRORS = (TypeError, ValueError)


def pattern(name):
    return fastact.ACTIVATIONS[name].pattern


def from_input(name):
    return fastact.ACTIVATIONS[name].slope_from == "input"


# ---------------------------------------------------------------------------
# guarded buffers: a view into a larger byte buffer whose every byte is checked


PAD = 64          # guard bytes on each side of every allocation
FILL = 0xA5       # their pattern


class Buf:
    """An array view into a raw, guarded byte buffer.

    ``view`` is what the kernel gets; ``covered`` marks the raw bytes that
    belong to it; ``values`` is a copy of its logical content taken when the
    buffer was made (what the reference sees)."""

    def __init__(self, raw, view, covered):
        self.raw, self.view, self.covered = raw, view, covered
        self.values = np.array(view, copy=True)
        self.before = None

    def snap(self):
        self.before = self.raw.copy()


def _covered_bytes(raw_size, start, itemsize, elems):
    mask = np.zeros(raw_size, dtype=bool)
    if elems.size:
        idx = start + elems.reshape(-1, 1) * itemsize + np.arange(itemsize)
        mask[idx.reshape(-1)] = True
    return mask


def layouts(ndim, allow_broadcast=True, allow_misaligned=True):
    """Strategy for a layout spec of an ndim-array (see make_buf)."""
    kinds = [st.just(("C",)), st.just(("F",))]
    if ndim >= 2:
        kinds.append(st.permutations(range(ndim)).map(lambda p: ("perm", tuple(p))))
    if ndim >= 1:
        kinds.append(st.tuples(
            st.just("strided"),
            st.lists(st.sampled_from([1, 1, 2, 3]), min_size=ndim, max_size=ndim).map(tuple),
            st.lists(st.booleans(), min_size=ndim, max_size=ndim).map(tuple),
            st.lists(st.integers(0, 2), min_size=ndim, max_size=ndim).map(tuple)))
        kinds.append(st.tuples(st.just("bigstride"), st.sampled_from([17, 64, 257])))
    if allow_broadcast and ndim >= 1:
        kinds.append(st.lists(st.booleans(), min_size=ndim, max_size=ndim)
                     .map(lambda m: ("broadcast", tuple(m))))
    if allow_misaligned:
        # misaligned buffers are copied before they reach C (a misaligned
        # float* is undefined behaviour): see test_misaligned_buffers_reach_c
        kinds.append(st.integers(1, 7).map(lambda k: ("misaligned", k)))
    return st.one_of(*kinds)


def make_buf(values, spec, readonly=False):
    """Lay ``values`` (C-contiguous, the logical content) out as ``spec`` says:

    ("C",) | ("F",) | ("perm", axes) transposed | ("strided", steps, reversed,
    offsets) | ("bigstride", step of the last axis) | ("broadcast", mask)
    stride-0 axes (read-only, content = the first entry along them) |
    ("misaligned", byte offset)."""
    values = np.array(values, order="C", copy=True)     # (ascontiguousarray makes 0-d 1-d)
    dt, shape, it = values.dtype, values.shape, values.dtype.itemsize
    nd = len(shape)
    kind = spec[0]
    misalign = 0
    fill_from = values
    if kind == "C":
        base_shape, f = shape, (lambda a: a)
    elif kind == "F":
        base_shape, f = shape[::-1], (lambda a: a.T)
    elif kind == "perm":
        perm = spec[1]
        inv = np.argsort(perm)
        base_shape = tuple(shape[i] for i in inv)
        f = (lambda a: a.transpose(perm))
    elif kind in ("strided", "bigstride"):
        if kind == "strided":
            steps, rev, offs = spec[1], spec[2], spec[3]
        else:
            steps = (1,) * (nd - 1) + (spec[1],)
            rev, offs = (False,) * nd, (0,) * nd
        base_shape = tuple(shape[i] * steps[i] + offs[i] for i in range(nd))
        fwd = tuple(slice(offs[i], offs[i] + shape[i] * steps[i], steps[i]) for i in range(nd))
        back = tuple(slice(None, None, -1) if rev[i] else slice(None) for i in range(nd))
        f = (lambda a: a[fwd][back])
    elif kind == "broadcast":
        mask = tuple(m and shape[i] > 0 for i, m in enumerate(spec[1]))
        base_shape = tuple(1 if m else n for m, n in zip(mask, shape))
        fill_from = values[tuple(slice(0, 1) if m else slice(None) for m in mask)]
        f = (lambda a: np.broadcast_to(a, shape))
    elif kind == "misaligned":
        misalign = spec[1] % it or 1
        base_shape, f = shape, (lambda a: a)
    else:
        raise AssertionError(spec)
    n = int(np.prod(base_shape, dtype=np.int64))
    raw = np.full(n * it + 2 * PAD + 8, FILL, dtype=np.uint8)
    start = PAD + misalign
    base = raw[start:start + n * it].view(dt).reshape(base_shape)
    if kind == "broadcast":
        base[...] = fill_from
        view = f(base)
    else:
        view = f(base)
        view[...] = values
    elems = f(np.arange(n, dtype=np.int64).reshape(base_shape))
    covered = _covered_bytes(raw.size, start, it, np.unique(elems))
    if readonly and view.flags.writeable:
        view.flags.writeable = False
    return Buf(raw, view, covered)


def shifted_pair(values, shift):
    """Two C-ordered views of one buffer, the second ``shift`` rows (first
    axis) further: (first, second) with the logical content ``values`` in
    both before the call (the overlap holds ``values[shift:]``'s rows from the
    first view's point of view); returns Bufs whose ``values`` are each
    view's content."""
    values = np.ascontiguousarray(values)
    shape = values.shape
    it = values.dtype.itemsize
    base_shape = (shape[0] + shift,) + shape[1:]
    n = int(np.prod(base_shape, dtype=np.int64))
    raw = np.full(n * it + 2 * PAD, FILL, dtype=np.uint8)
    base = raw[PAD:PAD + n * it].view(values.dtype).reshape(base_shape)
    base[:shape[0]] = values
    if shift:
        base[shape[0]:] = values[-1:]  # something finite-or-special from the data
    idx = np.arange(n).reshape(base_shape)
    a, b = base[:shape[0]], base[shift:shift + shape[0]]
    ca = _covered_bytes(raw.size, PAD, it, idx[:shape[0]].reshape(-1))
    cb = _covered_bytes(raw.size, PAD, it, idx[shift:shift + shape[0]].reshape(-1))
    return Buf(raw, a, ca), Buf(raw, b, cb)


def shape_ok(canon, params, shape):
    """x's shape fits the activation (prelu: last axis = len(alpha))."""
    if canon == "prelu":
        return len(shape) >= 1 and shape[-1] == len(params["alpha"])
    if canon == "maxout":
        return len(shape) >= 1 and shape[-1] % params["pieces"] == 0
    if canon in ROWWISE:
        return len(shape) >= 1
    return True


def raised(valid, e, bufs):
    """The call raised e: fine unless it was valid; inputs untouched."""
    assert valid is not True, f"valid call raised {e!r}"
    assert_untouched(bufs)


def returned(valid):
    assert valid is not False, "invalid call did not raise"


def snap_all(bufs):
    for b in bufs:
        b.snap()


def assert_untouched(bufs, allowed=()):
    """No byte of any raw buffer changed, except those covered by the views of
    ``allowed`` (the arrays the call writes)."""
    raws = {}
    for b in bufs:
        raws.setdefault(id(b.raw), (b, []))
    for b in allowed:
        raws.setdefault(id(b.raw), (b, []))[1].append(b.covered)
    for b, masks in raws.values():
        keep = np.ones(b.raw.size, dtype=bool)
        for m in masks:
            keep &= ~m
        changed = np.flatnonzero((b.raw != b.before) & keep)
        assert changed.size == 0, (
            f"{changed.size} byte(s) outside the written arrays changed, "
            f"first at raw offset {changed[0]} (view starts at {np.flatnonzero(b.covered)[:1]})")


# ---------------------------------------------------------------------------
# comparing with the reference


def assert_matches(got, ref64, dtype, scale=None, lenient=None, what="result", x=None,
                   anything=None):
    """got (dtype) equals the float64 reference up to the fuzz tolerance.

    NaN must be NaN; an infinite reference must be matched exactly; near the
    overflow threshold of dtype, the same-signed inf is accepted as well;
    elsewhere |got - ref| <= rtol * max(|ref|, scale) with an absolute floor
    of the smallest normal.  Where ``lenient`` is set, only non-finiteness is
    required (an infinite delta times an underflowed slope is inf or NaN);
    where ``anything`` is set, any value is accepted."""
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    rtol = RTOL_FACTOR * R.rtol_for(dtype)
    got64 = np.asarray(got, dtype=np.float64)
    ref64 = np.asarray(ref64, dtype=np.float64)
    assert got64.shape == ref64.shape, f"{what}: shape {got64.shape} != {ref64.shape}"
    with np.errstate(all="ignore"):
        mag = np.abs(ref64)
        if scale is not None:
            mag = np.fmax(mag, np.nan_to_num(np.abs(np.asarray(scale, np.float64)), nan=0.0))
        tol = np.fmax(rtol * mag, float(fi.smallest_normal))
        close = np.abs(got64 - ref64) <= tol
        near_over = np.abs(ref64) >= float(fi.max) * (1 - 2 * rtol)
        same_inf = np.isinf(got64) & (np.sign(got64) == np.sign(ref64))
        ok = np.where(np.isnan(ref64), np.isnan(got64),
                      np.where(np.isinf(ref64), got64 == ref64,
                               np.where(near_over, close | same_inf,
                                        close & np.isfinite(got64))))
        if lenient is not None:
            ok |= np.asarray(lenient) & ~np.isfinite(got64)
        if anything is not None:
            ok |= np.asarray(anything)
    bad = ~ok
    if bad.any():
        xs = x if x is not None and np.size(x) == bad.size else np.zeros(bad.shape)
        raise AssertionError(f"{what} ({dtype.name}) differs from the reference: "
                             + R.describe(xs, got64, ref64, bad))


def nan_source(canon, src64):
    """Where the slope's source (y or x) is NaN.  The table's slopes read
    "1 if y > 0 else 0" and the like, so a NaN source takes the else branch
    (relu, hard_sigmoid, step, ... give delta * 0 there), while the
    reference propagates NaN: the spec does not say which, so both pass."""
    if pattern(canon) != "elementwise":
        return None
    return np.isnan(src64)


def ref_params(name, params, dtype):
    """The parameters as the kernel sees them: scalars rounded to dtype
    (prelu's alpha too); what the reference is evaluated with.  step's
    threshold is the exception: the kernel rounds it down to dtype, which
    keeps x > threshold exact, so the reference takes it unrounded."""
    out = {}
    for k, v in params.items():
        if isinstance(v, str):
            out[k] = v
        elif k == "pieces":
            out[k] = int(v)
        elif name == "step" and k == "threshold":
            out[k] = float(v)
        elif isinstance(v, np.ndarray) or isinstance(v, (list, tuple)):
            out[k] = np.asarray(v, dtype=np.float64).astype(dtype).astype(np.float64)
        else:
            out[k] = float(np.asarray(float(v), dtype=np.float64).astype(dtype))
    return out


def forward_reference(name, x64, params, dtype):
    """(expected float64, scale) of forward(name, x)."""
    canon = ALIASES.get(name, name)
    p = ref_params(canon, params, dtype)
    if pattern(canon) == "elementwise":
        exp = R.forward_elementwise(canon, x64, **p)
        with np.errstate(all="ignore"):
            # condition-number term: an input-side rounding of the internal
            # argument (beta x, x / alpha, x - m) moves f by about x f'(x) eps
            k = np.abs(x64 * R.derivative(canon, x64, **p))
            k = np.where(np.isfinite(x64), k, 0.0)
            if canon in ("swish", "mish", "gelu"):
                # the gate below the normal range: test_forward's
                # test_gated_tail_where_gate_is_subnormal (BUG, xfail) covers it
                k = np.fmax(k, np.where(np.abs(exp) < 1e3 * float(np.finfo(dtype).smallest_normal)
                                        * np.abs(np.nan_to_num(x64)), np.inf, 0.0))
            if canon == "softplus":
                # y = x where beta x > threshold: a discontinuity; where the
                # product beta x rounded to dtype lands on the other side of
                # the threshold than the exact product, both values are right
                beta, thr = p.get("beta", 1.0), p.get("threshold", 20.0)
                exact = np.longdouble(beta) * x64.astype(np.longdouble)
                rounded = (exact.astype(dtype)).astype(np.longdouble)
                k = np.fmax(k, np.where((exact > thr) != (rounded > thr), np.inf, 0.0))
        return exp, k
    if canon in ROWWISE:
        exp = R.softmax_ref(x64, log=canon == "log_softmax")
        with np.errstate(all="ignore"):
            fin = np.where(np.isfinite(x64), x64, -np.inf)
            m = fin.max(axis=-1, keepdims=True) if x64.size else fin
            d = np.where(np.isfinite(x64), np.abs(x64 - m), 0.0)
            d = np.nan_to_num(d, nan=0.0, posinf=0.0)
            if canon == "softmax":
                scale = np.abs(exp) * (1 + d)
            else:
                scale = np.abs(exp) + d + math.log(max(x64.shape[-1], 1)) + 1
        return exp, scale
    if canon == "prelu":
        return R.prelu_ref(x64, p["alpha"]), None
    if canon == "maxout":
        return R.maxout_ref(x64, p["pieces"])[0], None
    raise AssertionError(name)


# ---------------------------------------------------------------------------
# strategies


def elements(dtype, special=True):
    w = 32 if np.dtype(dtype) == np.float32 else 64
    fi = np.finfo(dtype)
    parts = [st.floats(-8, 8, width=w), st.floats(-100, 100, width=w),
             st.floats(width=w, allow_nan=False, allow_infinity=False)]
    if special:
        parts.append(st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf,
                                      float(fi.smallest_subnormal), float(fi.smallest_normal),
                                      float(fi.max), -float(fi.max)]))
    return st.one_of(*parts)


def shapes(min_dims=0):
    return st.one_of(
        hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=0, max_side=6),
        hnp.array_shapes(min_dims=max(min_dims, 1), max_dims=3, min_side=1, max_side=3),
        st.integers(0, 200).map(lambda n: (n,)),                      # vector tails
        st.tuples(st.integers(1, 4), st.integers(15, 40)),            # rows x features
    ).filter(lambda s: len(s) >= min_dims)


POS_SCALE = st.one_of(st.sampled_from([0.01, 0.5, 1.0, 2.0, 1.6732632423543772]),
                      st.floats(1e-6, 1e6))


@st.composite
def params_for(draw, name, shape):
    """Valid parameters of ``name`` (a random subset; the rest default)."""
    canon = ALIASES.get(name, name)
    last = shape[-1] if len(shape) else 0
    p = {}
    if canon in ("leaky_relu", "elu", "celu"):
        if draw(st.booleans()):
            p["alpha"] = draw(POS_SCALE)
    elif canon == "selu":
        for k in ("alpha", "scale"):
            if draw(st.booleans()):
                p[k] = draw(POS_SCALE)
    elif canon == "softplus":
        if draw(st.booleans()):
            p["beta"] = draw(POS_SCALE)
        if draw(st.booleans()):
            p["threshold"] = draw(st.floats(-50, 50))
    elif canon == "hard_tanh":
        if draw(st.booleans()):
            a, b = sorted(draw(st.lists(st.floats(-10, 10), min_size=2, max_size=2, unique=True)))
            p["min_val"], p["max_val"] = a, b
    elif canon == "step":
        if draw(st.booleans()):
            p["threshold"] = draw(st.floats(-10, 10))
    elif canon == "swish":
        if draw(st.booleans()):
            p["beta"] = draw(st.one_of(st.sampled_from([-1.0, 0.0, 1.0, 1e-3]),
                                       st.floats(-1e3, 1e3)))
    elif canon == "gelu":
        if draw(st.booleans()):
            p["approximate"] = draw(st.sampled_from(["none", "tanh"]))
    elif canon == "prelu":
        n = last if last >= 1 else draw(st.integers(1, 4))
        p["alpha"] = np.array(draw(st.lists(POS_SCALE, min_size=n, max_size=n)))
    elif canon == "maxout":
        p["pieces"] = draw(st.integers(2, 4))
    return p


@st.composite
def kernel_input(draw, names=None, min_dims=0, special=True):
    """(name, params, dtype, x values) with x's shape fitting the activation."""
    name = draw(st.sampled_from(names or (NAMES + list(ALIASES))))
    canon = ALIASES.get(name, name)
    dtype = draw(st.sampled_from(FLOATS))
    if canon == "maxout":
        k = draw(st.integers(2, 4))
        lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4))
        shape = lead + (k * draw(st.integers(0, 5)),)
        params = {"pieces": k}
    else:
        md = max(min_dims, 1) if canon == "prelu" else min_dims
        shape = draw(shapes(md))
        params = draw(params_for(name, shape))
    x = draw(hnp.arrays(dtype, shape, elements=elements(dtype, special)))
    return name, params, dtype, x


THREADS = st.sampled_from([None, 1, 2, 3, np.int64(2)])


# ---------------------------------------------------------------------------
# forward


OUT_MODES = ["inplace", "separate", "is_x", "same_view", "overlap",
             "bad_dtype", "bad_shape", "readonly", "not_array"]


@given(inp=kernel_input(), data=st.data())
def test_forward_fuzz(inp, data):
    name, params, dtype, xv = inp
    canon = ALIASES.get(name, name)
    reduce_ = canon == "maxout"
    mode = data.draw(st.sampled_from(OUT_MODES), label="out mode")
    if mode == "overlap" and (xv.ndim == 0 or xv.shape[0] == 0 or reduce_):
        mode = "separate"
    if reduce_ and mode in ("is_x", "same_view"):
        mode = "separate"
    x_ro = data.draw(st.booleans(), label="x read-only") if mode != "inplace" else \
        data.draw(st.sampled_from([False, False, False, True]), label="x read-only")
    n_threads = data.draw(THREADS, label="n_threads")

    out_shape = xv.shape[:-1] + (xv.shape[-1] // params["pieces"],) if reduce_ else xv.shape
    valid = True
    fits = shape_ok(canon, params, xv.shape)
    bufs, target = [], None
    if mode == "overlap":
        shift = data.draw(st.integers(1, 2), label="shift")
        xb, ob = shifted_pair(xv, shift)
        if x_ro:
            xb.view.flags.writeable = False
        bufs = [xb, ob]
        out, target = ob.view, ob
        valid = True
    else:
        xb = make_buf(xv, data.draw(layouts(xv.ndim), label="x layout"), readonly=x_ro)
        bufs = [xb]
        out = None
        if mode == "inplace":
            target = xb if not reduce_ else None
            valid = xb.view.flags.writeable or reduce_
        elif mode == "separate":
            ov = np.zeros(out_shape, dtype)
            ob = make_buf(ov, data.draw(layouts(len(out_shape), allow_broadcast=False),
                                        label="out layout"))
            bufs.append(ob)
            out, target = ob.view, ob
        elif mode == "is_x":
            out, target = xb.view, xb
            valid = xb.view.flags.writeable
        elif mode == "same_view":
            out, target = xb.view[...], xb
            valid = xb.view.flags.writeable
        elif mode == "bad_dtype":
            bad = data.draw(st.sampled_from([d for d in FLOATS if d != dtype] + BAD_DTYPES))
            out = np.zeros(out_shape, dtype=bad)
            valid = False
        elif mode == "bad_shape":
            out = np.zeros(out_shape + (1,), dtype)
            valid = False
        elif mode == "readonly":
            ob = make_buf(np.zeros(out_shape, dtype), ("C",), readonly=True)
            bufs.append(ob)
            out = ob.view
            valid = False
        elif mode == "not_array":
            out = np.zeros(out_shape, dtype).tolist()
            valid = False
    valid = valid and fits
    note(f"name={name} params={params} dtype={dtype} shape={xv.shape} mode={mode} "
         f"x strides={xb.view.strides} x_ro={x_ro} n_threads={n_threads}")

    snap_all(bufs)
    try:
        res = fastact.forward(name, xb.view, out, n_threads=n_threads, **params)
    except ERRORS as e:
        return raised(valid, e, bufs)
    returned(valid)
    if target is not None:
        assert res is (out if out is not None else xb.view)
        assert_untouched(bufs, allowed=[target])
    else:
        assert_untouched(bufs)
    assert isinstance(res, np.ndarray) and res.dtype == dtype and res.shape == out_shape
    x64 = xb.values.astype(np.float64)
    exp, scale = forward_reference(name, x64, params, dtype)
    assert_matches(res, exp, dtype, scale=scale, what=f"forward {name}", x=xb.values)
    # the layout never changes the bits: same as a C-contiguous, 1-thread run
    again = fastact.forward(name, np.array(xb.values, order="C", copy=True), n_threads=1,
                            **params)
    np.testing.assert_array_equal(np.asarray(res), again,
                                  err_msg="result depends on layout / aliasing / threads")


# ---------------------------------------------------------------------------
# backward


DELTA_MODES = ["separate", "delta_is_y", "delta_overlaps_y", "delta_is_x", "no_y", "no_x",
               "readonly", "bad_dtype", "bad_shape"]


def delta_elements(dtype):
    w = 32 if np.dtype(dtype) == np.float32 else 64
    return st.one_of(st.floats(-4, 4, width=w), st.floats(-1e6, 1e6, width=w),
                     st.sampled_from([0.0, -0.0, 1.0, math.nan, math.inf, -math.inf]))


@given(inp=kernel_input(), data=st.data())
def test_backward_fuzz(inp, data):
    name, params, dtype, xv = inp
    canon = ALIASES.get(name, name)
    pat = pattern(canon)
    reduce_ = canon == "maxout"
    assume(shape_ok(canon, params, xv.shape))
    yv = fastact.forward(name, np.array(xv, order="C", copy=True), n_threads=1, **params)
    dshape = yv.shape
    dv = data.draw(hnp.arrays(dtype, dshape, elements=delta_elements(dtype)), label="delta")
    if pat == "rowwise":
        # row-wise slopes mix a row: a non-finite delta makes it NaN/inf in ways
        # that depend on summation order; keep delta finite there
        dv = np.nan_to_num(dv, nan=0.5, posinf=3.0, neginf=-3.0)
    mode = data.draw(st.sampled_from(DELTA_MODES), label="mode")
    if mode == "delta_overlaps_y" and (len(dshape) == 0 or dshape[0] == 0 or reduce_):
        mode = "separate"
    if mode == "delta_is_x" and (not from_input(canon) or reduce_):
        mode = "separate"
    if canon == "log_softmax" and mode in ("delta_is_y", "delta_overlaps_y"):
        dv = -np.abs(dv)        # y is then delta: keep it in log_softmax's range (<= 0)
    n_threads = data.draw(THREADS, label="n_threads")
    lay = lambda nd, lab: data.draw(layouts(nd), label=lab)  # noqa: E731

    valid = True
    yb = xb = None
    y_arg = x_arg = None
    if mode == "delta_is_y":
        db = make_buf(dv, lay(len(dshape), "delta layout"))
        dv = db.values.copy()
        # delta is y: y's values are the delta values then
        yb = db
        y_arg = db.view
        xb = make_buf(xv, lay(xv.ndim, "x layout"), readonly=True)
        x_arg = xb.view
    elif mode == "delta_overlaps_y":
        shift = data.draw(st.integers(1, 2), label="shift")
        yb, db = shifted_pair(yv, shift)
        db.view[...] = dv
        db.values = dv.copy()
        yb.values = np.array(yb.view, copy=True)
        xb = make_buf(xv, lay(xv.ndim, "x layout"), readonly=True)
        y_arg, x_arg = yb.view, xb.view
    elif mode == "delta_is_x":
        db = make_buf(xv, lay(xv.ndim, "delta layout"))   # delta holds x's values
        xb = db
        x_arg = db.view
        dv = db.values.copy()
        y_arg = None
    else:
        db = make_buf(dv, lay(len(dshape), "delta layout"), readonly=mode == "readonly")
        dv = db.values.copy()           # (a broadcast layout changes the content)
        yb = make_buf(yv, lay(yv.ndim, "y layout"), readonly=data.draw(st.booleans()))
        xb = make_buf(xv, lay(xv.ndim, "x layout"), readonly=data.draw(st.booleans()))
        y_arg, x_arg = yb.view, xb.view
        if mode == "readonly":
            valid = reduce_            # maxout does not write delta
        elif mode == "no_y":
            y_arg = None
            valid = from_input(canon)
        elif mode == "no_x":
            x_arg = None
            valid = not from_input(canon)
        elif mode == "bad_dtype":
            other = data.draw(st.sampled_from([d for d in FLOATS if d != dtype] + BAD_DTYPES))
            which = data.draw(st.sampled_from(["y", "x"]))
            bad = np.zeros(xv.shape if which == "x" else dshape, dtype=other)
            if which == "y":
                y_arg = bad
            else:
                x_arg = bad
            # an argument the activation does not read is not checked
            valid = (which == "x" and not from_input(canon))
        elif mode == "bad_shape":
            which = data.draw(st.sampled_from(["y", "x"]))
            bad = np.zeros((xv.shape if which == "x" else dshape) + (2,), dtype)
            if which == "y":
                y_arg = bad
            else:
                x_arg = bad
            valid = (which == "x" and not from_input(canon))
    if not db.view.flags.writeable and not reduce_:
        valid = False                      # a broadcast (stride-0) delta is read-only
    bufs = [b for b in {id(b): b for b in (db, yb, xb) if b is not None}.values()]
    note(f"name={name} params={params} dtype={dtype} x={xv.shape} delta={dshape} mode={mode} "
         f"delta strides={db.view.strides} n_threads={n_threads}")

    snap_all(bufs)
    try:
        res = fastact.backward(name, y_arg, db.view, x_arg, n_threads=n_threads, **params)
    except ERRORS as e:
        return raised(valid, e, bufs)
    returned(valid)

    y64 = (yb.values if yb is not None and mode not in ("no_y",) else yv).astype(np.float64)
    if mode == "delta_is_y":
        y64 = dv.astype(np.float64)
    x64 = (xb.values if xb is not None else xv).astype(np.float64)   # (a broadcast layout
    d64 = dv.astype(np.float64)                                         # changes the content)
    p = ref_params(canon, params, dtype)
    tiny = float(np.finfo(dtype).smallest_normal)
    if reduce_:
        assert_untouched(bufs)
        exp, _ = R.backward_ref(canon, y64, d64, x=x64, **p)
        assert isinstance(res, np.ndarray) and res.shape == xv.shape and res.dtype == dtype
        np.testing.assert_array_equal(res, exp.astype(dtype))
        return
    assert_untouched(bufs, allowed=[db])
    if canon == "prelu":
        got_d, got_ga = res
        assert got_d is db.view
        (exp, ga), (sd, sga) = R.backward_ref(canon, y64, d64, **p)
        assert_matches(got_d, exp, dtype, scale=sd, what="prelu delta")
        rows = max(1, int(np.prod(dshape[:-1])))
        with np.errstate(all="ignore"):
            sga = sga * (1 + rows * float(np.finfo(dtype).eps) / (RTOL_FACTOR * R.rtol_for(dtype)))
        assert_matches(got_ga, ga, dtype, scale=sga, what="prelu grad_alpha")
        return
    assert res is db.view
    if res.size == 0:
        return                     # (the reference cannot reshape empty rows)
    exp, scale = R.backward_ref(canon, y64, d64, x=x64, **p)
    with np.errstate(all="ignore"):
        scale = np.fmax(np.nan_to_num(scale, nan=0.0), 4 * np.abs(d64) * tiny
                        / (RTOL_FACTOR * R.rtol_for(dtype)))
        if pat == "elementwise" and from_input(canon) and canon in ("swish", "mish", "gelu"):
            # slopes with a subnormal gate factor (see test_forward's xfail)
            scale = np.fmax(scale, np.where(np.abs(exp) < 1e3 * tiny * np.abs(d64)
                                            * (1 + np.abs(np.nan_to_num(x64))), np.inf, 0.0))
    lenient = ~np.isfinite(d64)
    src64 = x64 if from_input(canon) else y64
    assert_matches(res, exp, dtype, scale=scale, lenient=lenient, what=f"backward {name}",
                   x=xv if xv.shape == dshape else None, anything=nan_source(canon, src64))


# ---------------------------------------------------------------------------
# fused layer kernels


@st.composite
def matrix_input(draw, names):
    name = draw(st.sampled_from(names))
    dtype = draw(st.sampled_from(FLOATS))
    shape = draw(st.one_of(st.tuples(st.integers(0, 5), st.integers(0, 6)),
                           st.tuples(st.integers(1, 3), st.integers(60, 140))))
    params = draw(params_for(name, shape))
    z = draw(hnp.arrays(dtype, shape, elements=elements(dtype)))
    return name, params, dtype, z


BIAS_MODES = ["separate", "row_of_z", "saved", "bias_in_saved", "z_not_2d", "z_strided",
              "z_readonly", "bias_bad_len", "bias_bad_dtype", "saved_is_z", "saved_bad"]


@given(inp=matrix_input(ELEMENTWISE + list(ROWWISE) + ["prelu", "maxout"]), data=st.data())
def test_bias_act_forward_fuzz(inp, data):
    name, params, dtype, zv = inp
    canon = ALIASES.get(name, name)
    rows, cols = zv.shape
    bv = data.draw(hnp.arrays(dtype, (cols,), elements=elements(dtype)), label="bias")
    mode = data.draw(st.sampled_from(BIAS_MODES), label="mode")
    if mode in ("row_of_z", "bias_in_saved") and rows == 0:
        mode = "separate"
    n_threads = data.draw(THREADS, label="n_threads")
    valid = canon not in ("prelu", "maxout")
    zb = make_buf(zv, ("C",), readonly=mode == "z_readonly")
    bufs = [zb]
    z_arg = zb.view
    saved = sb = None
    if mode == "row_of_z":
        # bias is a row of z itself (the kernel must read it before z changes)
        r = data.draw(st.integers(0, rows - 1))
        bias = zb.view[r]
        bv = zv[r].copy()
        bb = None
    else:
        bb = make_buf(bv, data.draw(layouts(1), label="bias layout"),
                      readonly=data.draw(st.booleans()))
        bufs.append(bb)
        bias = bb.view
        bv = bb.values.copy()
    if mode == "saved":
        sb = make_buf(np.zeros_like(zv), ("C",))
        bufs.append(sb)
        saved = sb.view
    elif mode == "bias_in_saved":
        # bias is a row of saved_input, which the kernel overwrites
        sv = np.zeros_like(zv)
        r = data.draw(st.integers(0, rows - 1))
        sv[r] = bv
        sb = make_buf(sv, ("C",))
        bufs.append(sb)
        saved = sb.view
        bias = sb.view[r]
    elif mode == "z_not_2d":
        z_arg = zb.view.reshape(-1)
        valid = False
    elif mode == "z_strided":
        big = make_buf(np.repeat(zv, 2, axis=1) if cols else zv, ("C",))
        bufs.append(big)
        z_arg = big.view[:, ::2]
        valid = valid and z_arg.flags.c_contiguous   # (rows, 0) and (0, n) are contiguous
        zb = big if z_arg.flags.c_contiguous else zb
    elif mode == "z_readonly":
        valid = False
    elif mode == "bias_bad_len":
        bias = np.zeros(cols + 1, dtype)
        valid = False
    elif mode == "bias_bad_dtype":
        bias = np.zeros(cols, dtype=data.draw(st.sampled_from(
            [d for d in FLOATS if d != dtype] + BAD_DTYPES)))
        valid = False
    elif mode == "saved_is_z":
        saved = z_arg
        valid = False if zv.size else None      # empty arrays share no memory
    elif mode == "saved_bad":
        saved = np.zeros((rows, cols + 1), dtype)
        valid = False
    note(f"name={name} params={params} dtype={dtype} shape={zv.shape} mode={mode}")

    if canon in ("prelu", "maxout"):
        valid = False
    snap_all(bufs)
    try:
        res = fastact.bias_act_forward(name, z_arg, bias, saved_input=saved,
                                       n_threads=n_threads, **params)
    except ERRORS as e:
        return raised(valid, e, bufs)
    returned(valid)
    assert res is z_arg
    written = [zb] + ([sb] if sb is not None else [])
    assert_untouched(bufs, allowed=written)
    with np.errstate(all="ignore"):
        pre = (zv + bv).astype(dtype)       # z + bias, rounded as the kernel does
    if sb is not None:
        np.testing.assert_array_equal(sb.view, pre, err_msg="saved_input != z + bias")
    exp, scale = forward_reference(name, pre.astype(np.float64), params, dtype)
    assert_matches(res, exp, dtype, scale=scale, what=f"bias_act_forward {name}", x=pre)


BG_MODES = ["fresh", "given", "src_is_delta", "src_strided", "bg_readonly", "bg_overlaps",
            "no_src", "bad_src_shape", "delta_noncontig", "bg_bad_len"]


@given(inp=matrix_input(ELEMENTWISE + ["softmax", "prelu"]), data=st.data())
def test_backward_bias_grad_fuzz(inp, data):
    name, params, dtype, xv = inp
    canon = ALIASES.get(name, name)
    rows, cols = xv.shape
    fin = from_input(canon)
    yv = fastact.forward(name, xv.copy(), n_threads=1, **params) \
        if shape_ok(canon, params, xv.shape) else xv.copy()
    dv = data.draw(hnp.arrays(dtype, (rows, cols), elements=st.floats(
        -100, 100, width=32 if dtype == np.float32 else 64)), label="delta")
    mode = data.draw(st.sampled_from(BG_MODES), label="mode")
    n_threads = data.draw(THREADS, label="n_threads")
    valid = pattern(canon) == "elementwise"
    db = make_buf(dv, ("C",))
    sv = xv if fin else yv
    sb = make_buf(sv, data.draw(layouts(2), label="src layout") if mode == "src_strided"
                  else ("C",), readonly=True)
    bufs = [db, sb]
    src, delta, bias_grad, gb = sb.view, db.view, None, None
    if mode == "given":
        gb = make_buf(np.full(cols, 7.0, dtype), data.draw(
            st.sampled_from([("C",), ("misaligned", 3)] if not SANITIZER else [("C",)])))
        bufs.append(gb)
        bias_grad = gb.view
    elif mode == "src_is_delta":
        db = make_buf(sv, ("C",))
        bufs = [db]
        src = delta = db.view
        dv = sv
    elif mode == "bg_readonly":
        bias_grad = np.zeros(cols, dtype)
        bias_grad.flags.writeable = False
        valid = False
    elif mode == "bg_overlaps":
        if rows:
            bias_grad = db.view[0]
            valid = False if cols else None
    elif mode == "no_src":
        src = None
        valid = False
    elif mode == "bad_src_shape":
        src = np.zeros((rows, cols + 1), dtype)
        valid = False
    elif mode == "delta_noncontig":
        big = make_buf(np.repeat(dv, 2, axis=1), ("C",))
        bufs.append(big)
        delta = big.view[:, ::2]
        valid = valid and delta.flags.c_contiguous
        db = big
    elif mode == "bg_bad_len":
        bias_grad = np.zeros(cols + 1, dtype)
        valid = False
    y_arg, x_arg = (None, src) if fin else (src, None)
    note(f"name={name} params={params} dtype={dtype} shape={xv.shape} mode={mode}")

    if pattern(canon) != "elementwise":
        valid = False
    snap_all(bufs)
    try:
        d_res, g_res = fastact.backward_bias_grad(name, y_arg, delta, x_arg, bias_grad=bias_grad,
                                                  n_threads=n_threads, **params)
    except ERRORS as e:
        return raised(valid, e, bufs)
    returned(valid)
    assert d_res is delta
    if bias_grad is not None:
        assert g_res is bias_grad
    assert_untouched(bufs, allowed=[db] + ([gb] if gb is not None else []))
    p = ref_params(canon, params, dtype)
    s64 = sb.values.astype(np.float64) if mode != "src_is_delta" else sv.astype(np.float64)
    d64 = np.asarray(dv, dtype=np.float64)
    exp, scale = R.backward_ref(canon, None if fin else s64, d64, x=s64 if fin else None, **p)
    tiny = float(np.finfo(dtype).smallest_normal)
    with np.errstate(all="ignore"):
        scale = np.fmax(np.nan_to_num(scale, nan=0.0), 4 * np.abs(d64) * tiny
                        / (RTOL_FACTOR * R.rtol_for(dtype)))
        if canon in ("swish", "mish", "gelu"):
            scale = np.fmax(scale, np.where(np.abs(exp) < 1e3 * tiny * np.abs(d64)
                                            * (1 + np.abs(np.nan_to_num(s64))), np.inf, 0.0))
    assert_matches(d_res, exp, dtype, scale=scale, what=f"delta of {name}",
                   anything=nan_source(canon, s64))
    # the column sums are taken of what the kernel wrote into delta
    got_d = np.asarray(d_res, dtype=np.float64)
    with np.errstate(all="ignore"):
        col = got_d.sum(axis=0) if rows else np.zeros(cols)
        col_scale = np.abs(got_d).sum(axis=0) * (rows + 1) * float(np.finfo(dtype).eps) \
            / (RTOL_FACTOR * R.rtol_for(dtype)) if rows else np.zeros(cols)
    assert g_res.shape == (cols,) and g_res.dtype == dtype
    assert_matches(g_res, col, dtype, scale=col_scale, what="bias_grad")


# ---------------------------------------------------------------------------
# fused losses


LOSS_MODES = ["plain", "weights", "zero_weights", "proba", "int_target", "bool_target",
              "target_is_z", "weights_in_z", "bad_weights", "bad_target_shape",
              "z_readonly", "z_noncontig", "proba_overlaps_z", "str_target"]


@given(data=st.data())
def test_fused_losses_fuzz(data):
    which = data.draw(st.sampled_from(["softmax", "logistic"]), label="loss")
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    w = 32 if dtype == np.float32 else 64
    rows = data.draw(st.integers(0, 6), label="rows")
    # zero columns give a NaN loss: test_softmax_cross_entropy_no_columns
    cols = data.draw(st.integers(1, 7), label="cols")
    # |z| <= 1e15: the 40-digit reference loses digits of log-sum-exp beyond
    # that (huge logits: test_softmax_cross_entropy_huge_logits)
    zv = data.draw(hnp.arrays(dtype, (rows, cols), elements=st.one_of(
        st.floats(-30, 30, width=w), st.floats(-2.0**50, 2.0**50, width=w))), label="z")
    kind = data.draw(st.sampled_from(["onehot", "proba", "any"]), label="target kind")
    if kind == "onehot":
        t = np.eye(cols, dtype=dtype)[data.draw(st.lists(st.integers(0, cols - 1),
                                                         min_size=rows, max_size=rows))] \
            if rows else np.zeros((0, cols), dtype)
    elif kind == "proba":
        t = data.draw(hnp.arrays(dtype, (rows, cols), elements=st.floats(0, 1, width=w)))
    else:
        t = data.draw(hnp.arrays(dtype, (rows, cols), elements=st.floats(-2, 2, width=w)))
    mode = data.draw(st.sampled_from(LOSS_MODES), label="mode")
    valid = True
    zb = make_buf(zv, ("C",), readonly=mode == "z_readonly")
    bufs = [zb]
    z_arg, target, weights, proba, pb = zb.view, t, None, None, None
    tb = make_buf(t, data.draw(layouts(2, allow_misaligned=False), label="t layout"),
                  readonly=data.draw(st.booleans()))
    bufs.append(tb)
    target = tb.view
    t = tb.values.copy()
    if mode == "weights":
        wv = data.draw(hnp.arrays(dtype, (rows,), elements=st.floats(0, 10, width=w)))
        wb = make_buf(wv, data.draw(layouts(1, allow_misaligned=False)), readonly=True)
        bufs.append(wb)
        weights = wb.view
        wv = wb.values.copy()
    elif mode == "zero_weights":
        weights = np.zeros(rows, dtype)
    elif mode == "proba":
        pb = make_buf(np.zeros((rows, cols), dtype), ("C",))
        bufs.append(pb)
        proba = pb.view
    elif mode == "int_target":
        t = np.rint(t).astype(np.int64)
        target = t
    elif mode == "bool_target":
        t = t > 0.5
        target = t
    elif mode == "target_is_z":
        target = z_arg
        t = zv.copy()
    elif mode == "weights_in_z":
        if rows and cols >= 1 and rows <= cols:
            weights = z_arg[0, :rows]        # weights alias the logits
            wv = zv[0, :rows].copy()
            valid = bool(np.all(wv >= 0))
        else:
            mode = "plain"
    elif mode == "bad_weights":
        bad = data.draw(st.sampled_from(["neg", "nan", "inf", "shape", "complex", "str"]))
        weights = {"neg": -np.ones(rows), "nan": np.full(rows, np.nan),
                   "inf": np.full(rows, np.inf),
                   "shape": np.ones(rows + 1), "complex": np.ones(rows, complex),
                   "str": np.array(["a"] * rows, dtype=str)}[bad]
        valid = rows == 0 and bad in ("neg", "nan", "inf")     # nothing to check in 0 rows
    elif mode == "bad_target_shape":
        target = np.zeros((rows, cols + 1))
        valid = False
    elif mode == "z_readonly":
        valid = False
    elif mode == "z_noncontig":
        big = make_buf(np.repeat(zv, 2, axis=1), ("C",))
        bufs.append(big)
        z_arg = big.view[:, ::2]
        valid = z_arg.flags.c_contiguous
        zb = big
    elif mode == "proba_overlaps_z":
        proba = z_arg
        valid = False if rows else None        # empty arrays share no memory
    elif mode == "str_target":
        target = np.full((rows, cols), "x")
        valid = False
    note(f"{which} {dtype} {zv.shape} mode={mode} kind={kind}")
    fn = fastact.softmax_cross_entropy if which == "softmax" else fastact.logistic_cross_entropy
    snap_all(bufs)
    try:
        loss = fn(z_arg, target, weights, proba=proba)
    except ERRORS as e:
        return raised(valid, e, bufs)
    returned(valid)
    assert isinstance(loss, float)
    assert_untouched(bufs, allowed=[zb] + ([pb] if pb is not None else []))
    t64 = np.asarray(t, dtype=dtype).astype(np.float64)
    w64 = None if weights is None else np.asarray(
        wv if mode in ("weights", "weights_in_z") else weights).astype(dtype).astype(np.float64)
    refn = R.softmax_xent_ref if which == "softmax" else R.logistic_xent_ref
    rloss, rgrad, rproba, lscale = refn(zv.astype(np.float64), t64, w64)
    rtol = RTOL_FACTOR * R.rtol_for(dtype)
    eps = float(np.finfo(dtype).eps)
    # the loss is accumulated in double from dtype-rounded terms
    ltol = max(rtol, 4 * eps * (cols + 2)) * (abs(lscale) + abs(rloss)) + 1e-300
    assert abs(loss - rloss) <= ltol or (math.isnan(loss) and math.isnan(rloss)), \
        f"loss {loss!r}, reference {rloss!r} (tol {ltol:.3g})"
    total = np.sum(w64) if w64 is not None else rows
    with np.errstate(all="ignore"):
        gscale = (np.abs(rgrad) + (1.0 / total if total else 0.0)
                  * (np.abs(rproba) + np.abs(t64))
                  * (1 if w64 is None else np.abs(w64)[:, None])) * (1 + 4 * eps / rtol)
    assert_matches(np.asarray(z_arg), rgrad, dtype, scale=gscale, what="loss gradient")
    if pb is not None:
        assert_matches(pb.view, rproba, dtype, what="proba")


# ---------------------------------------------------------------------------
# arguments of the wrong kind, parameters beyond their limits


JUNK = [None, 1.0, 3, "x", b"x", [1.0, 2.0], (1.0,), {"a": 1}, object(), np.float64(1.0),
        np.array(1.0, dtype=np.float16), np.arange(3), np.arange(3.0).astype(np.complex64),
        np.array(["a", "b"]), np.array([None, None]), np.zeros(3, np.longdouble),
        np.ma.masked_array(np.zeros(3, np.int16))]

BAD_PARAMS = {
    "leaky_relu": [{"alpha": v} for v in (0.0, -0.01, math.nan, math.inf, -math.inf, True,
                                          "0.1", None, [0.1], 1j, np.array(0.1))],
    "elu": [{"alpha": v} for v in (0.0, -1.0, math.nan, math.inf)],
    "celu": [{"alpha": v} for v in (0.0, -1e-300, math.inf)],
    "selu": [{"alpha": 0.0}, {"scale": -1.0}, {"scale": math.nan}, {"alpha": "x"}],
    "softplus": [{"beta": 0.0}, {"beta": -1.0}, {"threshold": math.nan},
                 {"threshold": math.inf}, {"beta": math.inf}],
    "hard_tanh": [{"min_val": 1.0, "max_val": 1.0}, {"min_val": 2.0, "max_val": -2.0},
                  {"min_val": math.nan}, {"max_val": -math.inf}, {"min_val": 5.0}],
    "step": [{"threshold": math.nan}, {"threshold": math.inf}, {"threshold": "0"}],
    "swish": [{"beta": math.nan}, {"beta": math.inf}, {"beta": None}],
    "gelu": [{"approximate": v} for v in ("exact", "", None, 1, True, "TANH")],
    "maxout": [{"pieces": v} for v in (1, 0, -2, 2.5, "2", None, math.nan, 2**70)] + [{}],
    "prelu": [{"alpha": v} for v in ([], [[1.0, 2.0]], [0.0, 1.0], [-1.0, 1.0], [math.nan, 1.0],
                                     [math.inf, 1.0], ["a", "b"], None, 1.0, [1e-300, 1.0],
                                     [1e300, 1.0])] + [{}],
    "relu": [{"alpha": 0.1}],
    "tanh": [{"beta": 1.0}],
}


BAD_WEIGHTS = [1.0, [1.0, 2.0], "x", np.array(["a"] * 3), np.ones(3, complex), -np.ones(3),
               np.full(3, np.nan), np.full(3, np.inf), {"a": 1}, object(), np.ones((3, 1))]
BAD_THREADS = [0, -1, 1.5, True, "2", [2], np.float64(2.0), np.bool_(True), 2**40, 10**30,
               -2**70]

# function -> the argument slots it reads
SLOTS = {
    "forward": ["name", "x", "out", "params", "n_threads"],
    "backward": ["name", "y", "delta", "params", "n_threads"],
    "bias_act_forward": ["name", "z", "bias", "params", "n_threads"],
    "backward_bias_grad": ["name", "y", "delta", "params", "n_threads"],
    "softmax_cross_entropy": ["z", "target", "weights"],
    "logistic_cross_entropy": ["z", "target", "weights"],
    "activation": ["name", "params"],
}


@given(data=st.data())
def test_invalid_arguments_fuzz(data):
    """Junk in any argument position: TypeError/ValueError, inputs untouched."""
    fn = data.draw(st.sampled_from(sorted(SLOTS)), label="function")
    slot = data.draw(st.sampled_from(SLOTS[fn]), label="slot")
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    good = np.linspace(-2, 2, 12, dtype=dtype).reshape(3, 4)
    a = {"name": "tanh", "x": good.copy(), "y": good.copy(), "z": good.copy(),
         "out": None, "delta": good.copy(), "bias": np.zeros(4, dtype), "target": good.copy(),
         "weights": None, "n_threads": None}
    params = {}
    if slot == "params":
        a["name"] = data.draw(st.sampled_from(sorted(BAD_PARAMS)), label="name")
        params = data.draw(st.sampled_from(BAD_PARAMS[a["name"]]), label="params")
    elif slot == "n_threads":
        a["n_threads"] = data.draw(st.sampled_from(BAD_THREADS), label="n_threads")
    elif slot == "weights":
        a["weights"] = data.draw(st.sampled_from(BAD_WEIGHTS), label="weights")
    elif slot == "name":
        a["name"] = data.draw(st.sampled_from([j for j in JUNK if not isinstance(j, np.ndarray)]
                                              + ["no_such_activation", "Tanh", "relu ", ""]))
        if fn.endswith("cross_entropy"):
            slot = "target"
    if slot not in ("name", "params", "n_threads", "weights"):
        junk = [j for j in JUNK if j is not None or slot not in ("out",)]
        a[slot] = data.draw(st.sampled_from(junk), label=slot)
    keep = [v for v in list(a.values()) + list(params.values()) if isinstance(v, np.ndarray)]
    before = [v.tobytes() for v in keep]
    note(f"{fn} slot={slot} args={a!r} params={params!r}")
    nt = a["n_threads"]
    with pytest.raises(ERRORS):
        if fn == "forward":
            fastact.forward(a["name"], a["x"], a["out"], n_threads=nt, **params)
        elif fn == "backward":
            fastact.backward(a["name"], a["y"], a["delta"], n_threads=nt, **params)
        elif fn == "bias_act_forward":
            fastact.bias_act_forward(a["name"], a["z"], a["bias"], n_threads=nt, **params)
        elif fn == "backward_bias_grad":
            fastact.backward_bias_grad(a["name"], a["y"], a["delta"], n_threads=nt, **params)
        elif fn == "activation":
            fastact.activation(a["name"], **params)
        else:
            getattr(fastact, fn)(a["z"], a["target"], a["weights"])
    for v, b in zip(keep, before):
        assert v.tobytes() == b, "an input was modified by a failing call"


@given(name=st.sampled_from(["leaky_relu", "elu", "celu", "selu", "softplus", "swish"]),
       value=st.sampled_from([5e-324, 1e-300, 2.2250738585072014e-308, 1e-30, 1e30, 1e300,
                              1.7976931348623157e308]),
       x=hnp.arrays(np.float64, st.integers(0, 20), elements=elements(np.float64)))
def test_float64_parameters_at_their_limits(name, value, x):
    """Extreme (but valid) parameters with float64 data: an error or the
    reference result (float32 data: test_float32_parameters_out_of_float32_range)."""
    key = {"selu": "scale", "softplus": "beta", "swish": "beta"}.get(name, "alpha")
    params = {key: value}
    if value < 1e-250:
        # the reference evaluates +-inf as +-1e400: times a tiny factor that is
        # finite (5e-324 * 1e400 ~ 5e76), so infinities have no reference here
        x = x[np.isfinite(x) | np.isnan(x)]
    xb = make_buf(x, ("C",))
    xb.snap()
    try:
        y = fastact.forward(name, xb.view, **params)
    except ERRORS:
        assert_untouched([xb])
        return
    exp, scale = forward_reference(name, x.astype(np.float64), params, np.float64)
    assert_matches(y, exp, np.float64, scale=scale, what=f"{name}({params})", x=x)


# ---------------------------------------------------------------------------
# threads: results never depend on n_threads (big buffers take the OpenMP path)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("name,params", [("tanh", {}), ("gelu", {}), ("softplus", {"beta": 2.0}),
                                         ("softmax", {}), ("log_softmax", {}),
                                         ("prelu", {"alpha": np.linspace(0.1, 1, 512)})])
def test_results_do_not_depend_on_n_threads(name, params, dtype):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((600, 512)) * 4).astype(dtype)      # 307200 > 2**17 elements
    d = rng.standard_normal(x.shape).astype(dtype)
    ref_y = fastact.forward(name, x.copy(), n_threads=1, **params)
    ref_d = fastact.backward(name, ref_y, d.copy(), x=x, n_threads=1, **params)
    for nt in (2, 3, 4, 16):
        y = fastact.forward(name, x.copy(), n_threads=nt, **params)
        np.testing.assert_array_equal(y, ref_y, err_msg=f"forward n_threads={nt}")
        got = fastact.backward(name, y, d.copy(), x=x, n_threads=nt, **params)
        if name == "prelu":
            np.testing.assert_array_equal(got[0], ref_d[0])
            np.testing.assert_array_equal(got[1], ref_d[1])
        else:
            np.testing.assert_array_equal(got, ref_d, err_msg=f"backward n_threads={nt}")
    if pattern(name) == "elementwise":
        act = fastact.activation(name, **params)
        b = rng.standard_normal(512).astype(dtype)
        z1 = act.bias_forward(x.copy(), b, n_threads=1)
        g1 = act.backward_bias_grad(z1, d.copy(), x=x, n_threads=1)
        for nt in (2, 4):
            np.testing.assert_array_equal(act.bias_forward(x.copy(), b, n_threads=nt), z1)
            g = act.backward_bias_grad(z1, d.copy(), x=x, n_threads=nt)
            np.testing.assert_array_equal(g[0], g1[0])
            np.testing.assert_array_equal(g[1], g1[1])


# ---------------------------------------------------------------------------
# bugs this fuzzing found that are fixed now, kept as regression tests: a 0-d
# array in the softmax family segfaulted (shape[-1] of a 0-d array);
# non-native byte order was read as native; n_threads beyond the C int range
# raised OverflowError; the activation cache let 2.0 / True through once 2 / 1
# had been validated; proba= the target gave a zero gradient; (n, 0) logits
# gave a NaN loss; bias inside saved_input was overwritten before being read;
# celu with a huge alpha lost tiny x; softmax of a row with NaN and +inf was
# not all NaN.


def _isolated(code, sanitizer_to_stderr=True):
    """Run ``code`` in a fresh interpreter importing this tree's fastact (for
    inputs that may crash the process).  Sanitizer reports of the child go to
    its stderr, which the calling test inspects, rather than to the log
    directory tools/sanitize.sh checks: a known bug's xfail test then fails
    without failing the whole sanitizer run, and any other report still
    fails its test."""
    env = child_env()
    if sanitizer_to_stderr:
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if var in env:
                env[var] = ":".join(o for o in env[var].split(":")
                                    if not o.startswith("log_path="))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=CHILD_CWD, env=env,
                          capture_output=True, text=True, timeout=120)


def test_softmax_of_0d_array_does_not_crash():
    """(In a child process: this used to be a segfault.)"""
    r = _isolated("""
        import numpy as np, fastact
        for call in (lambda: fastact.forward('softmax', np.array(1.0)),
                     lambda: fastact.forward('log_softmax', np.array(1.0), out=np.empty(())),
                     lambda: fastact.backward('softmax', np.array(1.0), np.array(1.0)),
                     lambda: fastact.backward('log_softmax', np.array(0.0), np.array(1.0))):
            try:
                r = call()
            except (TypeError, ValueError):
                pass
            else:
                assert np.asarray(r).shape == (), r
        print("ok")
    """)
    assert r.returncode == 0 and "ok" in r.stdout, (r.returncode, r.stderr[-800:])


@pytest.mark.parametrize("dt", [">f8", ">f4"])
def test_non_native_byte_order(dt):
    x = np.array([-1.0, 0.5, 2.0], dtype=dt)
    try:
        y = fastact.forward("relu", x.copy())
    except ERRORS:
        return
    np.testing.assert_array_equal(y.astype(np.float64), [0.0, 0.5, 2.0])


def test_huge_n_threads():
    x = np.ones(3)
    try:
        fastact.forward("tanh", x, n_threads=2**40)
    except ValueError:
        return
    except OverflowError as e:
        raise AssertionError(f"OverflowError: {e}")


@pytest.mark.parametrize("name,good,bad", [("leaky_relu", {"alpha": 1}, {"alpha": True}),
                                           ("maxout", {"pieces": 2}, {"pieces": 2.0}),
                                           ("elu", {"alpha": 1}, {"alpha": 1 + 0j})])
def test_parameter_validation_does_not_depend_on_the_cache(name, good, bad):
    fastact.activation(name, **good)
    x = np.ones(4)
    with pytest.raises(ERRORS):
        fastact.forward(name, x, **bad)



@pytest.mark.parametrize("fn", ["softmax_cross_entropy", "logistic_cross_entropy"])
def test_loss_proba_aliasing_target(fn):
    z = np.array([[1.0, 2.0], [0.0, 0.0]])
    t = np.eye(2)
    z_ref = z.copy()
    want = getattr(fastact, fn)(z_ref, t.copy())
    try:
        loss = getattr(fastact, fn)(z, t, proba=t)
    except ERRORS:
        return
    assert loss == pytest.approx(want)
    np.testing.assert_allclose(z, z_ref)


@pytest.mark.parametrize("fn", ["softmax_cross_entropy", "logistic_cross_entropy"])
def test_cross_entropy_no_columns(fn):
    """(n, 0) logits: an empty sum, loss 0 (it was NaN once)."""
    z = np.empty((3, 0))
    assert getattr(fastact, fn)(z, np.empty((3, 0))) == 0.0


@pytest.mark.parametrize("dtype,alpha,x", [(np.float64, 1e300, -1.26e-159),
                                           (np.float32, 1e30, -1e-10)])
def test_celu_huge_alpha_tiny_x(dtype, alpha, x):
    xs = np.array([x], dtype=dtype)
    y = fastact.forward("celu", xs.copy(), alpha=alpha)
    exp = R.forward_ref("celu", xs.astype(np.float64), alpha=alpha)
    bad = R.accuracy_violations(y, exp, dtype)         # the spec's bound
    assert not bad.any(), R.describe(xs, y, exp, bad)


def test_bias_inside_saved_input():
    z = np.ones((3, 2))
    saved = np.zeros((3, 2))
    saved[0] = [1.0, 2.0]
    try:
        fastact.bias_act_forward("identity", z, saved[0], saved_input=saved)
    except ERRORS:
        return
    np.testing.assert_array_equal(z, [[2.0, 3.0]] * 3)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_nan_with_inf_row(name):
    y = fastact.forward(name, np.array([np.inf, np.nan, 0.0]))
    assert np.isnan(y).all(), y


# ---------------------------------------------------------------------------
# known bugs (xfail strict: they fail until fixed; then drop the marker and
# the matching exclusion in the strategies above)


def test_misaligned_buffers_reach_c():
    """Results are right for misaligned data (normal build); under the
    sanitizer, no undefined behaviour may be reported."""
    r = _isolated("""
        import numpy as np, fastact
        for dt in (np.float32, np.float64):
            it = np.dtype(dt).itemsize
            for name in ("tanh", "relu", "softmax", "gelu"):
                raw = bytearray(it * 100 + 8)
                x = np.frombuffer(raw, dt, offset=1, count=100)
                x[:] = np.linspace(-3, 3, 100)
                assert not x.flags.aligned
                want = fastact.forward(name, np.linspace(-3, 3, 100).astype(dt))
                got = fastact.forward(name, x)
                assert np.array_equal(got, want), name
                d = np.frombuffer(bytearray(it * 100 + 8), dt, offset=3, count=100)
                d[:] = 1
                fastact.backward(name, got, d, x=np.linspace(-3, 3, 100).astype(dt))
        print("ok")
    """)
    assert r.returncode == 0 and "ok" in r.stdout and "runtime error" not in r.stderr, \
        (r.returncode, r.stderr[-1500:])


# ---------------------------------------------------------------------------
# bugs fixed since, kept as regression tests: scalar parameters beyond the
# float32 range reached float32 kernels as inf or 0 (NaN results); the fused
# softmax + cross-entropy gave NaN for logits of huge spread and for a +inf
# logit, and logistic + binary cross-entropy for +-inf logits; swish with
# beta = 0 had a NaN slope at +-inf; selu overflowed scale * alpha.


@pytest.mark.parametrize("name,params", [
    ("leaky_relu", {"alpha": 1e300}), ("elu", {"alpha": 1e300}), ("selu", {"scale": 1e300}),
    ("softplus", {"beta": 1e300}), ("swish", {"beta": 1e300}), ("celu", {"alpha": 1e-300})])
def test_float32_parameters_out_of_float32_range(name, params):
    x = np.array([0.0, -0.0, 1.0, -1.0], dtype=np.float32)
    try:
        y = fastact.forward(name, x.copy(), **params)
    except ERRORS:
        return
    exp = R.forward_ref(name, x.astype(np.float64), **params)
    assert_matches(y, exp, np.float32, what=f"{name}{params}", x=x)


def test_celu_backward_tiny_alpha_float32():
    y = np.array([-0.0], np.float32)
    try:
        d = fastact.backward("celu", y, np.ones(1, np.float32), alpha=1e-300)
    except ERRORS:
        return
    assert np.isfinite(d).all(), d


@pytest.mark.parametrize("dtype,big", [(np.float64, 1e308), (np.float32, 3e38)])
def test_softmax_cross_entropy_huge_logits(dtype, big):
    z = np.array([[big, -big]], dtype=dtype)
    loss = fastact.softmax_cross_entropy(z, np.array([[1.0, 0.0]]))
    assert loss == 0.0 and np.isfinite(z).all(), (loss, z)


def test_swish_beta_zero_at_infinity():
    x = np.array([np.inf, -np.inf, 2.0])
    y = fastact.forward("swish", x.copy(), beta=0.0)
    np.testing.assert_array_equal(y, [np.inf, -np.inf, 1.0])
    d = fastact.backward("swish", None, np.ones(3), x=x, beta=0.0)
    np.testing.assert_array_equal(d, [0.5, 0.5, 0.5])


@pytest.mark.parametrize("dtype,params", [
    (np.float64, {"scale": 1.7976931348623157e308}),
    (np.float64, {"alpha": 1.7976931348623157e308}),
    (np.float64, {"alpha": 1e200, "scale": 1e200}),
    (np.float32, {"scale": 3e38}), (np.float32, {"alpha": 3e38, "scale": 2.0})])
def test_selu_huge_parameter_product(dtype, params):
    """scale * alpha overflows although both are finite: forward and slope
    are still right (near x = 0 the true values are finite, even tiny)."""
    tiny = float(np.finfo(dtype).smallest_subnormal)
    x = np.array([0.0, -0.0, -tiny, -1000 * tiny, -1e-30, -0.5, -30.0, -1e4, -np.inf, 1.0,
                  np.nan], dtype=dtype)
    try:
        y = fastact.forward("selu", x.copy(), **params)
    except ERRORS:
        return
    p = ref_params("selu", params, dtype)
    x64 = x.astype(np.float64)
    exp = R.forward_ref("selu", x64, **p)
    assert_matches(y, exp, dtype, what=f"selu{params}", x=x)
    d = fastact.backward("selu", y, np.ones_like(x), **params)
    # the slope as a function of the rounded y (backward sees y, not x)
    y64 = y.astype(np.float64)
    d_exp, d_scale = R.backward_ref("selu", y64, np.ones_like(y64), **p)
    assert_matches(d, d_exp, dtype, scale=d_scale, what=f"selu{params} slope", x=x)


def test_softmax_cross_entropy_infinite_logit():
    z = np.array([[np.inf, 0.0]])
    loss = fastact.softmax_cross_entropy(z, np.array([[1.0, 0.0]]))
    assert loss == 0.0 and np.array_equal(z, [[0.0, 0.0]]), (loss, z)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_softmax_cross_entropy_follows_softmax_at_infinities(dtype):
    """Rows with +-inf and NaN logits: proba is forward('softmax'), the
    gradient p - t (over the rows), terms of zero target add exactly 0 to the
    loss, others -t log p (inf where p = 0)."""
    inf, nan = np.inf, np.nan
    z0 = np.array([[inf, 0.0, inf, -inf],      # two +inf entries share the mass
                   [1.0, -inf, 2.0, 0.5],      # -inf logit of zero target
                   [inf, 3.0, nan, 0.0],       # NaN with +inf: all NaN
                   [1.0, nan, 2.0, 0.5]], dtype=dtype)
    t = np.array([[0.5, 0.0, 0.5, 0.0],
                  [0.0, 0.0, 1.0, 0.0],
                  [1.0, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 1.0, 0.0]], dtype=dtype)
    soft = fastact.forward("softmax", z0.copy())
    row1 = math.log1p(math.exp(-1) + math.exp(-1.5))      # -log p of the 2.0 entry
    for rows, loss_ok in [([0], lambda v: abs(v - math.log(2)) < 1e-6),
                          ([1], lambda v: abs(v - row1) < 1e-6),
                          ([2], math.isnan), ([3], math.isnan),
                          ([0, 1], lambda v: abs(v - (math.log(2) + row1) / 2) < 1e-6)]:
        z = z0[rows].copy()
        proba = np.empty_like(z)
        loss = fastact.softmax_cross_entropy(z, t[rows], proba=proba)
        assert loss_ok(loss), (rows, loss)
        np.testing.assert_array_equal(proba, soft[rows])
        with np.errstate(invalid="ignore"):
            want = (soft[rows] - t[rows]) / np.asarray(len(rows), dtype)
        np.testing.assert_allclose(z, want, rtol=1e-6, atol=0)
    # a nonzero target on a -inf logit (or on a finite one beside +inf): +inf
    assert fastact.softmax_cross_entropy(np.array([[0.0, -inf]], dtype),
                                         np.array([[0.5, 0.5]])) == inf
    assert fastact.softmax_cross_entropy(np.array([[inf, 0.0]], dtype),
                                         np.array([[0.0, 1.0]])) == inf
    # a row of zero weight adds 0 even when its loss is infinite
    z = np.array([[inf, 0.0], [0.0, 0.0]], dtype)
    loss = fastact.softmax_cross_entropy(z, np.array([[0.0, 1.0], [1.0, 0.0]]),
                                         sample_weight=np.array([0.0, 1.0]))
    assert abs(loss - math.log(2)) < 1e-6 and np.array_equal(z[0], [0.0, 0.0]), (loss, z)


def test_softmax_cross_entropy_huge_spread_partial_target():
    """A logit difference that overflows float64 while t_j (z_j - m) does not:
    the loss is finite and right."""
    z = np.array([[1e308, -1e308]])
    loss = fastact.softmax_cross_entropy(z, np.array([[0.5, 0.5]]))
    assert loss == 1e308, loss
    np.testing.assert_array_equal(z, [[0.5, -0.5]])
    z = np.array([[1e308, -1e308, -1e308]])
    assert fastact.softmax_cross_entropy(z, np.array([[0.0, 1.0, 1.0]])) == np.inf


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_logistic_cross_entropy_at_infinite_logits(dtype):
    """softplus(z) - t z at z = +-inf by its limit: 0 where the target agrees
    (t = 1 at +inf: inf - inf before; t = 0 at -inf: 0 * -inf before), inf
    where it does not; the gradient sigmoid(z) - t."""
    inf = np.inf
    z = np.array([[inf, -inf], [-inf, inf]], dtype=dtype)
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    proba = np.empty_like(z)
    loss = fastact.logistic_cross_entropy(z, t, proba=proba)
    assert loss == 0.0, loss
    np.testing.assert_array_equal(proba, [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(z, np.zeros((2, 2)))
    for zz, tt in [([inf], [0.0]), ([inf], [0.5]), ([-inf], [1.0]), ([-inf], [0.5])]:
        loss = fastact.logistic_cross_entropy(np.array([zz], dtype), np.array([tt]))
        assert loss == inf, (zz, tt, loss)
    assert math.isnan(fastact.logistic_cross_entropy(np.array([[np.nan]], dtype),
                                                     np.array([[0.0]])))
    # huge finite logits whose target agrees: loss log1p(e^-|z|), no cancellation
    big = float(np.finfo(dtype).max)
    z = np.array([[big, -big, 40.0]], dtype=dtype)
    loss = fastact.logistic_cross_entropy(z, np.array([[1.0, 0.0, 1.0]]))
    assert abs(loss - math.log1p(math.exp(-40.0))) <= 1e-5 * math.exp(-40.0), loss
