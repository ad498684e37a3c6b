# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython bridge to the C kernels: validation, dtype dispatch, GIL release.

Every public entry point checks all its arguments before the first write, so
bad input raises TypeError/ValueError with the inputs untouched.
"""

import numpy as np

cimport numpy as cnp
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.stdint cimport uintptr_t

from fastact._table import ACTIVATIONS, bind_params, c_params, float32_problem, lookup

cnp.import_array()

cdef extern from "fastact.h" nogil:
    ctypedef int fa_kind
    ctypedef struct fa_params:
        double a
        double b
    const char *fa_kind_names[]
    const int fa_slope_from_input[]
    fa_kind FA_IDENTITY, FA_SOFTMAX, FA_LOG_SOFTMAX

    void fa_forward_f32(fa_kind k, const fa_params *p, const float *x, float *out, size_t n, int nt)
    void fa_forward_f64(fa_kind k, const fa_params *p, const double *x, double *out, size_t n, int nt)
    void fa_backward_f32(fa_kind k, const fa_params *p, const float *src, float *delta, size_t n, int nt)
    void fa_backward_f64(fa_kind k, const fa_params *p, const double *src, double *delta, size_t n, int nt)
    void fa_prelu_forward_f32(const float *x, float *out, const float *alpha, size_t rows, size_t cols, int nt)
    void fa_prelu_forward_f64(const double *x, double *out, const double *alpha, size_t rows, size_t cols, int nt)
    void fa_prelu_backward_f32(const float *y, float *delta, const float *alpha, float *ga, size_t rows, size_t cols)
    void fa_prelu_backward_f64(const double *y, double *delta, const double *alpha, double *ga, size_t rows, size_t cols)
    void fa_softmax_forward_f32(const float *x, float *out, size_t rows, size_t cols, int nt)
    void fa_softmax_forward_f64(const double *x, double *out, size_t rows, size_t cols, int nt)
    void fa_log_softmax_forward_f32(const float *x, float *out, size_t rows, size_t cols, int nt)
    void fa_log_softmax_forward_f64(const double *x, double *out, size_t rows, size_t cols, int nt)
    void fa_softmax_backward_f32(const float *y, float *delta, size_t rows, size_t cols, int nt)
    void fa_softmax_backward_f64(const double *y, double *delta, size_t rows, size_t cols, int nt)
    void fa_log_softmax_backward_f32(const float *y, float *delta, size_t rows, size_t cols, int nt)
    void fa_log_softmax_backward_f64(const double *y, double *delta, size_t rows, size_t cols, int nt)
    void fa_maxout_forward_f32(const float *x, float *out, size_t rows, size_t m, size_t k)
    void fa_maxout_forward_f64(const double *x, double *out, size_t rows, size_t m, size_t k)
    void fa_maxout_backward_f32(const float *x, const float *d, float *gx, size_t rows, size_t m, size_t k)
    void fa_maxout_backward_f64(const double *x, const double *d, double *gx, size_t rows, size_t m, size_t k)
    void fa_bias_act_forward_f32(fa_kind k, const fa_params *p, float *z, const float *bias, float *saved, size_t rows, size_t cols, int nt)
    void fa_bias_act_forward_f64(fa_kind k, const fa_params *p, double *z, const double *bias, double *saved, size_t rows, size_t cols, int nt)
    void fa_act_backward_bias_grad_f32(fa_kind k, const fa_params *p, const float *src, float *delta, float *bg, size_t rows, size_t cols, int nt)
    void fa_act_backward_bias_grad_f64(fa_kind k, const fa_params *p, const double *src, double *delta, double *bg, size_t rows, size_t cols, int nt)
    double fa_softmax_xent_f32(float *z, const float *t, const float *w, float *proba, size_t rows, size_t cols)
    double fa_softmax_xent_f64(double *z, const double *t, const double *w, double *proba, size_t rows, size_t cols)
    double fa_logistic_bxent_f32(float *z, const float *t, const float *w, float *proba, size_t rows, size_t cols)
    double fa_logistic_bxent_f64(double *z, const double *t, const double *w, double *proba, size_t rows, size_t cols)

# C kernel name -> enum value, read from the C table itself
cdef dict _KIND = {}
cdef int _i = 0
while fa_kind_names[_i] != NULL:
    _KIND[fa_kind_names[_i].decode()] = _i
    _i += 1

cdef enum Pattern:
    ELEMENTWISE, PER_FEATURE, ROWWISE, REDUCE

cdef dict _PATTERN = {"elementwise": ELEMENTWISE, "per_feature": PER_FEATURE,
                      "rowwise": ROWWISE, "reduce": REDUCE}


# ---------------------------------------------------------------------------
# argument checks

cdef inline int _dtype_of(object arr, str arg) except -1:
    """0 for float32, 1 for float64; TypeError for anything else."""
    if not cnp.PyArray_Check(arr):      # isinstance(arr, np.ndarray), without the lookups
        raise TypeError(f"{arg} must be a numpy.ndarray of float32 or float64, "
                        f"got {type(arr).__name__}")
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>arr)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"{arg} must have dtype float32 or float64, got {arr.dtype}")
    if not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>arr):
        raise TypeError(f"{arg} must be in native byte order, got dtype {arr.dtype.str!r}; "
                        f"convert it with {arg}.astype({arg}.dtype.newbyteorder('='))")
    return 0 if t == cnp.NPY_FLOAT32 else 1


cdef inline int _check_writable(cnp.ndarray arr, str arg) except -1:
    if not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{arg} is read-only; the kernel writes into it "
                         f"(pass a writable array{' or out=' if arg == 'x' else ''})")
    return 0


cdef inline bint _same_shape(cnp.ndarray a, cnp.ndarray b):
    """Shapes compared in C (a tuple comparison costs a tenth of a small call)."""
    cdef int i, nd = cnp.PyArray_NDIM(a)
    if cnp.PyArray_NDIM(b) != nd:
        return False
    cdef cnp.npy_intp *da = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp *db = cnp.PyArray_DIMS(b)
    for i in range(nd):
        if da[i] != db[i]:
            return False
    return True


cdef inline int _check_like(cnp.ndarray ref, str ref_arg, object other, str arg,
                            int code) except -1:
    """`other` is an array of the same dtype and shape as `ref`."""
    if _dtype_of(other, arg) != code:
        raise TypeError(f"{arg} must have the dtype of {ref_arg} ({ref.dtype}), "
                        f"got {other.dtype}")
    if not _same_shape(ref, <cnp.ndarray>other):
        raise ValueError(f"{arg} must have the shape of {ref_arg} {_shape(ref)}, "
                         f"got {other.shape}")
    return 0


DEF MAX_THREADS = 4096


cdef inline int _threads(object n_threads) except -1:
    """The kernels' thread argument: 0 for the default, which the C side
    resolves (omp_get_max_threads) only for work large enough to split."""
    if n_threads is None:
        return 0
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, (int, np.integer)) \
            or not 1 <= n_threads <= MAX_THREADS:
        raise ValueError(f"n_threads must be None or an int from 1 to {MAX_THREADS}, "
                         f"got {n_threads!r}")
    return <int>n_threads


cdef inline tuple _shape(cnp.ndarray a):
    return (<object>a).shape


cdef inline bint _same_layout(cnp.ndarray a, cnp.ndarray b):
    """Both walk memory in the same flat order without gaps, and both are
    aligned (the C loops read them as float* / double*)."""
    if not (cnp.PyArray_ISALIGNED(a) and cnp.PyArray_ISALIGNED(b)):
        return False
    if cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_IS_C_CONTIGUOUS(b):
        return True
    return cnp.PyArray_IS_F_CONTIGUOUS(a) and cnp.PyArray_IS_F_CONTIGUOUS(b)


# A pointer to a float that is not 4-byte aligned (np.frombuffer(..., offset=1),
# packed structured fields, buffers handed over by pickle protocol 5) is
# undefined behaviour in C even where x86 tolerates it: misaligned arrays are
# copied on the way in (and written back), or refused where the API takes
# only C-contiguous buffers.

cdef inline bint _c_ready(cnp.ndarray a):
    """C-contiguous and aligned: the C loops may use a's buffer as it is."""
    return cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)


cdef inline cnp.ndarray _c_input(object a, object dtype=None):
    """a (read only by C) as a C-contiguous, aligned array: itself when it is one
    (checked here first: np.require costs a microsecond even when it copies
    nothing, more than a 1 k-element kernel)."""
    if dtype is None and isinstance(a, np.ndarray) and _c_ready(<cnp.ndarray>a):
        return <cnp.ndarray>a
    return np.require(a, dtype=dtype, requirements=("C", "A"))


cdef inline bint _extent(cnp.ndarray a, char **lo, char **hi):
    """Byte range [lo, hi) that a's elements span; False when a is empty."""
    cdef char *first = <char *>cnp.PyArray_DATA(a)
    cdef char *last = first
    cdef int i
    cdef Py_ssize_t n, step
    for i in range(a.ndim):
        n = a.shape[i]
        if n == 0:
            return False
        step = a.strides[i] * (n - 1)
        if step > 0:
            last += step
        else:
            first += step
    lo[0] = first
    hi[0] = last + cnp.PyArray_ITEMSIZE(a)
    return True


cdef inline bint _overlap(cnp.ndarray a, cnp.ndarray b):
    """Conservative (as np.may_share_memory): do the extents intersect?"""
    cdef char *alo
    cdef char *ahi
    cdef char *blo
    cdef char *bhi
    if not (_extent(a, &alo, &ahi) and _extent(b, &blo, &bhi)):
        return False
    return alo < bhi and blo < ahi


cdef inline bint _same_buffer(cnp.ndarray a, cnp.ndarray b):
    return (cnp.PyArray_DATA(a) == cnp.PyArray_DATA(b)
            and a.shape == b.shape and a.strides == b.strides)


cdef inline size_t _rows(cnp.ndarray a, size_t cols):
    return <size_t>cnp.PyArray_SIZE(a) // cols if cols else 0


# ---------------------------------------------------------------------------
# the bound activation

cdef class Activation:
    """An activation of the table bound to its parameters.

    Create with :func:`fastact.activation`.  ``forward`` and ``backward`` have
    the semantics of :func:`fastact.forward` and :func:`fastact.backward`.
    """

    cdef readonly object info
    cdef readonly dict params
    cdef readonly str kernel
    cdef int kind
    cdef int pattern
    cdef bint from_input
    cdef fa_params p
    cdef object f32_problem        # why p cannot serve float32 data, or None
    cdef object alpha32, alpha64
    cdef size_t pieces

    def __init__(self, name, **params):
        self._bind(name, params, True)

    cdef _bind(self, name, dict params, bint copy):
        """Bind to (name, params).  copy=False only for one forward or
        backward call (_one_call): prelu's alpha array is then used as it
        is, converted only to the dtype a kernel asks for."""
        info = lookup(name)
        bound = bind_params(info, params)
        kernel, a, b = c_params(info, bound)
        self.info = info
        self.params = bound
        self.kernel = kernel
        self.kind = _KIND[kernel]
        self.pattern = _PATTERN[info.pattern]
        self.from_input = fa_slope_from_input[self.kind]
        self.p.a = a
        self.p.b = b
        self.f32_problem = float32_problem(info, bound)
        if info.name == "prelu":
            alpha = bound["alpha"]
            if copy:
                # copies: the caller may change its array after binding, which
                # must neither bypass the check below nor reach cached bindings
                self.alpha32 = np.array(alpha, dtype=np.float32, order="C", copy=True)
                self.alpha64 = np.array(alpha, dtype=np.float64, order="C", copy=True)
                self.params["alpha"] = np.array(alpha, copy=True)
            else:
                self.alpha32 = np.ascontiguousarray(alpha, dtype=np.float32)
                self.alpha64 = None
            if not (np.all(self.alpha32 > 0) and np.all(np.isfinite(self.alpha32))):
                raise ValueError("prelu: parameter 'alpha' must be finite and > 0 "
                                 "in float32 too")
        if info.name == "maxout":
            self.pieces = bound["pieces"]

    cdef object _alpha(self, int code):
        """prelu's alpha as the kernels of dtype ``code`` read it."""
        if code == 0:
            return self.alpha32
        if self.alpha64 is None:
            self.alpha64 = np.ascontiguousarray(self.params["alpha"], dtype=np.float64)
        return self.alpha64

    cdef inline int _check_params(self, int code) except -1:
        """The scalar parameters as the kernels of dtype ``code`` will see
        them (rounded to float32 for code 0) are usable: every entry point
        calls this before it writes anything."""
        if code == 0 and self.f32_problem is not None:
            raise ValueError(self.f32_problem)
        return 0

    @property
    def name(self):
        """Canonical activation name."""
        return self.info.name

    @property
    def slope_from(self):
        """'output' or 'input': what :meth:`backward` needs."""
        return self.info.slope_from

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.params.items()
                       if not isinstance(v, np.ndarray))
        if self.info.name == "prelu":
            args += f", alpha=<{len(self.params['alpha'])} values>"
        return f"activation({self.info.name!r}{args})"

    def __reduce__(self):
        return (_rebuild, (self.info.name, self.params))

    def __eq__(self, other):
        if not isinstance(other, Activation):
            return NotImplemented
        if self.info is not (<Activation>other).info:
            return False
        mine, theirs = self.params, (<Activation>other).params
        return all(np.array_equal(mine[k], theirs[k]) for k in mine)

    def __hash__(self):
        return hash((self.info.name,) + tuple(
            v.tobytes() if isinstance(v, np.ndarray) else v for v in self.params.values()))

    # -- forward --------------------------------------------------------------

    cpdef forward(self, x, out=None, n_threads=None):
        """Write f(x) into ``out`` (into ``x`` itself when ``out`` is None).

        Parameters
        ----------
        x : ndarray of float32 or float64
            Any shape; C-, F-contiguous or strided.  For prelu, softmax and
            log_softmax the last axis is the feature axis; for maxout it holds
            ``m * pieces`` entries.
        out : ndarray, optional
            Same dtype and shape as ``x`` (maxout: last axis ``m``).  Required
            shape for maxout is allocated when omitted.
        n_threads : int, optional
            Threads for large buffers; default follows threadpoolctl/OpenMP.

        Returns
        -------
        out : ndarray
            The array written (``x`` when computing in place).
        """
        cdef int code = _dtype_of(x, "x")
        cdef cnp.ndarray xa = <cnp.ndarray>x
        cdef int nt = _threads(n_threads)
        self._check_params(code)
        if self.pattern == REDUCE:
            return self._maxout_forward(xa, out, code)
        cdef cnp.ndarray target
        if out is None:
            _check_writable(xa, "x")
            target = xa
        else:
            _check_like(xa, "x", out, "out", code)
            target = <cnp.ndarray>out
            _check_writable(target, "out")
        if self.pattern == PER_FEATURE:
            self._check_features(xa, "x")
        elif self.pattern == ROWWISE:
            self._check_rows(xa, "x")
        if cnp.PyArray_SIZE(xa) == 0:
            return target
        if self.kind == FA_IDENTITY and target is xa:
            return target                    # in place: nothing to write
        if target is not xa and not _same_buffer(xa, target) and _overlap(xa, target):
            xa = xa.copy()                   # out partially overlaps x
        if self.pattern == ELEMENTWISE and _same_layout(xa, target):
            self._forward_flat(xa, target, code, nt)
            return target
        if self.pattern != ELEMENTWISE and _c_ready(xa) and _c_ready(target):
            self._forward_rows(xa, target, code, nt)
            return target
        # other strides: compute on a C-ordered copy, then write back
        cdef cnp.ndarray tmp = np.array(xa, order="C", copy=True)
        if self.pattern == ELEMENTWISE:
            self._forward_flat(tmp, tmp, code, nt)
        else:
            self._forward_rows(tmp, tmp, code, nt)
        target[...] = tmp
        return target

    cdef void _forward_flat(self, cnp.ndarray x, cnp.ndarray out, int code, int nt) noexcept:
        cdef size_t n = cnp.PyArray_SIZE(x)
        cdef void *xp = cnp.PyArray_DATA(x)
        cdef void *op = cnp.PyArray_DATA(out)
        cdef fa_kind k = self.kind
        with nogil:
            if code == 0:
                fa_forward_f32(k, &self.p, <float *>xp, <float *>op, n, nt)
            else:
                fa_forward_f64(k, &self.p, <double *>xp, <double *>op, n, nt)

    cdef void _forward_rows(self, cnp.ndarray x, cnp.ndarray out, int code, int nt) except *:
        cdef size_t cols = x.shape[x.ndim - 1]
        cdef size_t rows = _rows(x, cols)
        cdef void *xp = cnp.PyArray_DATA(x)
        cdef void *op = cnp.PyArray_DATA(out)
        cdef void *ap = NULL
        if self.pattern == PER_FEATURE:
            ap = cnp.PyArray_DATA(<cnp.ndarray>self._alpha(code))
        with nogil:
            if self.pattern == PER_FEATURE:
                if code == 0:
                    fa_prelu_forward_f32(<float *>xp, <float *>op, <float *>ap, rows, cols, nt)
                else:
                    fa_prelu_forward_f64(<double *>xp, <double *>op, <double *>ap, rows, cols, nt)
            elif self.kind == FA_SOFTMAX:
                if code == 0:
                    fa_softmax_forward_f32(<float *>xp, <float *>op, rows, cols, nt)
                else:
                    fa_softmax_forward_f64(<double *>xp, <double *>op, rows, cols, nt)
            else:
                if code == 0:
                    fa_log_softmax_forward_f32(<float *>xp, <float *>op, rows, cols, nt)
                else:
                    fa_log_softmax_forward_f64(<double *>xp, <double *>op, rows, cols, nt)

    cdef int _check_features(self, cnp.ndarray x, str arg) except -1:
        cdef Py_ssize_t n_alpha = len(self.alpha32)
        if x.ndim == 0 or x.shape[x.ndim - 1] != n_alpha:
            raise ValueError(f"prelu: {arg} must have {n_alpha} entries along its last "
                             f"axis (one per alpha), got shape {_shape(x)}")
        return 0

    cdef int _check_rows(self, cnp.ndarray x, str arg) except -1:
        if x.ndim == 0:
            raise ValueError(f"{self.info.name} acts along the last axis: {arg} must have "
                             f"at least 1 dimension, got a 0-d array")
        return 0

    cdef object _maxout_shape(self, cnp.ndarray x):
        if x.ndim == 0 or x.shape[x.ndim - 1] % self.pieces != 0:
            raise ValueError(f"maxout: the last axis of x must be a multiple of "
                             f"pieces={self.pieces}, got shape {_shape(x)}")
        return _shape(x)[:x.ndim - 1] + (x.shape[x.ndim - 1] // self.pieces,)

    cdef object _maxout_forward(self, cnp.ndarray x, object out, int code):
        shape = self._maxout_shape(x)
        if out is None:
            out = np.empty(shape, dtype=x.dtype)
        else:
            if _dtype_of(out, "out") != code:
                raise TypeError(f"out must have the dtype of x ({x.dtype}), got {out.dtype}")
            if out.shape != shape:
                raise ValueError(f"maxout: out must have shape {shape}, got {out.shape}")
            _check_writable(out, "out")
        cdef cnp.ndarray xc = _c_input(x)
        cdef cnp.ndarray target = <cnp.ndarray>out
        cdef cnp.ndarray oc = target if _c_ready(target) and \
            not _overlap(xc, target) else np.empty(shape, dtype=x.dtype)
        cdef size_t k = self.pieces
        cdef size_t m = shape[len(shape) - 1]
        cdef size_t rows = _rows(oc, m)
        cdef void *xp = cnp.PyArray_DATA(xc)
        cdef void *op = cnp.PyArray_DATA(oc)
        with nogil:
            if code == 0:
                fa_maxout_forward_f32(<float *>xp, <float *>op, rows, m, k)
            else:
                fa_maxout_forward_f64(<double *>xp, <double *>op, rows, m, k)
        if oc is not target:
            target[...] = oc
        return target

    # -- backward -------------------------------------------------------------

    cpdef backward(self, y, delta, x=None, n_threads=None):
        """Multiply ``delta`` in place by the slope and return it.

        Parameters
        ----------
        y : ndarray
            What :meth:`forward` wrote.  May be None for activations whose
            slope comes from the input.
        delta : ndarray
            Upstream gradient, same dtype and shape as ``y``; overwritten.
        x : ndarray, optional
            The forward input; required when ``slope_from == 'input'``.
        n_threads : int, optional
            As in :meth:`forward`.

        Returns
        -------
        delta : ndarray
            For prelu, ``(delta, grad_alpha)`` where ``grad_alpha[j]`` is the
            gradient of the loss w.r.t. ``alpha[j]``; for maxout, a new array
            shaped like ``x``: ``delta`` routed to each arg-max piece.
        """
        cdef int code = _dtype_of(delta, "delta")
        cdef cnp.ndarray d = <cnp.ndarray>delta
        cdef int nt = _threads(n_threads)
        self._check_params(code)
        if self.pattern == REDUCE:
            return self._maxout_backward(y, d, x, code)
        _check_writable(d, "delta")
        cdef cnp.ndarray src
        if self.from_input:
            if x is None:
                raise ValueError(f"{self.info.name} computes its slope from the forward "
                                 f"input: pass x=, the array given to forward() before "
                                 f"it was overwritten")
            _check_like(d, "delta", x, "x", code)
            src = <cnp.ndarray>x
            if y is not None:
                _check_like(d, "delta", y, "y", code)
        else:
            if y is None:
                raise ValueError(f"{self.info.name} computes its slope from the forward "
                                 f"output: y is required")
            _check_like(d, "delta", y, "y", code)
            src = <cnp.ndarray>y
        if self.pattern == PER_FEATURE:
            self._check_features(d, "delta")
            grad_alpha = np.zeros(len(self.alpha32), dtype=d.dtype)
        elif self.pattern == ROWWISE:
            self._check_rows(d, "delta")
        if cnp.PyArray_SIZE(d) == 0:
            return (d, grad_alpha) if self.pattern == PER_FEATURE else d
        if self.kind == FA_IDENTITY:
            return d                         # slope 1: delta is the answer
        if _overlap(src, d):
            src = src.copy()                 # the slope must see y before delta changes
        cdef bint flat_ok = self.pattern == ELEMENTWISE and _same_layout(src, d)
        cdef bint rows_ok = _c_ready(src) and _c_ready(d)
        cdef cnp.ndarray work = d
        if not (flat_ok or rows_ok):
            src = _c_input(src)
            work = np.array(d, order="C", copy=True)
        if self.pattern == ELEMENTWISE:
            self._backward_flat(src, work, code, nt)
        elif self.pattern == PER_FEATURE:
            self._prelu_backward(src, work, grad_alpha, code)
        else:
            self._backward_rows(src, work, code, nt)
        if work is not d:
            d[...] = work
        return (d, grad_alpha) if self.pattern == PER_FEATURE else d

    cdef void _backward_flat(self, cnp.ndarray src, cnp.ndarray d, int code, int nt) noexcept:
        cdef size_t n = cnp.PyArray_SIZE(d)
        cdef void *sp = cnp.PyArray_DATA(src)
        cdef void *dp = cnp.PyArray_DATA(d)
        cdef fa_kind k = self.kind
        with nogil:
            if code == 0:
                fa_backward_f32(k, &self.p, <float *>sp, <float *>dp, n, nt)
            else:
                fa_backward_f64(k, &self.p, <double *>sp, <double *>dp, n, nt)

    cdef void _backward_rows(self, cnp.ndarray y, cnp.ndarray d, int code, int nt) noexcept:
        cdef size_t cols = d.shape[d.ndim - 1]
        cdef size_t rows = _rows(d, cols)
        cdef void *yp = cnp.PyArray_DATA(y)
        cdef void *dp = cnp.PyArray_DATA(d)
        with nogil:
            if self.kind == FA_SOFTMAX:
                if code == 0:
                    fa_softmax_backward_f32(<float *>yp, <float *>dp, rows, cols, nt)
                else:
                    fa_softmax_backward_f64(<double *>yp, <double *>dp, rows, cols, nt)
            else:
                if code == 0:
                    fa_log_softmax_backward_f32(<float *>yp, <float *>dp, rows, cols, nt)
                else:
                    fa_log_softmax_backward_f64(<double *>yp, <double *>dp, rows, cols, nt)

    cdef void _prelu_backward(self, cnp.ndarray y, cnp.ndarray d, cnp.ndarray ga,
                              int code) except *:
        cdef size_t cols = d.shape[d.ndim - 1]
        cdef size_t rows = _rows(d, cols)
        cdef void *yp = cnp.PyArray_DATA(y)
        cdef void *dp = cnp.PyArray_DATA(d)
        cdef void *gp = cnp.PyArray_DATA(ga)
        cdef void *ap = cnp.PyArray_DATA(<cnp.ndarray>self._alpha(code))
        with nogil:
            if code == 0:
                fa_prelu_backward_f32(<float *>yp, <float *>dp, <float *>ap, <float *>gp, rows, cols)
            else:
                fa_prelu_backward_f64(<double *>yp, <double *>dp, <double *>ap, <double *>gp, rows, cols)

    cdef object _maxout_backward(self, object y, cnp.ndarray d, object x, int code):
        if x is None:
            raise ValueError("maxout computes its gradient from the forward input: pass x=")
        if _dtype_of(x, "x") != code:
            raise TypeError(f"x must have the dtype of delta ({d.dtype}), got {x.dtype}")
        shape = self._maxout_shape(<cnp.ndarray>x)
        if _shape(d) != shape:
            raise ValueError(f"maxout: delta must have shape {shape} (the output's), "
                             f"got {_shape(d)}")
        if y is not None:
            _check_like(d, "delta", y, "y", code)
        cdef cnp.ndarray xc = _c_input(x)
        cdef cnp.ndarray dc = _c_input(d)
        cdef cnp.ndarray gx = np.empty_like(xc)
        cdef size_t k = self.pieces
        cdef size_t m = shape[len(shape) - 1]
        cdef size_t rows = _rows(dc, m) if m else 0
        cdef void *xp = cnp.PyArray_DATA(xc)
        cdef void *dp = cnp.PyArray_DATA(dc)
        cdef void *gp = cnp.PyArray_DATA(gx)
        with nogil:
            if code == 0:
                fa_maxout_backward_f32(<float *>xp, <float *>dp, <float *>gp, rows, m, k)
            else:
                fa_maxout_backward_f64(<double *>xp, <double *>dp, <double *>gp, rows, m, k)
        return gx

    # -- fused layer kernels ----------------------------------------------------

    def bias_forward(self, z, bias, saved_input=None, n_threads=None):
        """``z = f(z + bias)`` in place over a C-contiguous (n, m) matrix, one pass.

        ``bias`` has m entries.  When ``saved_input`` (same shape) is given,
        ``z + bias`` is stored there too, for activations whose slope needs
        the input.  Returns ``z``.
        """
        cdef int code = self._check_matrix(z, "z")
        cdef cnp.ndarray za = <cnp.ndarray>z
        self._check_params(code)
        if not (self.pattern == ELEMENTWISE or self.kind == FA_SOFTMAX
                or self.kind == FA_LOG_SOFTMAX):
            raise ValueError(f"bias_forward supports elementwise activations and the "
                             f"softmax family, not {self.info.name}")
        cdef cnp.ndarray b = self._check_bias(bias, "bias", za, code, False)
        cdef void *sp = NULL
        if saved_input is not None:
            _check_like(za, "z", saved_input, "saved_input", code)
            _check_writable(saved_input, "saved_input")
            if not _c_ready(saved_input) or _overlap(saved_input, za):
                raise ValueError("saved_input must be C-contiguous, aligned and separate "
                                 "from z")
            sp = cnp.PyArray_DATA(<cnp.ndarray>saved_input)
        if _overlap(b, za) or (sp != NULL and _overlap(b, <cnp.ndarray>saved_input)):
            b = b.copy()                     # z and saved_input are written row by row
        cdef int nt = _threads(n_threads)
        cdef size_t rows = za.shape[0], cols = za.shape[1]
        cdef void *zp = cnp.PyArray_DATA(za)
        cdef void *bp = cnp.PyArray_DATA(b)
        cdef fa_kind k = self.kind
        with nogil:
            if code == 0:
                fa_bias_act_forward_f32(k, &self.p, <float *>zp, <float *>bp, <float *>sp, rows, cols, nt)
            else:
                fa_bias_act_forward_f64(k, &self.p, <double *>zp, <double *>bp, <double *>sp, rows, cols, nt)
        return za

    def backward_bias_grad(self, y, delta, x=None, bias_grad=None, n_threads=None):
        """``delta *= slope`` and the column sums of the result, in one pass.

        ``delta`` is a C-contiguous (n, m) matrix; ``y`` (or ``x`` for
        slope-from-input activations) has its shape.  The column sums go to
        ``bias_grad`` (m entries, overwritten; allocated when omitted).
        Returns ``(delta, bias_grad)``.
        """
        cdef int code = self._check_matrix(delta, "delta")
        cdef cnp.ndarray d = <cnp.ndarray>delta
        self._check_params(code)
        if self.pattern != ELEMENTWISE:
            raise ValueError(f"backward_bias_grad supports elementwise activations, "
                             f"not {self.info.name}")
        src_arg = "x" if self.from_input else "y"
        src = x if self.from_input else y
        if src is None:
            raise ValueError(f"{self.info.name} computes its slope from the forward "
                             f"{'input' if self.from_input else 'output'}: pass {src_arg}=")
        _check_like(d, "delta", src, src_arg, code)
        cdef cnp.ndarray s = _c_input(src)
        if _overlap(s, d):
            s = s.copy()
        cdef cnp.ndarray bg
        if bias_grad is None:
            bg = np.empty(d.shape[1], dtype=d.dtype)
        else:
            bg = self._check_bias(bias_grad, "bias_grad", d, code, True)
            if _overlap(bg, d) or _overlap(bg, s):
                raise ValueError("bias_grad must not share memory with delta or the source")
        cdef int nt = _threads(n_threads)
        cdef size_t rows = d.shape[0], cols = d.shape[1]
        cdef cnp.ndarray bgc = bg if cnp.PyArray_ISALIGNED(bg) else np.empty_like(bg)
        cdef void *sp = cnp.PyArray_DATA(s)
        cdef void *dp = cnp.PyArray_DATA(d)
        cdef void *gp = cnp.PyArray_DATA(bgc)
        cdef fa_kind k = self.kind
        with nogil:
            if code == 0:
                fa_act_backward_bias_grad_f32(k, &self.p, <float *>sp, <float *>dp, <float *>gp, rows, cols, nt)
            else:
                fa_act_backward_bias_grad_f64(k, &self.p, <double *>sp, <double *>dp, <double *>gp, rows, cols, nt)
        if bgc is not bg:
            bg[...] = bgc
        return d, bg

    cdef int _check_matrix(self, object z, str arg) except -1:
        cdef int code = _dtype_of(z, arg)
        cdef cnp.ndarray za = <cnp.ndarray>z
        if za.ndim != 2 or not _c_ready(za):
            raise ValueError(f"{arg} must be a C-contiguous, aligned 2-D array, got "
                             f"{za.ndim}-D"
                             f"{'' if cnp.PyArray_IS_C_CONTIGUOUS(za) else ' non-contiguous'}"
                             f"{'' if cnp.PyArray_ISALIGNED(za) else ' misaligned'}")
        _check_writable(za, arg)
        return code

    cdef cnp.ndarray _check_bias(self, object b, str arg, cnp.ndarray z, int code,
                                 bint writable):
        if _dtype_of(b, arg) != code:
            raise TypeError(f"{arg} must have the dtype of the matrix ({z.dtype}), got {b.dtype}")
        cdef cnp.ndarray ba = <cnp.ndarray>b
        if ba.ndim != 1 or ba.shape[0] != z.shape[1]:
            raise ValueError(f"{arg} must be 1-D with {z.shape[1]} entries, got shape {_shape(ba)}")
        if writable:
            _check_writable(ba, arg)
            if not cnp.PyArray_IS_C_CONTIGUOUS(ba):
                raise ValueError(f"{arg} must be contiguous")
            return ba                   # misaligned: the caller writes through a copy
        return _c_input(ba)


def _rebuild(name, params):
    return Activation(name, **params)


cdef dict _CACHE = {}
# Activations bound to an array parameter (prelu's alpha), keyed by the
# array's contents: binding validates and converts the array, ~45 us in
# Python, which a repeated call should not pay again.  Few and small entries.
cdef dict _ARRAY_CACHE = {}
DEF ARRAY_CACHE_SIZE = 64
DEF ARRAY_KEY_MAX_BYTES = 1 << 16


cdef object _array_key(object name, dict params):
    """A key holding copies of the array parameters' contents, or None when
    some parameter is neither hashable nor a small numeric ndarray."""
    cdef list parts = []
    for k, v in params.items():
        if isinstance(v, np.ndarray):
            if v.nbytes > ARRAY_KEY_MAX_BYTES or v.dtype.kind not in "fiu":
                return None
            parts.append((k, np.ndarray, v.dtype.str, v.shape, v.tobytes()))
        else:
            try:
                hash(v)
            except TypeError:
                return None
            parts.append((k, type(v), v))
    return (name, tuple(parts))


cdef Activation _resolve(object name, dict params):
    """Bound activation for (name, params), memoised when hashable."""
    # Keyword order is part of the key (a different order only costs a miss),
    # and so are the value types: 2 == 2.0 == True must not share an entry,
    # since the validation of one says nothing about the others.
    cdef object hit
    if not isinstance(name, str):  # not a key: a tuple could equal an entry's key
        return Activation(name, **params)      # (and lookup raises)
    if params:
        for v in params.values():
            if isinstance(v, np.ndarray):
                return _resolve_by_contents(name, params)
    cdef object key = (name, tuple([(k, type(v), v) for k, v in params.items()])) \
        if params else name
    try:
        hit = _CACHE.get(key)
    except TypeError:              # unhashable parameter (an alpha array)
        return _resolve_by_contents(name, params)
    if hit is not None:
        return <Activation>hit
    act = Activation(name, **params)
    if len(_CACHE) < 4096:
        try:
            _CACHE[key] = act
        except TypeError:
            pass
    return act


cdef Activation _resolve_by_contents(object name, dict params):
    key = _array_key(name, params)
    if key is None:
        return Activation(name, **params)
    hit = _ARRAY_CACHE.get(key)
    if hit is not None:
        return <Activation>hit
    act = Activation(name, **params)
    if len(_ARRAY_CACHE) >= ARRAY_CACHE_SIZE:
        # the oldest entry (pop: another thread may have evicted it already)
        _ARRAY_CACHE.pop(next(iter(_ARRAY_CACHE), None), None)
    _ARRAY_CACHE[key] = act
    return act


cdef object _last_name = None      # a str, or None
cdef Activation _last_act = None


cdef inline Activation _cached_default(object name):
    """The binding of ``name`` without parameters when a call has made one
    already, else None: one dict probe (~7 ns; the general path took ~50),
    so that a call on a small array costs little more than its kernel."""
    global _last_name, _last_act
    if name is _last_name:        # the same str object as the previous call's
        return _last_act
    if type(name) is not str:     # a tuple could equal another entry's key
        return None
    cdef PyObject *hit = PyDict_GetItem(_CACHE, name)
    if hit is NULL:
        return None
    # no GIL release between the two stores: another thread never sees a
    # name paired with the other name's binding
    _last_act = <Activation>hit
    _last_name = name
    return _last_act


cdef Activation _one_call(object name, dict params, tuple arrays):
    """The binding for one forward or backward call.  An alpha array too
    large for the cache (prelu with more than 16384 features) is used as the
    caller's array, not copied: the copies and their page faults cost ~0.8
    ms a call at 100,000 features, 50x the kernel.  Not when it shares
    memory with the call's arrays (the kernel writes those)."""
    cdef Activation one
    a = params.get("alpha") if params else None
    if isinstance(a, np.ndarray) and a.nbytes > ARRAY_KEY_MAX_BYTES:
        for arr in arrays:
            if isinstance(arr, np.ndarray) and np.may_share_memory(a, arr):
                return _resolve(name, params)
        one = <Activation>Activation.__new__(Activation)
        one._bind(name, params, False)
        return one
    return _resolve(name, params)


def activation(name, **params):
    """Bind an activation of the table to its parameters.

    Parameters
    ----------
    name : str
        A name or alias of :data:`fastact.ACTIVATIONS`.
    **params
        The activation's parameters (see ``ACTIVATIONS[name].params``).

    Returns
    -------
    Activation
        With ``.forward(x, out=None)``, ``.backward(y, delta, x=None)``,
        ``.bias_forward(z, bias)`` and ``.backward_bias_grad(y, delta, x=None)``.

    Examples
    --------
    >>> import numpy as np, fastact
    >>> act = fastact.activation("leaky_relu", alpha=0.1)
    >>> act.forward(np.array([-1.0, 2.0]))
    array([-0.1,  2. ])
    """
    return _resolve(name, params)


def forward(name, x, out=None, *, n_threads=None, **params):
    """Apply activation ``name`` to ``x``, in place unless ``out`` is given.

    Parameters
    ----------
    name : str
        Activation name or alias (see :data:`fastact.ACTIVATIONS`).
    x : ndarray of float32 or float64
        Input of any shape and layout.  Overwritten when ``out`` is None.
    out : ndarray, optional
        Destination, same dtype and shape as ``x`` (maxout: last axis divided
        by ``pieces``; maxout allocates it when omitted).
    n_threads : int, optional
        Threads for large buffers; by default the OpenMP limit (which
        threadpoolctl controls).  Results do not depend on it.
    **params
        Parameters of the activation, e.g. ``alpha=0.1`` for leaky_relu.

    Returns
    -------
    ndarray
        The array written.

    Examples
    --------
    >>> import numpy as np, fastact
    >>> x = np.array([-2.0, 0.0, 3.0], dtype=np.float32)
    >>> fastact.forward("relu", x)
    array([0., 0., 3.], dtype=float32)
    """
    cdef Activation act = None if params else _cached_default(name)
    if act is None:
        act = _one_call(name, params, (x, out))
    return act.forward(x, out, n_threads)


def backward(name, y, delta, x=None, *, n_threads=None, **params):
    """Multiply ``delta`` in place by the slope of activation ``name``.

    Parameters
    ----------
    name : str
        Activation name or alias.
    y : ndarray or None
        What :func:`forward` wrote (the slope of most activations is a
        function of it).  May be None when the slope comes from the input.
    delta : ndarray
        Upstream gradient, same dtype and shape as ``y``; overwritten.
    x : ndarray, optional
        The forward input, required for activations whose slope comes from
        the input (``ACTIVATIONS[name].slope_from == 'input'``).
    n_threads : int, optional
        As in :func:`forward`.
    **params
        Parameters of the activation (the same as given to forward).

    Returns
    -------
    delta : ndarray
        ``delta``, scaled.  prelu returns ``(delta, grad_alpha)``; maxout
        returns a new array shaped like ``x`` holding ``delta`` routed to each
        arg-max piece (zeros elsewhere).
    """
    cdef Activation act = None if params else _cached_default(name)
    if act is None:
        act = _one_call(name, params, (y, delta, x))
    return act.backward(y, delta, x, n_threads)


def bias_act_forward(name, z, bias, *, saved_input=None, n_threads=None, **params):
    """Fused ``z = f(z + bias)`` over a C-contiguous (n, m) matrix; see
    :meth:`Activation.bias_forward`."""
    return _resolve(name, params).bias_forward(z, bias, saved_input, n_threads)


def backward_bias_grad(name, y, delta, x=None, *, bias_grad=None, n_threads=None, **params):
    """Fused ``delta *= slope`` and its column sums; see
    :meth:`Activation.backward_bias_grad`."""
    return _resolve(name, params).backward_bias_grad(y, delta, x, bias_grad, n_threads)


cdef tuple _loss_args(object z, object target, object sample_weight, object proba):
    cdef int code = _dtype_of(z, "z")
    cdef cnp.ndarray za = <cnp.ndarray>z
    if za.ndim != 2 or not _c_ready(za):
        raise ValueError(f"z must be a C-contiguous, aligned 2-D array of logits, got "
                         f"{za.ndim}-D{'' if cnp.PyArray_IS_C_CONTIGUOUS(za) else ' non-contiguous'}"
                         f"{'' if cnp.PyArray_ISALIGNED(za) else ' misaligned'}")
    _check_writable(za, "z")
    dtype = za.dtype
    t = np.asarray(target)
    if t.dtype.kind not in "fiub":
        raise TypeError(f"target must be numeric, got dtype {t.dtype}")
    if t.shape != _shape(za):
        raise ValueError(f"target must have the shape of z {_shape(za)}, got {t.shape}")
    t = _c_input(t, dtype)
    if np.may_share_memory(t, za):
        t = t.copy()
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight)
        if w.dtype.kind not in "fiu":
            raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
        if w.shape != (za.shape[0],):
            raise ValueError(f"sample_weight must have shape ({za.shape[0]},), got {w.shape}")
        w = _c_input(w, dtype)
        if not np.all(w >= 0) or not np.all(np.isfinite(w)):
            raise ValueError("sample_weight must be finite and >= 0")
        if np.may_share_memory(w, za):
            w = w.copy()
    if proba is not None:
        _check_like(za, "z", proba, "proba", code)
        _check_writable(proba, "proba")
        if not _c_ready(proba) or np.may_share_memory(proba, za):
            raise ValueError("proba must be C-contiguous, aligned and separate from z")
        if np.may_share_memory(proba, t):
            t = t.copy()                 # proba is written before t is read
        if w is not None and np.may_share_memory(proba, w):
            w = w.copy()
    return code, t, w


def softmax_cross_entropy(z, target, sample_weight=None, *, proba=None):
    """Softmax + cross-entropy, fused: the loss, and its gradient in place.

    Parameters
    ----------
    z : ndarray (n, k) of float32 or float64, C-contiguous
        Logits; overwritten with the gradient of the mean loss with respect
        to them, ``w_i (softmax(z)_i - t_i) / sum(w)``.
    target : array-like (n, k)
        Target probabilities (one-hot for class labels).
    sample_weight : array-like (n,), optional
        Non-negative weights; the loss is their weighted mean.
    proba : ndarray (n, k), optional
        Receives softmax(z).

    Returns
    -------
    loss : float
        ``-sum_i w_i sum_j t_ij log softmax(z)_ij / sum(w)``, from
        log-sum-exp (never the log of a rounded probability).
    """
    code, t, w = _loss_args(z, target, sample_weight, proba)
    return _fused_loss(0, code, z, t, w, proba)


def logistic_cross_entropy(z, target, sample_weight=None, *, proba=None):
    """Logistic + binary cross-entropy, fused; as :func:`softmax_cross_entropy`
    with ``sigmoid`` per entry.  The loss sums over the columns (labels) and
    averages over the rows: ``sum_ij w_i (softplus(z_ij) - t_ij z_ij) / sum(w)``.
    """
    code, t, w = _loss_args(z, target, sample_weight, proba)
    return _fused_loss(1, code, z, t, w, proba)


cdef double _fused_loss(int which, int code, cnp.ndarray z, cnp.ndarray t, object w,
                        object proba) except? -1:
    cdef size_t rows = z.shape[0], cols = z.shape[1]
    cdef void *zp = cnp.PyArray_DATA(z)
    cdef void *tp = cnp.PyArray_DATA(t)
    cdef void *wp = NULL if w is None else cnp.PyArray_DATA(<cnp.ndarray>w)
    cdef void *pp = NULL if proba is None else cnp.PyArray_DATA(<cnp.ndarray>proba)
    cdef double loss
    with nogil:
        if which == 0:
            if code == 0:
                loss = fa_softmax_xent_f32(<float *>zp, <float *>tp, <float *>wp, <float *>pp, rows, cols)
            else:
                loss = fa_softmax_xent_f64(<double *>zp, <double *>tp, <double *>wp, <double *>pp, rows, cols)
        else:
            if code == 0:
                loss = fa_logistic_bxent_f32(<float *>zp, <float *>tp, <float *>wp, <float *>pp, rows, cols)
            else:
                loss = fa_logistic_bxent_f64(<double *>zp, <double *>tp, <double *>wp, <double *>pp, rows, cols)
    return loss
