"""Memory semantics: in place, out=, layouts and strides, aliasing, threads,
empty / 0-d / 3-D arrays.  Results never depend on layout or thread count,
so comparisons here are bit-exact."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import fastact
from conftest import DTYPES, run_isolated
from reference import dense_grid

ALPHA = np.array([0.1, 0.5, 2.0, 0.01, 1.0, 0.3])   # prelu, 6 features

# (name, params) covering every kernel pattern and slope source
CASES = [
    ("relu", {}), ("tanh", {}), ("logistic", {}), ("elu", {"alpha": 0.5}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}), ("hard_tanh", {}), ("exp", {}),
    ("swish", {}), ("gelu", {"approximate": "tanh"}), ("mish", {}), ("hardswish", {}),
    ("prelu", {"alpha": ALPHA}), ("softmax", {}), ("log_softmax", {}),
]
CASE_IDS = [c[0] for c in CASES]
ELEMENTWISE = sorted(n for n, i in fastact.ACTIVATIONS.items() if i.pattern == "elementwise")


def _data(rng, shape, dtype):
    return (rng.standard_normal(shape) * 3).astype(dtype)


def _reference_forward(name, params, x):
    """The result on a fresh C-contiguous copy written to a fresh out."""
    xc = np.ascontiguousarray(x)
    return fastact.forward(name, xc, out=np.empty_like(xc), **params)


def _src(name, x, y):
    return x if fastact.ACTIVATIONS[name].slope_from == "input" else y


def _reference_backward(name, params, x, y, delta):
    xc, yc = np.ascontiguousarray(x), np.ascontiguousarray(y)
    d = np.ascontiguousarray(delta).copy()
    r = fastact.backward(name, yc, d, x=xc, **params)
    return r


# ---------------------------------------------------------------------------
# in place and out=


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_forward_in_place_writes_x_itself(name, params, dtype, rng):
    x = _data(rng, (5, 6), dtype)
    want = _reference_forward(name, params, x)
    ptr = x.ctypes.data
    y = fastact.forward(name, x, **params)
    assert y is x and x.ctypes.data == ptr
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_forward_out_leaves_x_alone(name, params, dtype, rng):
    x = _data(rng, (5, 6), dtype)
    x0 = x.copy()
    out = np.full_like(x, np.nan)
    y = fastact.forward(name, x, out=out, **params)
    assert y is out
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(out, fastact.forward(name, x0.copy(), **params))
    # out=x is in place
    assert fastact.forward(name, x, out=x, **params) is x
    np.testing.assert_array_equal(x, out)


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_backward_in_place_returns_delta(name, params, dtype, rng):
    x = _data(rng, (5, 6), dtype)
    y = _reference_forward(name, params, x)
    delta = _data(rng, x.shape, dtype)
    want = _reference_backward(name, params, x, y, delta)
    ptr = delta.ctypes.data
    got = fastact.backward(name, y, delta, x=x, **params)
    if name == "prelu":
        assert got[0] is delta
        np.testing.assert_array_equal(got[1], want[1])
        got, want = got[0], want[0]
    assert got is delta and delta.ctypes.data == ptr
    np.testing.assert_array_equal(delta, want)


# ---------------------------------------------------------------------------
# layouts


def _layouts(rng, dtype):
    """(label, array) views of 2-D / 3-D data with 6 entries on the last axis:
    C, F, strided, transposed, reversed, and views whose last axis is strided."""
    base3 = _data(rng, (4, 10, 13), dtype)
    base2 = _data(rng, (12, 13), dtype)
    return [
        ("C", np.ascontiguousarray(base2[:, :6])),
        ("F", np.asfortranarray(base2[:, :6])),
        ("strided", base2[::2, 1:13:2]),
        ("transposed", base2[:6, :].T),
        ("transposed-strided", base2[::2, :12].T[::2]),
        ("reversed", base2[::-1, ::-1][:, :6]),
        ("3d-C", np.ascontiguousarray(base3[:, :, :6])),
        ("3d-F", np.asfortranarray(base3[:, :, :6])),
        ("3d-strided", base3[::2, 1::3, 0:12:2]),
        ("3d-swapped", base3[:, :6, :].swapaxes(1, 2)[:, :, :6]),
    ]


def _written_mask(view):
    """Boolean mask over view.base of the elements ``view`` covers."""
    base = view.base
    assert base.flags.c_contiguous
    twin = np.zeros(base.shape, dtype=view.dtype)
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    tv = np.ndarray(view.shape, dtype=view.dtype, buffer=twin, offset=offset,
                    strides=view.strides)
    tv[...] = 1
    return twin != 0


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_forward_any_layout_in_place(name, params, dtype, rng):
    for label, view in _layouts(rng, dtype):
        assert view.shape[-1] == 6, label
        want = _reference_forward(name, params, view)
        if view.base is not None:
            base, mask = view.base, _written_mask(view)
            outside = base[~mask].copy()
        got = fastact.forward(name, view, **params)
        assert got is view, label
        np.testing.assert_array_equal(view, want, err_msg=label)
        if view.base is not None:
            np.testing.assert_array_equal(base[~mask], outside,
                                          err_msg=f"{label}: wrote outside the view")


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_forward_out_in_another_layout(name, params, dtype, rng):
    layouts = _layouts(rng, dtype)
    for (lx, x), (lo, o) in zip(layouts, layouts[3:] + layouts[:3]):
        if x.shape != o.shape:
            o = np.empty(x.shape, dtype=dtype, order="F")
            lo = "F"
        x0 = x.copy()
        want = _reference_forward(name, params, x)
        assert fastact.forward(name, x, out=o, **params) is o
        np.testing.assert_array_equal(o, want, err_msg=f"x {lx}, out {lo}")
        np.testing.assert_array_equal(x, x0)


def _delta_layouts(rng, shape, dtype):
    r = _data(rng, shape, dtype)
    big = _data(rng, tuple(2 * n for n in shape), dtype)
    strided = big[tuple(slice(None, None, 2) for _ in shape)]
    strided[...] = r
    return [("C", r.copy()), ("F", np.asfortranarray(r)), ("strided", strided),
            ("reversed", np.ascontiguousarray(r[::-1])[::-1])]


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_backward_any_layout(name, params, dtype, rng):
    for lx, x in _layouts(rng, dtype):
        y = np.asfortranarray(_reference_forward(name, params, x))
        for ld, d in _delta_layouts(rng, x.shape, dtype):
            want = _reference_backward(name, params, x, y, d)
            got = fastact.backward(name, y, d, x=x, **params)
            if name == "prelu":
                np.testing.assert_array_equal(got[1], want[1], err_msg=f"{lx}/{ld}")
                got, want = got[0], want[0]
            assert got is d
            np.testing.assert_array_equal(d, want, err_msg=f"x {lx}, delta {ld}")


def test_unaligned_buffers(dtype):
    """A buffer at an odd byte offset (numpy allows it) computes the same."""
    n = 1000
    raw = np.zeros(n * dtype.itemsize + 1, dtype=np.uint8)
    x = np.ndarray((n,), dtype=dtype, buffer=raw, offset=1)
    x[...] = np.linspace(-5, 5, n)
    assert not x.flags.aligned
    want = fastact.forward("tanh", np.ascontiguousarray(x), out=np.empty(n, dtype))
    assert fastact.forward("tanh", x) is x
    np.testing.assert_array_equal(x, want)
    d = np.ndarray((n,), dtype=dtype, buffer=np.zeros(n * dtype.itemsize + 3, np.uint8), offset=3)
    d[...] = 1.0
    fastact.backward("tanh", x, d)
    np.testing.assert_array_equal(d, fastact.backward("tanh", want, np.ones(n, dtype)))


def _placed(values, n, k, at, dtype):
    """An n-element array starting k elements past a 64-byte boundary, holding
    ``values`` at index ``at`` and 0.5 elsewhere."""
    raw = np.empty(n * dtype.itemsize + 128, dtype=np.uint8)
    start = -raw.ctypes.data % 64 + k * dtype.itemsize
    a = raw[start:start + n * dtype.itemsize].view(dtype)
    a[...] = 0.5
    a[at:at + len(values)] = values
    return a


_ALIGN_CASES = [(n, {}) for n in ELEMENTWISE] + [
    c for c in CASES if c[1] and fastact.ACTIVATIONS[c[0]].pattern == "elementwise"]


@pytest.mark.parametrize("name,params", _ALIGN_CASES,
                         ids=[n + ("-params" if p else "") for n, p in _ALIGN_CASES])
def test_position_does_not_change_elementwise_results(name, params, dtype):
    """An element gets the same bits wherever it sits: in a loop's vector body,
    in the few elements a large pass does before the output's 64-byte boundary
    (so that its stores are aligned), or in the remainder after the last whole
    vector.  Every value of the dense grid is taken through all three."""
    grid = dense_grid(dtype)
    lanes = 64 // dtype.itemsize
    big = 4096                             # > the size from which passes align
    n_body = max(big, -(-len(grid) // 64) * 64)
    x = _placed(grid, n_body, 0, 0, dtype)      # aligned, whole vectors: all body
    want_y = fastact.forward(name, x, out=np.empty_like(x), **params)
    want_d = fastact.backward(name, want_y, np.full_like(x, 0.75), x=x, **params)
    for where in ("head", "tail"):
        for j in range(0, len(grid), lanes - 1):
            chunk = grid[j:j + lanes - 1]
            if where == "head":                # 1 element past the boundary
                x = _placed(chunk, big, 1, 0, dtype)
                at = slice(0, len(chunk))
            else:                              # the last lanes - 1 elements
                x = _placed(chunk, big + lanes - 1, 0, big, dtype)
                at = slice(big, big + len(chunk))
            y = fastact.forward(name, x.copy(), **params)
            d = fastact.backward(name, y, np.full_like(x, 0.75), x=x, **params)
            msg = f"{where}, grid[{j}:{j + len(chunk)}]"
            np.testing.assert_array_equal(y[at], want_y[j:j + len(chunk)], err_msg=msg)
            np.testing.assert_array_equal(d[at], want_d[j:j + len(chunk)], err_msg=msg)


@st.composite
def _strided_case(draw):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(0, 6)) for _ in range(ndim))
    steps = tuple(draw(st.sampled_from([1, 2, -1, -2])) for _ in range(ndim))
    order = draw(st.sampled_from("CF"))
    transpose = draw(st.booleans())
    name, params = draw(st.sampled_from([c for c in CASES if c[0] != "prelu"]))
    in_place = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return dtype, shape, steps, order, transpose, name, params, in_place, seed


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_strided_case())
def test_strided_views_match_contiguous(case):
    dtype, shape, steps, order, transpose, name, params, in_place, seed = case
    rng = np.random.default_rng(seed)
    big = tuple(abs(s) * n for s, n in zip(steps, shape))
    index = tuple(slice(None, None, s) for s in steps)

    def strided(values_shape):
        base = np.asarray(_data(rng, big, dtype), order=order)
        v = base[index]
        return (v.T if transpose else v), base

    view, base = strided(shape)
    x0 = view.copy()
    want = _reference_forward(name, params, x0)
    if in_place:
        assert fastact.forward(name, view, **params) is view
        got = view
    else:
        base0 = base.copy()
        out = np.empty(view.shape, dtype=dtype, order="F")
        got = fastact.forward(name, view, out=out, **params)
        np.testing.assert_array_equal(base, base0)
    np.testing.assert_array_equal(got, want)

    delta, _ = strided(shape)
    want_d = _reference_backward(name, params, x0, want, delta)
    x_in = np.asfortranarray(x0)
    got_d = fastact.backward(name, want, delta, x=x_in, **params)
    assert got_d is delta
    np.testing.assert_array_equal(got_d, want_d)


# ---------------------------------------------------------------------------
# aliasing


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_out_partially_overlapping_x(name, params, dtype, rng):
    """out = x shifted by one element in the same buffer: f of the original x."""
    rows, cols = 4, 6
    base = _data(rng, rows * cols + 1, dtype)
    x = base[:-1].reshape(rows, cols)
    out = base[1:].reshape(rows, cols)
    want = _reference_forward(name, params, x)
    first = base[0]
    fastact.forward(name, x, out=out, **params)
    np.testing.assert_array_equal(out, want)
    assert base[0] == first
    # and the other direction
    base = _data(rng, rows * cols + 1, dtype)
    x, out = base[1:].reshape(rows, cols), base[:-1].reshape(rows, cols)
    want = _reference_forward(name, params, x)
    fastact.forward(name, x, out=out, **params)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_backward_delta_is_its_source(name, params, dtype, rng):
    """delta is y (slope from output) or delta is x (slope from input): the
    slope is taken from the values before delta changes."""
    x = _data(rng, (4, 6), dtype)
    y = _reference_forward(name, params, x)
    src = _src(name, x, y)
    want = _reference_backward(name, params, x, y, src.copy())
    buf = src.copy()
    if fastact.ACTIVATIONS[name].slope_from == "input":
        got = fastact.backward(name, y, buf, x=buf, **params)
    else:
        got = fastact.backward(name, buf, buf, **params)
    if name == "prelu":
        np.testing.assert_array_equal(got[1], want[1])
        got, want = got[0], want[0]
    assert got is buf
    np.testing.assert_array_equal(buf, want)


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_backward_delta_overlapping_source(name, params, dtype, rng):
    """delta and y (or x) share a buffer, shifted by one element."""
    rows, cols = 4, 6
    base = _data(rng, rows * cols + 1, dtype)
    src = base[:-1].reshape(rows, cols)
    delta = base[1:].reshape(rows, cols)
    src0, delta0 = src.copy(), delta.copy()
    want = _reference_backward(name, params, src0, src0, delta0)
    if fastact.ACTIVATIONS[name].slope_from == "input":
        got = fastact.backward(name, None, delta, x=src, **params)
    else:
        got = fastact.backward(name, src, delta, **params)
    if name == "prelu":
        np.testing.assert_array_equal(got[1], want[1])
        got, want = got[0], want[0]
    assert got is delta
    np.testing.assert_array_equal(delta, want)


def test_maxout_out_overlapping_x(dtype, rng):
    base = _data(rng, 16, dtype)
    x = base[:12].reshape(2, 6)
    want = fastact.forward("maxout", x.copy(), pieces=3)
    out = base[2:6].reshape(2, 2)
    assert fastact.forward("maxout", x, out=out, pieces=3) is out
    np.testing.assert_array_equal(out, want)


def test_maxout_strided_input_and_out(dtype, rng):
    base = _data(rng, (6, 20), dtype)
    x = base[::2, ::2]                       # (3, 10), strided
    want = fastact.forward("maxout", np.ascontiguousarray(x), pieces=2)
    out = np.empty((5, 3), dtype=dtype).T    # F-ordered (3, 5)
    assert fastact.forward("maxout", x, out=out, pieces=2) is out
    np.testing.assert_array_equal(out, want)
    g = fastact.backward("maxout", None, out.copy(order="F"), x=x.T.T, pieces=2)
    np.testing.assert_array_equal(
        g, fastact.backward("maxout", None, np.ascontiguousarray(want),
                            x=np.ascontiguousarray(x), pieces=2))


# ---------------------------------------------------------------------------
# threads

N_BIG = 4096 * 256 + 3     # > 1e6 and not a multiple of the 64-element chunks


@pytest.fixture(scope="module")
def big_inputs():
    rng = np.random.default_rng(7)
    return {dt: (rng.standard_normal(N_BIG) * 6).astype(dt) for dt in DTYPES}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_thread_count_does_not_change_elementwise_results(name, dtype, big_inputs):
    x = big_inputs[dtype]
    ys = [fastact.forward(name, x, out=np.empty_like(x), n_threads=nt) for nt in (1, 2, None)]
    ds = [fastact.backward(name, ys[0], np.ones_like(x), x=x, n_threads=nt) for nt in (1, 2, None)]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    for d in ds[1:]:
        np.testing.assert_array_equal(d, ds[0])


@pytest.mark.parametrize("name,params", [("softmax", {}), ("log_softmax", {}),
                                         ("prelu", {"alpha": np.linspace(0.1, 2, 1000)})])
def test_thread_count_does_not_change_row_results(name, params, dtype, big_inputs):
    x = big_inputs[dtype][:1_000_000].reshape(1000, 1000)
    ys = [fastact.forward(name, x, out=np.empty_like(x), n_threads=nt, **params)
          for nt in (1, 2, None)]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    delta = np.ones_like(x)
    ds = [fastact.backward(name, ys[0], delta.copy(), n_threads=nt, **params)
          for nt in (1, 2, None)]
    for d in ds[1:]:
        if name == "prelu":
            np.testing.assert_array_equal(d[0], ds[0][0])
            np.testing.assert_array_equal(d[1], ds[0][1])
        else:
            np.testing.assert_array_equal(d, ds[0])


def test_thread_count_does_not_change_fused_layer_results(dtype, big_inputs):
    z = big_inputs[dtype][: 4096 * 256].reshape(4096, 256)
    bias = np.linspace(-1, 1, 256).astype(dtype)
    outs, grads = [], []
    for nt in (1, 2, None):
        zz = z.copy()
        saved = np.empty_like(zz)
        fastact.bias_act_forward("gelu", zz, bias, saved_input=saved, n_threads=nt)
        outs.append(zz)
        d = np.ones_like(zz)
        grads.append(fastact.backward_bias_grad("gelu", zz, d, x=saved, n_threads=nt))
    for o, g in zip(outs[1:], grads[1:]):
        np.testing.assert_array_equal(o, outs[0])
        np.testing.assert_array_equal(g[0], grads[0][0])
        np.testing.assert_array_equal(g[1], grads[0][1])


@pytest.mark.parametrize("limit", [1, 2])
def test_threadpoolctl_limits_do_not_change_results(limit, big_inputs):
    x = big_inputs[np.dtype(np.float32)]
    ref_y = fastact.forward("mish", x, out=np.empty_like(x), n_threads=1)
    ref_s = fastact.forward("softmax", x[:1_000_000].reshape(1000, 1000),
                            out=np.empty((1000, 1000), np.float32), n_threads=1)
    with threadpool_limits(limits=limit, user_api="openmp"):
        y = fastact.forward("mish", x, out=np.empty_like(x))
        s = fastact.forward("softmax", x[:1_000_000].reshape(1000, 1000),
                            out=np.empty((1000, 1000), np.float32))
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(s, ref_s)


def test_concurrent_calls_from_python_threads(big_inputs):
    """The kernels release the GIL: calls from several Python threads at once
    (each itself multi-threaded) give the serial results."""
    from concurrent.futures import ThreadPoolExecutor
    x = big_inputs[np.dtype(np.float64)][: 1 << 18]
    jobs = [(name, x * (i + 1)) for i, name in enumerate(["tanh", "gelu", "softplus", "mish"] * 2)]
    serial = [fastact.forward(n, v, out=np.empty_like(v), n_threads=1) for n, v in jobs]
    with ThreadPoolExecutor(4) as ex:
        par = list(ex.map(lambda j: fastact.forward(j[0], j[1], out=np.empty_like(j[1]),
                                                    n_threads=2), jobs))
    for a, b in zip(serial, par):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# empty, 0-d and 3-D arrays


@pytest.mark.parametrize("shape", [(0,), (0, 6), (3, 0), (2, 0, 6)], ids=str)
@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_empty_arrays_do_nothing(name, params, shape, dtype):
    if name == "prelu" and shape[-1] != 6:
        params = {"alpha": np.ones(max(shape[-1], 1))} if shape[-1] else None
        if params is None:
            pytest.skip("prelu needs at least one feature")
    x = np.empty(shape, dtype=dtype)
    assert fastact.forward(name, x, **params) is x
    out = np.empty(shape, dtype=dtype)
    assert fastact.forward(name, x, out=out, **params) is out
    d = np.empty(shape, dtype=dtype)
    got = fastact.backward(name, x, d, x=x, **params)
    if name == "prelu":
        got, ga = got
        np.testing.assert_array_equal(ga, 0.0)
    assert got is d


@pytest.mark.parametrize("shape", [(0,), (0, 6), (3, 0)], ids=str)
def test_empty_maxout(shape, dtype):
    x = np.empty(shape, dtype=dtype)
    y = fastact.forward("maxout", x, pieces=2)
    assert y.shape == shape[:-1] + (shape[-1] // 2,)
    g = fastact.backward("maxout", None, y, x=x, pieces=2)
    assert g.shape == shape


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_zero_dim_elementwise(name, dtype):
    x = np.array(-0.75, dtype=dtype)
    want = fastact.forward(name, np.array([-0.75], dtype=dtype))[0]
    y = fastact.forward(name, x)
    assert y is x and y.shape == ()
    assert y == want
    d = np.array(2.0, dtype=dtype)
    assert fastact.backward(name, y, d, x=np.array(-0.75, dtype=dtype)) is d
    assert d == fastact.backward(name, np.array([want]), np.array([2.0], dtype=dtype),
                                 x=np.array([-0.75], dtype=dtype))[0]


ZERO_DIM_CALLS = {
    "softmax-fwd": "fastact.forward('softmax', np.array(1.0))",
    "log_softmax-fwd": "fastact.forward('log_softmax', np.array(1.0), out=np.array(0.0))",
    "softmax-bwd": "fastact.backward('softmax', np.array(1.0), np.array(1.0))",
    "log_softmax-bwd": "fastact.backward('log_softmax', np.array(0.0), np.array(1.0))",
}


@pytest.fixture(scope="module")
def zero_dim_outcomes():
    """Each call in its own forked child of one fresh interpreter (a crash
    must not take the test session down): label -> (status, output)."""
    r = run_isolated(f"""
        import os, sys, numpy as np, fastact
        calls = {ZERO_DIM_CALLS!r}
        for label, call in calls.items():
            rd, wr = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(rd)
                try:
                    res = eval(call)
                    msg = "value " + repr(float(res))
                except (TypeError, ValueError) as e:
                    msg = "raised " + type(e).__name__ + " " + str(e)
                except BaseException as e:
                    msg = "other " + type(e).__name__ + " " + str(e)
                os.write(wr, msg.encode())
                os._exit(0)
            os.close(wr)
            out = os.read(rd, 4096).decode()
            _, status = os.waitpid(pid, 0)
            print(label, status, out.replace(chr(10), " "), flush=True)
    """)
    assert r.returncode == 0, r.stderr[-500:]
    outcomes = {}
    for line in r.stdout.splitlines():
        label, status, out = (line.split(" ", 2) + [""])[:3]
        outcomes[label] = (int(status), out)
    return outcomes


@pytest.mark.parametrize("label", list(ZERO_DIM_CALLS))
def test_zero_dim_softmax_family_does_not_crash(label, zero_dim_outcomes):
    """A 0-d array has no last axis: an error naming x, or the 1-element row
    result; never a crash."""
    status, out = zero_dim_outcomes[label]
    assert status == 0, f"{ZERO_DIM_CALLS[label]} killed the process (wait status {status})"
    assert out.startswith("raised") or out in ("value 1.0", "value 0.0"), out


@pytest.mark.parametrize("name,params", CASES, ids=CASE_IDS)
def test_three_d_matches_two_d(name, params, dtype, rng):
    """A 3-D array is the 2-D array of its flattened leading axes."""
    x = _data(rng, (3, 4, 6), dtype)
    y3 = fastact.forward(name, x.copy(), **params)
    y2 = fastact.forward(name, x.reshape(12, 6).copy(), **params)
    np.testing.assert_array_equal(y3.reshape(12, 6), y2)
