# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled engine of fastact's MLP estimators.

One :class:`Network` holds a multi-layer perceptron: its layer sizes, the
activation of every hidden layer (a C kernel of the fastact table and its
parameters), ONE contiguous parameter buffer (all weight matrices, then all
intercepts, in scikit-learn's ``_pack`` order; ``coefs_``/``intercepts_`` are
views into it), ONE contiguous gradient buffer of the same layout, the
optimizer state and the batch workspaces.

A training step runs entirely without the GIL: gather the batch rows by index
(X is never copied or shuffled), the matrix products through BLAS
(``scipy.linalg.cython_blas``), the fused bias + activation forward, the fused
output loss and its gradient, the backward pass with the fused slope + bias
gradient kernels, dropout masks, and the optimizer update with the L2 term
folded in.  Python is entered once per batch only to check for signals, so
Ctrl-C stops training between two batches (between two chunks of a batch
whose rows are too costly to compute at once, see chunk_rows; the lbfgs loss
runs in such chunks too).

Everything is generated for float32 and float64 from one definition (Cython
fused types); the network computes in the dtype it was created with.
"""

import numpy as np

cimport numpy as cnp
from cpython.exc cimport PyErr_CheckSignals
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from cython cimport floating
from libc.math cimport isfinite, pow, sqrt
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
from cython.parallel cimport prange, threadid
from scipy.linalg.cython_blas cimport dgemm, sgemm

import scipy.sparse as sp

from fastact._blas_threads import single_threaded_blas
from fastact._kernels import Activation
from fastact._table import c_params, float32_problem

cnp.import_array()


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fa_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int fa_omp_max_threads(void) { return 1; }
    #endif
    """
    int fa_omp_max_threads() nogil


cdef extern from "fastact.h" nogil:
    const char *fa_kind_names[]
    const int fa_slope_from_input[]
    fa_kind FA_IDENTITY
    fa_kind FA_RELU

    void fa_prelu_forward_f32(const float *x, float *out, const float *alpha, size_t rows, size_t cols, int nt)
    void fa_prelu_forward_f64(const double *x, double *out, const double *alpha, size_t rows, size_t cols, int nt)
    void fa_prelu_backward_f32(const float *y, float *delta, const float *alpha, float *ga, size_t rows, size_t cols)
    void fa_prelu_backward_f64(const double *y, double *delta, const double *alpha, double *ga, size_t rows, size_t cols)
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


cdef extern from "gemm.h" nogil:
    int fa_gemm_f32(char ta, char tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc, int n_threads)
    int fa_gemm_f64(char ta, char tb, int M, int N, int K, double alpha, const double *A, int lda, const double *B, int ldb, double beta, double *C, int ldc, int n_threads)
    int fa_gemm_isa()
    void fa_gemm_test_fail_alloc(int on)
    ctypedef struct fa_gemm_epilogue:
        int kind
        const void *bias
        const void *y
        int ldy
        void *colsum
        int summed
    int FA_GEMM_EP_BIAS_RELU
    int FA_GEMM_EP_RELU_SLOPE
    int FA_GEMM_EP_BIAS
    int fa_gemm_ep_f32(char ta, char tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int n_threads, fa_gemm_epilogue *ep)
    int fa_gemm_ep_f64(char ta, char tb, int M, int N, int K, const double *A, int lda, const double *B, int ldb, double *C, int ldc, int n_threads, fa_gemm_epilogue *ep)


cdef extern from "mt_shuffle.h" nogil:
    ctypedef struct fa_mt19937_state:
        int pos
    void fa_mt_shuffle_i64(fa_mt19937_state *st, int64_t *x, size_t n)


cdef extern from "mlp_train.h" nogil:
    uint64_t mlp_mix64(uint64_t z)
    void mlp_gather_f32(const float *X, Py_ssize_t s0, Py_ssize_t s1, const int64_t *rows, size_t n, size_t cols, float *out, int n_threads)
    void mlp_gather_f64(const double *X, Py_ssize_t s0, Py_ssize_t s1, const int64_t *rows, size_t n, size_t cols, double *out, int n_threads)
    void mlp_csr_forward_f32(const float *data, const int32_t *ind, const int32_t *ptr, const int64_t *rows, int64_t row0, size_t n, const float *W, size_t fo, float *out)
    void mlp_csr_forward_f64(const double *data, const int32_t *ind, const int32_t *ptr, const int64_t *rows, int64_t row0, size_t n, const double *W, size_t fo, double *out)
    void mlp_csr_weight_grad_f32(const float *data, const int32_t *ind, const int32_t *ptr, const int64_t *rows, size_t n, const float *delta, size_t fo, float *gW, size_t nf)
    void mlp_csr_weight_grad_f64(const double *data, const int32_t *ind, const int32_t *ptr, const int64_t *rows, size_t n, const double *delta, size_t fo, double *gW, size_t nf)
    double mlp_squared_loss_f32(float *z, const float *t, const float *w, size_t rows, size_t cols, double total)
    double mlp_squared_loss_f64(double *z, const double *t, const double *w, size_t rows, size_t cols, double total)
    double mlp_poisson_loss_f32(float *z, const float *t, const float *w, size_t rows, size_t cols, double total)
    double mlp_poisson_loss_f64(double *z, const double *t, const double *w, size_t rows, size_t cols, double total)
    void mlp_dropout_forward_f32(const float *a, float *mask, float *out, size_t n, double keep, uint64_t key, uint64_t first)
    void mlp_dropout_forward_f64(const double *a, double *mask, double *out, size_t n, double keep, uint64_t key, uint64_t first)
    void mlp_mul_inplace_f32(float *d, const float *m, size_t n)
    void mlp_mul_inplace_f64(double *d, const double *m, size_t n)
    void mlp_adam_update_f32(float *p, const float *g, float *m, float *v, size_t n, float l2, float b1, float c1, float b2, float c2, float lr, float eps, double *sumsq, int n_threads)
    void mlp_adam_update_f64(double *p, const double *g, double *m, double *v, size_t n, double l2, double b1, double c1, double b2, double c2, double lr, double eps, double *sumsq, int n_threads)
    void mlp_sgd_update_f32(float *p, const float *g, float *vel, size_t n, float l2, float mu, float lr, int nesterov, double *sumsq, int n_threads)
    void mlp_sgd_update_f64(double *p, const double *g, double *vel, size_t n, double l2, double mu, double lr, int nesterov, double *sumsq, int n_threads)
    double mlp_sumsq_f32(const float *p, size_t n)
    double mlp_sumsq_f64(const double *p, size_t n)
    void mlp_add_scaled_f32(float *g, const float *p, float l2, size_t n)
    void mlp_add_scaled_f64(double *g, const double *p, double l2, size_t n)
    void mlp_scale_f32(float *x, float s, size_t n)
    void mlp_scale_f64(double *x, double s, size_t n)
    int mlp_all_finite_f32(const float *x, size_t n)
    int mlp_all_finite_f64(const double *x, size_t n)
    void mlp_small_matmul_f32(const float *x, size_t ldx, size_t rows, size_t fi, const float *W, size_t fo, float *out)
    void mlp_small_matmul_f64(const double *x, size_t ldx, size_t rows, size_t fi, const double *W, size_t fo, double *out)



# C kernel name -> enum value, read from the C table
cdef dict _KIND = {}
cdef int _i = 0
while fa_kind_names[_i] != NULL:
    _KIND[fa_kind_names[_i].decode()] = _i
    _i += 1

cdef enum Pattern:
    PAT_ELEMENTWISE = 0
    PAT_PRELU = 1
    PAT_SOFTMAX = 2
    PAT_LOG_SOFTMAX = 3
    PAT_MAXOUT = 4

cdef enum Loss:
    LOSS_SOFTMAX = 0     # softmax output + cross-entropy (multiclass)
    LOSS_LOGISTIC = 1    # logistic output + binary cross-entropy (binary, multilabel)
    LOSS_SQUARED = 2     # identity output + half squared error
    LOSS_POISSON = 3     # exp output + half Poisson deviance

cdef enum Solver:
    SOLVER_NONE = 0
    SOLVER_SGD = 1
    SOLVER_ADAM = 2

cdef enum Status:
    STEP_OK = 0
    STEP_NONFINITE = 1   # the loss of the batch was NaN or infinite: no update made
    STEP_NO_WEIGHT = 2   # the sample weights of the batch sum to zero: skipped
    STEP_NO_MEMORY = 3   # a product could not allocate its packing memory: stopped

LOSSES = {"softmax": LOSS_SOFTMAX, "logistic": LOSS_LOGISTIC,
          "squared_error": LOSS_SQUARED, "poisson": LOSS_POISSON}
_OUT_KIND = {LOSS_SOFTMAX: "softmax", LOSS_LOGISTIC: "logistic",
             LOSS_SQUARED: "identity", LOSS_POISSON: "exp"}

# rows per chunk of the inference forward pass
DEF PREDICT_CHUNK = 1024
# the lbfgs loss and the gradient of a mini-batch are computed in chunks of
# at most MAX_CHUNK rows and about CHUNK_FLOP operations (see chunk_rows)
DEF MAX_CHUNK = 4096
DEF CHUNK_FLOP = 1 << 30
# at most this many rows take the BLAS-free path (one-row predict latency)
DEF SMALL_ROWS = 4


# ---------------------------------------------------------------------------
# dtype dispatch: one thin wrapper per kernel

cdef inline void _blas_gemm(char ta, char tb, int M, int N, int K, floating alpha,
                            const floating *A, int lda, const floating *B, int ldb,
                            floating beta, floating *C, int ldc) noexcept nogil:
    """Row-major C = alpha op(A) op(B) + beta C through the Fortran BLAS: the
    column-major view computes C^T = op(B)^T op(A)^T."""
    if M == 0 or N == 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &N, &M, &K, &alpha, <float *>B, &ldb, <float *>A, &lda, &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &N, &M, &K, &alpha, <double *>B, &ldb, <double *>A, &lda, &beta, C, &ldc)


cdef inline int _gemm(char ta, char tb, int M, int N, int K, floating alpha,
                      const floating *A, int lda, const floating *B, int ldb,
                      floating beta, floating *C, int ldc, int nt) noexcept nogil:
    """The training step's products.  fastact's own GEMM (gemm.h) gives every
    element one fixed FMA sequence, so its results do not depend on nt:
    training may use threads and stay reproducible.  Where it declines (a CPU
    without AVX2+FMA), single-threaded BLAS (the caller pins it).  Returns
    -1, C not written, when the GEMM cannot allocate its packing memory
    (the step then ends with STEP_NO_MEMORY), else 0."""
    cdef int done = 0
    if M == 0 or N == 0:
        return 0
    if floating is float:
        done = fa_gemm_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nt)
    else:
        done = fa_gemm_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nt)
    if done < 0:
        return -1
    if done == 0:
        _blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
    return 0


# A hidden relu layer (no dropout) takes its bias + activation forward, and
# its slope and intercept gradient backward, in the epilogue of the product
# that writes it (gemm.h), bitwise as the separate passes: those passes read
# and wrote the (batch x width) block again, ~8% of a T1 fit together.  The
# output layer's bias is added there too.
cdef bint _epilogues = True


def _set_gemm_epilogues(bint on):
    """For tests: train with (True) or without the GEMM epilogues."""
    global _epilogues
    _epilogues = on


cdef inline int _gemm_ep(char tb, int M, int N, int K, const floating *A, int lda,
                         const floating *B, int ldb, floating *C, int ldc, int nt, int kind,
                         const floating *bias, const floating *y, floating *colsum) noexcept nogil:
    """C = A op(B) with an epilogue of gemm.h (kind), y with row stride N.
    Returns 2 when the epilogue ran and made the column sums too, 1 when it
    ran without them (threads: the caller sums), 0 when C holds the plain
    product only (epilogues off, or BLAS: the caller runs the passes), -1
    when the GEMM found no memory (C not written)."""
    cdef fa_gemm_epilogue ep
    cdef int done = 0
    if not _epilogues:
        return _gemm(c'N', tb, M, N, K, <floating>1, A, lda, B, ldb, <floating>0, C, ldc, nt)
    ep.kind = kind
    ep.bias = bias
    ep.y = y
    ep.ldy = N
    ep.colsum = colsum
    ep.summed = 0
    if floating is float:
        done = fa_gemm_ep_f32(c'N', tb, M, N, K, A, lda, B, ldb, C, ldc, nt, &ep)
    else:
        done = fa_gemm_ep_f64(c'N', tb, M, N, K, A, lda, B, ldb, C, ldc, nt, &ep)
    if done < 0:
        return -1
    if done == 0:
        return _gemm(c'N', tb, M, N, K, <floating>1, A, lda, B, ldb, <floating>0, C, ldc, nt)
    return 2 if ep.summed else 1


cdef inline bint _relu_fusable(Layer *ly) noexcept nogil:
    return ly.pattern == PAT_ELEMENTWISE and ly.kind == FA_RELU and ly.keep >= 1.0


# Inference multiplies with fastact's GEMM where its AVX-512 kernels run: on
# P2 (10,000 rows through 784-256-128-10, float32, 1 thread) predict_proba
# took 0.96-0.98x NumPy's matmul chain with them, 1.03-1.06x with OpenBLAS
# (SkylakeX kernels).  With the AVX2 kernels OpenBLAS was a few percent
# faster on those layers (tools/bench_gemm.py), so predict keeps it there.
cdef bint _PREDICT_OWN_GEMM = fa_gemm_isa() >= 2


cdef inline void _matmul(const floating *A, Py_ssize_t lda, Py_ssize_t rows, Py_ssize_t fi,
                         const floating *W, Py_ssize_t fo, floating *out) noexcept nogil:
    """out = A W for inference; BLAS-free for a handful of rows.  Predict
    splits its rows into fixed chunks, each on one thread with fastact's
    GEMM or single-threaded BLAS, so its results do not depend on the thread
    count either.  (Should the GEMM find no memory for its packing, the
    chunk goes to BLAS.)"""
    cdef int done = 0
    if rows <= SMALL_ROWS:
        if floating is float:
            mlp_small_matmul_f32(A, lda, rows, fi, W, fo, out)
        else:
            mlp_small_matmul_f64(A, lda, rows, fi, W, fo, out)
        return
    if _PREDICT_OWN_GEMM:
        if floating is float:
            done = fa_gemm_f32(c'N', c'N', <int>rows, <int>fo, <int>fi, 1, A, <int>lda, W,
                               <int>fo, 0, out, <int>fo, 1)
        else:
            done = fa_gemm_f64(c'N', c'N', <int>rows, <int>fo, <int>fi, 1, A, <int>lda, W,
                               <int>fo, 0, out, <int>fo, 1)
    if done != 1:
        _blas_gemm(c'N', c'N', <int>rows, <int>fo, <int>fi, <floating>1, A, <int>lda, W,
                   <int>fo, <floating>0, out, <int>fo)


cdef inline void _bias_act(fa_kind k, const fa_params *p, floating *z, const floating *b,
                           floating *saved, Py_ssize_t rows, Py_ssize_t cols, int nt) noexcept nogil:
    if floating is float:
        fa_bias_act_forward_f32(k, p, z, b, saved, rows, cols, nt)
    else:
        fa_bias_act_forward_f64(k, p, z, b, saved, rows, cols, nt)


cdef inline void _act_bwd_bias(fa_kind k, const fa_params *p, const floating *src, floating *d,
                               floating *bg, Py_ssize_t rows, Py_ssize_t cols, int nt) noexcept nogil:
    if floating is float:
        fa_act_backward_bias_grad_f32(k, p, src, d, bg, rows, cols, nt)
    else:
        fa_act_backward_bias_grad_f64(k, p, src, d, bg, rows, cols, nt)


cdef inline void _gather(const floating *X, Py_ssize_t s0, Py_ssize_t s1, const int64_t *rows,
                         Py_ssize_t n, Py_ssize_t cols, floating *out, int nt) noexcept nogil:
    if floating is float:
        mlp_gather_f32(X, s0, s1, rows, n, cols, out, nt)
    else:
        mlp_gather_f64(X, s0, s1, rows, n, cols, out, nt)


cdef inline void _csr_forward(Data *d, const int64_t *rows, int64_t row0, Py_ssize_t n,
                              const floating *W, Py_ssize_t fo, floating *out) noexcept nogil:
    if floating is float:
        mlp_csr_forward_f32(<float *>d.x, d.indices, d.indptr, rows, row0, n, W, fo, out)
    else:
        mlp_csr_forward_f64(<double *>d.x, d.indices, d.indptr, rows, row0, n, W, fo, out)


cdef inline bint _all_finite(const floating *x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return mlp_all_finite_f32(x, n)
    else:
        return mlp_all_finite_f64(x, n)


cdef void _hidden_forward(Layer *ly, floating *P, floating *z, floating *saved, floating *act,
                          Py_ssize_t rows, int nt) noexcept nogil:
    """Activation of one hidden layer over z = a W (rows x fan_out), bias
    included; the result goes to `act` (== z except for maxout)."""
    cdef floating *b = P + ly.b_off
    if ly.pattern == PAT_PRELU:
        _bias_act(FA_IDENTITY, NULL, z, b, saved, rows, ly.fan_out, nt)
        if floating is float:
            fa_prelu_forward_f32(z, z, <float *>ly.alpha, rows, ly.fan_out, nt)
        else:
            fa_prelu_forward_f64(z, z, <double *>ly.alpha, rows, ly.fan_out, nt)
    elif ly.pattern == PAT_MAXOUT:
        _bias_act(FA_IDENTITY, NULL, z, b, NULL, rows, ly.fan_out, nt)
        if floating is float:
            fa_maxout_forward_f32(z, act, rows, ly.width, ly.pieces)
        else:
            fa_maxout_forward_f64(z, act, rows, ly.width, ly.pieces)
    else:  # elementwise and the softmax family: one fused pass
        _bias_act(ly.kind, &ly.p, z, b, saved, rows, ly.fan_out, nt)


cdef void _hidden_backward(Layer *ly, floating *G, Py_ssize_t rows, int nt) noexcept nogil:
    """From d loss / d act (in ly.delta, or ly.dpost for maxout) to
    d loss / d (z + b) in ly.delta, and the intercept gradient."""
    cdef floating *d = <floating *>ly.delta
    cdef floating *gb = G + ly.b_off
    if ly.pattern == PAT_ELEMENTWISE:
        _act_bwd_bias(ly.kind, &ly.p, <floating *>(ly.saved if ly.from_input else ly.act), d, gb,
                      rows, ly.fan_out, nt)
        return
    if ly.pattern == PAT_PRELU:
        if floating is float:
            fa_prelu_backward_f32(<float *>ly.act, d, <float *>ly.alpha, NULL, rows, ly.fan_out)
        else:
            fa_prelu_backward_f64(<double *>ly.act, d, <double *>ly.alpha, NULL, rows, ly.fan_out)
    elif ly.pattern == PAT_SOFTMAX:
        if floating is float:
            fa_softmax_backward_f32(<float *>ly.act, d, rows, ly.fan_out, nt)
        else:
            fa_softmax_backward_f64(<double *>ly.act, d, rows, ly.fan_out, nt)
    elif ly.pattern == PAT_LOG_SOFTMAX:
        if floating is float:
            fa_log_softmax_backward_f32(<float *>ly.act, d, rows, ly.fan_out, nt)
        else:
            fa_log_softmax_backward_f64(<double *>ly.act, d, rows, ly.fan_out, nt)
    else:  # maxout: route d loss / d act to the arg-max pieces
        if floating is float:
            fa_maxout_backward_f32(<float *>ly.pre, <float *>ly.dpost, d, rows, ly.width, ly.pieces)
        else:
            fa_maxout_backward_f64(<double *>ly.pre, <double *>ly.dpost, d, rows, ly.width, ly.pieces)
    # column sums only: the identity "slope" leaves delta as it is
    _act_bwd_bias(FA_IDENTITY, NULL, d, d, gb, rows, ly.fan_out, nt)


cdef double _output_loss(int loss, floating *z, const floating *t, const floating *w,
                         Py_ssize_t rows, Py_ssize_t cols, double total) noexcept nogil:
    """Mean loss of the batch; z (logits, bias included) becomes d loss / d z.
    The cross-entropy kernels average over the weight sum of the rows given,
    the regression losses over `total`."""
    if loss == LOSS_SOFTMAX:
        if floating is float:
            return fa_softmax_xent_f32(z, t, w, NULL, rows, cols)
        else:
            return fa_softmax_xent_f64(z, t, w, NULL, rows, cols)
    if loss == LOSS_LOGISTIC:
        if floating is float:
            return fa_logistic_bxent_f32(z, t, w, NULL, rows, cols)
        else:
            return fa_logistic_bxent_f64(z, t, w, NULL, rows, cols)
    if loss == LOSS_SQUARED:
        if floating is float:
            return mlp_squared_loss_f32(z, t, w, rows, cols, total)
        else:
            return mlp_squared_loss_f64(z, t, w, rows, cols, total)
    if floating is float:
        return mlp_poisson_loss_f32(z, t, w, rows, cols, total)
    else:
        return mlp_poisson_loss_f64(z, t, w, rows, cols, total)


# -- the epoch shuffle

cdef struct _bitgen_head:
    # the first member of NumPy's bitgen_t (numpy/random/bitgen.h), all that
    # is read here: the bit generator's state
    void *state


cdef bint _mt_shuffle_raw(object rs, int64_t[::1] x) except -1:
    """fa_mt_shuffle_i64 on rs's MT19937 state; False (nothing done) when rs
    does not expose one."""
    bg = getattr(rs, "_bit_generator", None)
    if type(bg) is not np.random.MT19937 or x.shape[0] - 1 > 0xFFFFFFFF:
        return False
    capsule = bg.capsule
    if not PyCapsule_IsValid(capsule, "BitGenerator"):
        return False
    cdef _bitgen_head *head = <_bitgen_head *>PyCapsule_GetPointer(capsule, "BitGenerator")
    cdef size_t n = <size_t>x.shape[0]
    if n < 2:
        return True
    with bg.lock:
        with nogil:
            fa_mt_shuffle_i64(<fa_mt19937_state *>head.state, &x[0], n)
    return True


cdef int _mt_shuffle_checked = 0   # 0 unknown, 1 reproduces NumPy, -1 does not


cdef bint _mt_shuffle_reproduces_numpy():
    """Whether fa_mt_shuffle_i64 gives RandomState.shuffle's order and leaves
    the generator where NumPy leaves it, on this NumPy (checked once: it
    relies on the layout of NumPy's MT19937 state)."""
    global _mt_shuffle_checked
    if _mt_shuffle_checked == 0:
        ok = True
        try:
            for seed, skip, n in ((0, 0, 1347), (7, 600, 2000), (12345, 623, 5), (3, 5, 2)):
                ref, mine = np.random.RandomState(seed), np.random.RandomState(seed)
                ref.random_sample(skip)
                mine.random_sample(skip)
                a = np.arange(n, dtype=np.int64)
                b = a.copy()
                ref.shuffle(a)
                if not _mt_shuffle_raw(mine, b):
                    ok = False
                    break
                sa, sb = ref.get_state(), mine.get_state()
                ok = (np.array_equal(a, b) and np.array_equal(sa[1], sb[1]) and sa[2] == sb[2]
                      and ref.randint(1 << 30) == mine.randint(1 << 30))
                if not ok:
                    break
        except Exception:
            ok = False
        _mt_shuffle_checked = 1 if ok else -1
    return _mt_shuffle_checked > 0


def shuffle_rows(rs, cnp.ndarray idx):
    """rs.shuffle(idx) for a 1-D C-contiguous int64 idx and a RandomState:
    the same order and the same generator state afterwards, in 0.6x the time
    (1,347 rows: 7.3 against 12.5 us; through NumPy the per-epoch shuffle
    was 3.6% of a T1 fit).  Falls back to rs.shuffle wherever that cannot be
    guaranteed."""
    if (idx.ndim == 1 and idx.dtype == np.int64 and idx.flags.c_contiguous
            and idx.flags.writeable and _mt_shuffle_reproduces_numpy()
            and _mt_shuffle_raw(rs, idx)):
        return
    rs.shuffle(idx)


def _gemm_alloc_failure(bint on):
    """For tests: while on, fastact's GEMM cannot allocate packing memory.
    Returns whether training runs on that GEMM here (AVX2+FMA or better)."""
    fa_gemm_test_fail_alloc(on)
    return fa_gemm_isa() > 0


def _no_memory():
    return MemoryError("fastact: a matrix product of the training step could not allocate "
                       "its packing memory; the fit stopped and the estimator is left as "
                       "it was")


def chunk_rows(n_coef, n_units):
    """Rows per chunk of the lbfgs loss and of a mini-batch's gradient for a
    network of n_coef weights and n_units pre-activations (biases).

    Signals are only seen between two chunks, so a chunk's work is bounded
    instead of its row count: ~6 flops per weight and row (forward product,
    weight gradient, input gradient) and a few tens per unit (bias,
    activation, slope).  CHUNK_FLOP = 2**30 is ~20 ms on one core here
    (single-core sgemm ~50 GFLOP/s), well under the 0.5 s Ctrl-C bound even
    several times slower (load, float64).  Much smaller chunks cost
    throughput: at 4 rows sgemm runs at a third of its speed on 1024 rows,
    and each chunk adds a pass over the gradient buffer (its sum)."""
    work = 6 * int(n_coef) + 32 * int(n_units)
    return int(max(1, min(MAX_CHUNK, CHUNK_FLOP // max(work, 1))))


cdef int _forward_backward(Network net, floating *P, const int64_t *rows, Py_ssize_t B,
                           Py_ssize_t row0, double norm, double *data_loss,
                           double *batch_total) noexcept nogil:
    """Loss and gradient (into net.G) of the rows `rows[:B]` of the bound data.

    The loss is averaged over the weight sum of these rows, or over `norm`
    when it is > 0 (a loss over chunks: norm is the weight sum of all of
    them).  row0 is the position of these rows in their mini-batch: the
    dropout masks of a batch do not depend on how it is chunked.  Returns a
    Status.
    """
    cdef Layer *L = net.layers
    cdef Py_ssize_t n_layers = net.n_layers, l, i, nf = net.n_features, no = net.n_outputs
    cdef Data *d = &net.data
    cdef floating *G = <floating *>net.G
    cdef floating *xb = <floating *>net.xb
    cdef floating *tb = <floating *>net.tb
    cdef floating *wb = NULL
    cdef const floating *A0 = NULL
    cdef Py_ssize_t lda0 = nf
    cdef Layer *ly
    cdef Layer *prev
    cdef floating *z
    cdef floating *target
    cdef double total, loss
    cdef int nt = net.n_threads
    cdef bint contiguous, fuse, out_bias_added = False
    cdef uint64_t key, first
    cdef int done = 0
    cdef const floating *a_in
    cdef Py_ssize_t lda_in

    # -- the batch: input rows (read in place when consecutive), targets, weights
    if not d.sparse:
        contiguous = d.s1 == 1 and d.s0 >= nf
        i = 1
        while contiguous and i < B:
            contiguous = rows[i] == rows[i - 1] + 1
            i += 1
        if contiguous:
            A0 = <const floating *>d.x + rows[0] * d.s0
            lda0 = d.s0
        else:
            # gathered, not read in place: a GEMM reading the shuffled rows
            # through an index (tried 2026-12-02) made T1 and T2 fits 2-4%
            # slower than this copy into a contiguous block
            _gather(<const floating *>d.x, d.s0, d.s1, rows, B, nf, xb, nt)
            A0 = xb
    _gather(<const floating *>d.t, no, 1, rows, B, no, tb, nt)
    if d.w != NULL:
        wb = <floating *>net.wb
        _gather(<const floating *>d.w, 1, 1, rows, B, 1, wb, nt)
        total = 0
        for i in range(B):
            total += wb[i]
        if not total > 0:
            return STEP_NO_WEIGHT
    else:
        total = <double>B
    batch_total[0] = total

    # -- forward
    for l in range(n_layers):
        ly = &L[l]
        z = <floating *>ly.pre
        # a hidden relu layer: bias and relu in the product's epilogue; the
        # output layer: its bias
        fuse = l == n_layers - 1 or _relu_fusable(ly)
        if l == 0 and d.sparse:
            _csr_forward(d, rows, 0, B, P + ly.w_off, ly.fan_out, z)
            done = 0
        else:
            a_in = A0 if l == 0 else <const floating *>L[l - 1].out
            lda_in = lda0 if l == 0 else ly.fan_in
            if fuse:
                done = _gemm_ep(c'N', <int>B, <int>ly.fan_out, <int>ly.fan_in, a_in,
                                <int>lda_in, P + ly.w_off, <int>ly.fan_out, z, <int>ly.fan_out,
                                nt, FA_GEMM_EP_BIAS if l == n_layers - 1 else
                                FA_GEMM_EP_BIAS_RELU, P + ly.b_off, NULL, NULL)
            else:
                done = _gemm(c'N', c'N', <int>B, <int>ly.fan_out, <int>ly.fan_in, <floating>1,
                             a_in, <int>lda_in, P + ly.w_off, <int>ly.fan_out, <floating>0, z,
                             <int>ly.fan_out, nt)
            if done < 0:
                return STEP_NO_MEMORY
        if l == n_layers - 1:
            out_bias_added = done > 0
            break
        if not (fuse and done > 0):
            _hidden_forward(ly, P, z, <floating *>ly.saved, <floating *>ly.act, B, nt)
        if ly.keep < 1.0:
            # the chunk's masks start where its first row is in the whole batch
            key = mlp_mix64(net.seed ^ mlp_mix64(net.step * 4096 + <uint64_t>l))
            first = <uint64_t>(row0 * ly.width)
            if floating is float:
                mlp_dropout_forward_f32(<float *>ly.act, <float *>ly.mask, <float *>ly.out,
                                        B * ly.width, ly.keep, key, first)
            else:
                mlp_dropout_forward_f64(<double *>ly.act, <double *>ly.mask, <double *>ly.out,
                                        B * ly.width, ly.keep, key, first)

    # -- output layer: logits, then the fused loss turns them into d loss / d z
    ly = &L[n_layers - 1]
    z = <floating *>ly.pre
    if not out_bias_added:
        _bias_act(FA_IDENTITY, NULL, z, P + ly.b_off, NULL, B, no, nt)
    loss = _output_loss(net.loss, z, tb, wb, B, no, norm if norm > 0 else total)
    if norm > 0 and (net.loss == LOSS_SOFTMAX or net.loss == LOSS_LOGISTIC):
        # the fused cross-entropy kernels average over the rows they see;
        # rescale to an average over the whole set
        loss *= total / norm
        if floating is float:
            mlp_scale_f32(z, <float>(total / norm), B * no)
        else:
            mlp_scale_f64(z, total / norm, B * no)
    if not isfinite(loss):
        return STEP_NONFINITE
    data_loss[0] = loss

    # -- backward, from the output layer down
    _act_bwd_bias(FA_IDENTITY, NULL, z, z, G + ly.b_off, B, no, nt)
    for l in range(n_layers - 1, -1, -1):
        ly = &L[l]
        z = <floating *>ly.delta
        if l == 0:
            if d.sparse:
                if floating is float:
                    mlp_csr_weight_grad_f32(<float *>d.x, d.indices, d.indptr, rows, B, z,
                                            ly.fan_out, G + ly.w_off, nf)
                else:
                    mlp_csr_weight_grad_f64(<double *>d.x, d.indices, d.indptr, rows, B, z,
                                            ly.fan_out, G + ly.w_off, nf)
            else:
                if _gemm(c'T', c'N', <int>nf, <int>ly.fan_out, <int>B, <floating>1, A0,
                         <int>lda0, z, <int>ly.fan_out, <floating>0, G + ly.w_off,
                         <int>ly.fan_out, nt) < 0:
                    return STEP_NO_MEMORY
            break
        prev = &L[l - 1]
        if _gemm(c'T', c'N', <int>ly.fan_in, <int>ly.fan_out, <int>B, <floating>1,
                 <floating *>prev.out, <int>ly.fan_in, z, <int>ly.fan_out, <floating>0,
                 G + ly.w_off, <int>ly.fan_out, nt) < 0:
            return STEP_NO_MEMORY
        # d loss / d prev.out = delta W^T (a relu layer: times its slope, and
        # the intercept gradient, in the product's epilogue)
        target = <floating *>(prev.dpost if prev.pattern == PAT_MAXOUT else prev.delta)
        fuse = _relu_fusable(prev)
        if fuse:
            done = _gemm_ep(c'T', <int>B, <int>ly.fan_in, <int>ly.fan_out, z,
                            <int>ly.fan_out, P + ly.w_off, <int>ly.fan_out, target,
                            <int>ly.fan_in, nt, FA_GEMM_EP_RELU_SLOPE, NULL,
                            <const floating *>prev.act, G + prev.b_off)
        else:
            done = _gemm(c'N', c'T', <int>B, <int>ly.fan_in, <int>ly.fan_out, <floating>1, z,
                         <int>ly.fan_out, P + ly.w_off, <int>ly.fan_out, <floating>0, target,
                         <int>ly.fan_in, nt)
        if done < 0:
            return STEP_NO_MEMORY
        if prev.keep < 1.0:
            if floating is float:
                mlp_mul_inplace_f32(target, <float *>prev.mask, B * prev.width)
            else:
                mlp_mul_inplace_f64(target, <double *>prev.mask, B * prev.width)
        if not fuse or done == 0:
            _hidden_backward(prev, G, B, nt)
        elif done == 1:     # slope applied on threads; the sums, in row order
            _act_bwd_bias(FA_IDENTITY, NULL, target, target, G + prev.b_off, B, ly.fan_in, nt)
    return STEP_OK


cdef int _batch_grad(Network net, floating *P, const int64_t *rows, Py_ssize_t B, double norm,
                     double *data_loss, double *batch_total) except -1 nogil:
    """_forward_backward over rows[:B] in chunks of at most net.chunk rows,
    with a signal check between two chunks: a KeyboardInterrupt leaves the
    parameters as they were.  The loss is averaged over `norm`, or over the
    weight sum of the rows when norm is 0.  The chunk gradients are summed
    in net.A in a fixed order (chunking changes them only by rounding, the
    same way for the same network and rows), then copied to net.G.
    Returns a Status."""
    if B <= net.chunk:
        return _forward_backward(net, P, rows, B, 0, norm, data_loss, batch_total)
    cdef floating *G = <floating *>net.G
    cdef floating *acc = <floating *>net.A
    cdef const floating *w = <const floating *>net.data.w
    cdef Py_ssize_t start = 0, b, i, n = net.n_params
    cdef double part = 0, part_total = 0, loss = 0
    cdef int status
    cdef bint summed = False
    if norm == 0:   # a mini-batch: every chunk needs the weight sum of the whole batch
        if w == NULL:
            norm = <double>B
        else:
            for i in range(B):
                norm += w[rows[i]]
            if not norm > 0:
                return STEP_NO_WEIGHT
    while start < B:
        if start > 0:
            with gil:
                PyErr_CheckSignals()
        b = min(net.chunk, B - start)
        status = _forward_backward(net, P, rows + start, b, start, norm, &part, &part_total)
        if status == STEP_NONFINITE or status == STEP_NO_MEMORY:
            return status
        if status == STEP_OK:
            loss += part
            if not summed:
                memcpy(acc, G, n * sizeof(floating))
            elif floating is float:
                mlp_add_scaled_f32(acc, G, 1, n)
            else:
                mlp_add_scaled_f64(acc, G, 1, n)
            summed = True
        start += b
    if not summed:
        return STEP_NO_WEIGHT
    memcpy(G, acc, n * sizeof(floating))
    data_loss[0] = loss
    batch_total[0] = norm
    return STEP_OK


cdef int _train_step(Network net, floating *P, const int64_t *rows, Py_ssize_t B,
                     double *batch_loss) except -1 nogil:
    """One optimizer step on a mini-batch; the batch loss (L2 term included,
    taken before the update as scikit-learn does) goes to batch_loss."""
    cdef double data_loss = 0, total = 0, sumsq = 0
    cdef int status = _batch_grad(net, P, rows, B, 0.0, &data_loss, &total)
    if status != STEP_OK:
        return status
    cdef floating *G = <floating *>net.G
    cdef floating *m = <floating *>net.opt_a
    cdef floating *v = <floating *>net.opt_b
    cdef Py_ssize_t nc = net.n_coef, ni = net.n_params - net.n_coef
    cdef floating l2 = <floating>(net.alpha / total)
    cdef double lr
    cdef double *ss = &sumsq if net.alpha != 0 else NULL
    cdef int nt = net.n_threads
    if net.solver == SOLVER_ADAM:
        net.adam_t += 1
        lr = net.lr_init * sqrt(1.0 - pow(net.beta_2, <double>net.adam_t)) \
            / (1.0 - pow(net.beta_1, <double>net.adam_t))
        net.lr = lr
        if floating is float:
            mlp_adam_update_f32(P, G, m, v, nc, l2, <float>net.beta_1, <float>(1.0 - net.beta_1),
                                <float>net.beta_2, <float>(1.0 - net.beta_2), <float>lr,
                                <float>net.epsilon, ss, nt)
            mlp_adam_update_f32(P + nc, G + nc, m + nc, v + nc, ni, 0, <float>net.beta_1,
                                <float>(1.0 - net.beta_1), <float>net.beta_2,
                                <float>(1.0 - net.beta_2), <float>lr, <float>net.epsilon, NULL, nt)
        else:
            mlp_adam_update_f64(P, G, m, v, nc, l2, net.beta_1, 1.0 - net.beta_1, net.beta_2,
                                1.0 - net.beta_2, lr, net.epsilon, ss, nt)
            mlp_adam_update_f64(P + nc, G + nc, m + nc, v + nc, ni, 0, net.beta_1,
                                1.0 - net.beta_1, net.beta_2, 1.0 - net.beta_2, lr,
                                net.epsilon, NULL, nt)
    else:
        if floating is float:
            mlp_sgd_update_f32(P, G, m, nc, l2, <float>net.momentum, <float>net.lr,
                               net.nesterov, ss, nt)
            mlp_sgd_update_f32(P + nc, G + nc, m + nc, ni, 0, <float>net.momentum,
                               <float>net.lr, net.nesterov, NULL, nt)
        else:
            mlp_sgd_update_f64(P, G, m, nc, l2, net.momentum, net.lr, net.nesterov, ss, nt)
            mlp_sgd_update_f64(P + nc, G + nc, m + nc, ni, 0, net.momentum, net.lr,
                               net.nesterov, NULL, nt)
    net.step += 1
    batch_loss[0] = data_loss + 0.5 * net.alpha * sumsq / total
    return STEP_OK


cdef int _forward_rows(Network net, floating *P, Data *d, const int64_t *rows, Py_ssize_t first,
                       Py_ssize_t n, floating *out, floating *work, Py_ssize_t chunk,
                       Py_ssize_t buf_size, bint check_finite, int nt) noexcept nogil:
    """Inference: the output activations of rows first..n-1 (rows[i], or i
    when rows is NULL) into out (n x n_outputs), `chunk` rows at a time.
    `work` holds 3 buffers of buf_size, then a chunk of row indices and a
    chunk of gathered input rows.

    Returns 1 when check_finite is set and the first layer's output of some
    row is not finite (X holds NaN or inf, or overflows), else 0."""
    cdef Layer *L = net.layers
    cdef Py_ssize_t n_layers = net.n_layers, nf = net.n_features, no = net.n_outputs
    cdef Py_ssize_t r0 = first, c, l, i, lda = nf
    cdef floating *bufs[2]
    cdef floating *pre_buf = work + 2 * buf_size
    cdef int64_t *idx = <int64_t *>(work + 3 * buf_size)
    cdef floating *xg = <floating *>(idx + chunk)
    cdef const floating *inp
    cdef floating *z
    cdef floating *dst
    cdef Layer *ly
    cdef bint direct = not d.sparse and rows == NULL and d.s1 == 1 and d.s0 >= nf
    bufs[0] = work
    bufs[1] = work + buf_size
    while r0 < n:
        c = min(chunk, n - r0)
        # the input rows of this chunk
        if d.sparse:
            inp = NULL
        elif direct:
            inp = <const floating *>d.x + r0 * d.s0
            lda = d.s0
        else:
            if rows != NULL:
                _gather(<const floating *>d.x, d.s0, d.s1, rows + r0, c, nf, xg, nt)
            else:
                for i in range(c):
                    idx[i] = r0 + i
                _gather(<const floating *>d.x, d.s0, d.s1, idx, c, nf, xg, nt)
            inp = xg
            lda = nf
        for l in range(n_layers):
            ly = &L[l]
            dst = out + r0 * no if l == n_layers - 1 else bufs[l % 2]
            z = pre_buf if ly.pattern == PAT_MAXOUT and l < n_layers - 1 else dst
            if l == 0 and d.sparse:
                _csr_forward(d, rows + r0 if rows != NULL else NULL, r0, c, P + ly.w_off,
                             ly.fan_out, z)
            else:
                _matmul(inp, lda, c, ly.fan_in, P + ly.w_off, ly.fan_out, z)
            if l == 0 and check_finite and not _all_finite(z, c * ly.fan_out):
                return 1
            if l < n_layers - 1:
                _hidden_forward(ly, P, z, NULL, dst, c, nt)
                inp = dst
                lda = ly.width
            else:
                _bias_act(net.out_kind, NULL, z, P + ly.b_off, NULL, c, no, nt)
        r0 += c
    return 0


cdef Py_ssize_t _round_up(Py_ssize_t n) noexcept:
    """Workspace offsets in elements, rounded to 64 bytes (16 float32)."""
    return (n + 15) & ~(<Py_ssize_t>15)


cdef class Network:
    """A multi-layer perceptron in one parameter buffer, trained in C.

    Parameters
    ----------
    layer_units : sequence of int
        ``[n_features, *hidden_widths, n_outputs]``; a hidden width is the
        number of outputs of its activation (for maxout the layer computes
        ``width * pieces`` pre-activations).
    activations : sequence of Activation
        One bound activation per hidden layer.
    dropout : sequence of float
        One rate in [0, 1) per hidden layer.
    loss : {"softmax", "logistic", "squared_error", "poisson"}
        Output activation and loss, fused.
    dtype : numpy float32 or float64
        The dtype of the parameters and of every computation.
    """

    def __cinit__(self):
        self.layers = NULL

    def __dealloc__(self):
        free(self.layers)

    def __init__(self, layer_units, activations, dropout, loss, dtype):
        units = [int(u) for u in layer_units]
        acts = list(activations)
        drop = [float(p) for p in dropout]
        if len(units) < 2 or any(u < 1 for u in units):
            raise ValueError(f"layer_units must hold >= 2 positive sizes, got {units}")
        if len(acts) != len(units) - 2 or len(drop) != len(units) - 2:
            raise ValueError("one activation and one dropout rate per hidden layer")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype
        self.is_f32 = dtype == np.float32
        self._units = units
        self._acts = acts
        self._dropout = drop
        self.loss_name = loss
        self.loss = LOSSES[loss]
        self.out_kind = _KIND[_OUT_KIND[self.loss]]
        self.n_layers = len(units) - 1
        self.n_features = units[0]
        self.n_outputs = units[len(units) - 1]
        self.layers = <Layer *>malloc(self.n_layers * sizeof(Layer))
        if self.layers == NULL:
            raise MemoryError()
        memset(self.layers, 0, self.n_layers * sizeof(Layer))
        self._alphas = []
        cdef Layer *ly
        cdef Py_ssize_t l, off = 0, fan_in = units[0]
        shapes = []
        for l in range(self.n_layers):
            ly = &self.layers[l]
            ly.width = units[l + 1]
            ly.fan_in = fan_in
            ly.pattern = PAT_ELEMENTWISE
            ly.kind = FA_IDENTITY
            ly.pieces = 1
            ly.keep = 1.0
            if l < self.n_layers - 1:
                self._configure_activation(l, acts[l])
                ly.keep = 1.0 - drop[l]
            ly.fan_out = ly.width * ly.pieces
            fan_in = ly.width
            shapes.append((ly.fan_in, ly.fan_out))
        for l in range(self.n_layers):
            self.layers[l].w_off = off
            off += self.layers[l].fan_in * self.layers[l].fan_out
        self.n_coef = off
        for l in range(self.n_layers):
            self.layers[l].b_off = off
            off += self.layers[l].fan_out
        self.n_params = off
        self.chunk = chunk_rows(self.n_coef, self.n_params - self.n_coef)
        self.params = np.zeros(off, dtype=dtype)
        self.grads = np.zeros(off, dtype=dtype)
        self.P = cnp.PyArray_DATA(self.params)
        self.G = cnp.PyArray_DATA(self.grads)
        self.solver = SOLVER_NONE
        self.n_threads = 1
        self.cap = 0
        self.bound = False
        self._data_refs = ()

    cdef _configure_activation(self, Py_ssize_t l, object act):
        cdef Layer *ly = &self.layers[l]
        if not isinstance(act, Activation):
            raise TypeError(f"activations must be fastact.Activation objects, got {act!r}")
        info = act.info
        if not info.trainable:
            raise ValueError(f"activation {info.name!r} has no gradient and cannot be "
                             f"used in a trained layer (hidden layer {l + 1})")
        ly.kind = _KIND[act.kernel]
        ly.from_input = fa_slope_from_input[ly.kind] and info.pattern == "elementwise"
        if info.pattern == "elementwise":
            ly.pattern = PAT_ELEMENTWISE
            if self.is_f32:
                problem = float32_problem(info, act.params)
                if problem is not None:
                    raise ValueError(f"hidden layer {l + 1}: {problem}")
            _, a, b = c_params(info, act.params)
            ly.p.a = a
            ly.p.b = b
        elif info.name == "prelu":
            ly.pattern = PAT_PRELU
            alpha = np.require(act.params["alpha"], self.dtype, ("C", "A"))
            if alpha.shape != (ly.width,):
                raise ValueError(f"prelu in hidden layer {l + 1} has {alpha.shape[0]} alpha "
                                 f"values; the layer has {ly.width} units")
            self._alphas.append(alpha)
            ly.alpha = cnp.PyArray_DATA(alpha)
        elif info.name == "softmax":
            ly.pattern = PAT_SOFTMAX
        elif info.name == "log_softmax":
            ly.pattern = PAT_LOG_SOFTMAX
        elif info.name == "maxout":
            ly.pattern = PAT_MAXOUT
            ly.pieces = act.params["pieces"]
        else:
            raise ValueError(f"activation {info.name!r} is not supported in a hidden layer")

    @property
    def rows_per_chunk(self):
        """Rows loss_grad and train_epoch compute at once (chunk_rows of the
        network); settable, to test that chunking changes nothing."""
        return self.chunk

    @rows_per_chunk.setter
    def rows_per_chunk(self, Py_ssize_t value):
        if value < 1:
            raise ValueError("rows_per_chunk must be >= 1")
        self.chunk = value

    # -- parameters ----------------------------------------------------------

    def coef_views(self):
        """Views of the weight matrices into the parameter buffer."""
        return [self.params[self.layers[l].w_off:self.layers[l].w_off
                            + self.layers[l].fan_in * self.layers[l].fan_out]
                .reshape(self.layers[l].fan_in, self.layers[l].fan_out)
                for l in range(self.n_layers)]

    def intercept_views(self):
        """Views of the intercept vectors into the parameter buffer."""
        return [self.params[self.layers[l].b_off:self.layers[l].b_off + self.layers[l].fan_out]
                for l in range(self.n_layers)]

    def bind_views(self, coefs, intercepts):
        """Remember the view objects given out as coefs_/intercepts_, so that
        lean_forward can check cheaply that they were not replaced."""
        self._views = tuple(coefs) + tuple(intercepts)

    def lean_forward(self, X, list coefs, list intercepts):
        """forward(X, check_finite=True) when X is a 2-D ndarray of the
        network's dtype in native byte order with the right number of columns
        and coefs/intercepts are still the views of this network; None
        otherwise (the caller validates and takes the full path).  All checks
        in C: the one-row predict latency."""
        if type(X) is not np.ndarray:
            return None
        cdef cnp.ndarray xa = <cnp.ndarray>X
        cdef int type_num = cnp.NPY_FLOAT32 if self.is_f32 else cnp.NPY_FLOAT64
        if (cnp.PyArray_NDIM(xa) != 2 or xa.shape[1] != self.n_features or xa.shape[0] < 1
                or cnp.PyArray_TYPE(xa) != type_num or not cnp.PyArray_ISNOTSWAPPED(xa)
                or not cnp.PyArray_ISALIGNED(xa)):
            return None
        cdef tuple views = self._views
        if views is None or len(coefs) + len(intercepts) != len(views):
            return None
        cdef Py_ssize_t i, nc = len(coefs)
        for i in range(nc):
            if coefs[i] is not views[i]:
                return None
        for i in range(len(intercepts)):
            if intercepts[i] is not views[nc + i]:
                return None
        cdef Data d
        memset(&d, 0, sizeof(Data))
        cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(xa)
        if xa.strides[0] % item or xa.strides[1] % item:
            return None
        d.x = cnp.PyArray_DATA(xa)
        d.s0 = xa.strides[0] // item
        d.s1 = xa.strides[1] // item
        cdef Py_ssize_t n = xa.shape[0]
        cdef cnp.npy_intp dims[2]
        dims[0] = n
        dims[1] = self.n_outputs
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(2, dims, type_num, 0)
        cdef cnp.ndarray all_rows = None
        if self.is_f32:
            status = _forward_call(self, <float *>NULL, &d, all_rows, n, out, True)
        else:
            status = _forward_call(self, <double *>NULL, &d, all_rows, n, out, True)
        return None if status else out

    def shapes(self):
        """[(fan_in, fan_out)] of every weight matrix."""
        return [(self.layers[l].fan_in, self.layers[l].fan_out) for l in range(self.n_layers)]

    def set_params(self, coefs, intercepts):
        """Copy weight matrices and intercepts into the parameter buffer."""
        for view, value in zip(self.coef_views() + self.intercept_views(),
                               list(coefs) + list(intercepts)):
            value = np.asarray(value)
            if value.shape != view.shape:
                raise ValueError(f"parameter of shape {value.shape} does not fit the "
                                 f"network (expected {view.shape})")
            view[...] = value

    def copy(self):
        """An independent network with the same parameters and optimizer state."""
        new = Network(self._units, self._acts, self._dropout, self.loss_name, self.dtype)
        new.params[...] = self.params
        new._copy_optimizer_from(self)
        return new

    cdef _copy_optimizer_from(self, Network other):
        self.solver = other.solver
        self.lr, self.lr_init = other.lr, other.lr_init
        self.momentum, self.nesterov = other.momentum, other.nesterov
        self.beta_1, self.beta_2, self.epsilon = other.beta_1, other.beta_2, other.epsilon
        self.adam_t = other.adam_t
        self.seed, self.step = other.seed, other.step
        if other._opt_a is not None:
            self._opt_a = other._opt_a.copy()
            self.opt_a = cnp.PyArray_DATA(self._opt_a)
        if other._opt_b is not None:
            self._opt_b = other._opt_b.copy()
            self.opt_b = cnp.PyArray_DATA(self._opt_b)

    def __reduce__(self):
        return (_rebuild_network,
                (self._units, self._acts, self._dropout, self.loss_name, self.dtype.str,
                 self.params, self.optimizer_state()))

    # -- optimizer -----------------------------------------------------------

    def set_adam(self, double learning_rate_init, double beta_1, double beta_2, double epsilon):
        """Start a fresh Adam optimizer (zero moments, t = 0)."""
        self.solver = SOLVER_ADAM
        self.lr_init = self.lr = learning_rate_init
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.adam_t = 0
        self._opt_a = np.zeros(self.n_params, dtype=self.dtype)
        self._opt_b = np.zeros(self.n_params, dtype=self.dtype)
        self.opt_a = cnp.PyArray_DATA(self._opt_a)
        self.opt_b = cnp.PyArray_DATA(self._opt_b)

    def set_sgd(self, double learning_rate_init, double momentum, bint nesterov):
        """Start a fresh SGD optimizer (zero velocities)."""
        self.solver = SOLVER_SGD
        self.lr_init = self.lr = learning_rate_init
        self.momentum, self.nesterov = momentum, nesterov
        self._opt_a = np.zeros(self.n_params, dtype=self.dtype)
        self._opt_b = None
        self.opt_a = cnp.PyArray_DATA(self._opt_a)
        self.opt_b = NULL

    @property
    def solver_name(self):
        return {SOLVER_NONE: None, SOLVER_SGD: "sgd", SOLVER_ADAM: "adam"}[self.solver]

    @property
    def learning_rate(self):
        """Current learning rate (Adam: that of the last step, bias corrections included)."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, double value):
        self.lr = value

    @property
    def adam_steps(self):
        return self.adam_t

    def optimizer_state(self):
        """Everything needed to resume training, as plain Python/NumPy values."""
        return {"solver": self.solver, "lr": self.lr, "lr_init": self.lr_init,
                "momentum": self.momentum, "nesterov": self.nesterov,
                "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "adam_t": self.adam_t, "seed": self.seed, "step": self.step,
                "a": self._opt_a, "b": self._opt_b}

    def set_optimizer_state(self, state):
        self.solver = state["solver"]
        self.lr, self.lr_init = state["lr"], state["lr_init"]
        self.momentum, self.nesterov = state["momentum"], state["nesterov"]
        self.beta_1, self.beta_2, self.epsilon = state["beta_1"], state["beta_2"], state["epsilon"]
        self.adam_t, self.seed, self.step = state["adam_t"], state["seed"], state["step"]
        self._opt_a = None if state["a"] is None else np.array(state["a"], dtype=self.dtype)
        self._opt_b = None if state["b"] is None else np.array(state["b"], dtype=self.dtype)
        self.opt_a = NULL if self._opt_a is None else cnp.PyArray_DATA(self._opt_a)
        self.opt_b = NULL if self._opt_b is None else cnp.PyArray_DATA(self._opt_b)

    # -- training data -------------------------------------------------------

    def bind(self, X, targets, sample_weight=None, *, double alpha=0.0, n_threads=None):
        """Attach the training set for train_epoch / loss_grad (read in place).

        X : ndarray (any strides) or CSR matrix with int32 indices, in the
        network's dtype; targets : C-contiguous (n, n_outputs) array in that
        dtype; sample_weight : None or C-contiguous (n,) array in that dtype.
        """
        n = X.shape[0]
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} features, the network {self.n_features}")
        t = targets
        if (not isinstance(t, np.ndarray) or t.dtype != self.dtype or t.shape != (n, self.n_outputs)
                or not t.flags.c_contiguous):
            raise ValueError("targets must be a C-contiguous (n_samples, n_outputs) array "
                             "of the network's dtype")
        if sample_weight is not None:
            w = sample_weight
            if (not isinstance(w, np.ndarray) or w.dtype != self.dtype or w.shape != (n,)
                    or not w.flags.c_contiguous):
                raise ValueError("sample_weight must be a C-contiguous (n_samples,) array "
                                 "of the network's dtype")
        self._set_data(X, sp.issparse(X))
        self.data.t = cnp.PyArray_DATA(<cnp.ndarray>t)
        self.data.w = NULL if sample_weight is None else cnp.PyArray_DATA(<cnp.ndarray>sample_weight)
        self._data_refs = self._data_refs + (t, sample_weight)
        self.n_rows = n
        self.norm = (<double>n if sample_weight is None
                     else float(np.sum(sample_weight, dtype=np.float64)))
        self.alpha = alpha
        # Threads follow the OpenMP limit (threadpoolctl's): fastact's GEMM
        # and kernels give the same bits for any thread count.  BLAS, used
        # only where that GEMM declines, stays single-threaded (fastact._mlp)
        # because its threaded results differ from its single-threaded ones.
        self.n_threads = (fa_omp_max_threads() if n_threads is None
                          else max(1, int(n_threads)))
        self.ws = None
        self.cap = 0
        self.bound = True

    def unbind(self):
        """Drop the references to the training set and the workspace."""
        self._data_refs = ()
        memset(&self.data, 0, sizeof(Data))
        self.ws = None
        self._acc = None
        self.A = NULL
        self.cap = 0
        self.n_rows = 0
        self.bound = False

    cdef _set_data(self, X, bint sparse):
        cdef cnp.ndarray xd
        memset(&self.data, 0, sizeof(Data))
        if sparse:
            if X.format != "csr":
                raise ValueError("sparse X must be CSR")
            ind, ptr = X.indices, X.indptr
            if X.data.dtype != self.dtype or ind.dtype != np.int32 or ptr.dtype != np.int32:
                raise ValueError("CSR X needs data of the network's dtype and int32 indices")
            # the C loops read whole elements: contiguous and aligned
            xd = np.require(X.data, requirements=["C", "A"])
            ind = np.require(ind, requirements=["C", "A"])
            ptr = np.require(ptr, requirements=["C", "A"])
            self.data.sparse = 1
            self.data.x = cnp.PyArray_DATA(xd)
            self.data.indices = <int32_t *>cnp.PyArray_DATA(<cnp.ndarray>ind)
            self.data.indptr = <int32_t *>cnp.PyArray_DATA(<cnp.ndarray>ptr)
            self._data_refs = (xd, ind, ptr)
        else:
            if not isinstance(X, np.ndarray) or X.dtype != self.dtype or X.ndim != 2:
                raise ValueError("dense X must be a 2-D ndarray of the network's dtype")
            xd = X
            item = xd.itemsize
            if xd.strides[0] % item or xd.strides[1] % item or not xd.flags.aligned:
                xd = np.require(xd, requirements=["C", "A"])    # a copy: rare
            self.data.x = cnp.PyArray_DATA(xd)
            self.data.s0 = xd.strides[0] // item
            self.data.s1 = xd.strides[1] // item
            self._data_refs = (xd,)

    cdef _ensure_accumulator(self):
        """The gradient sum of a chunked batch (see _batch_grad)."""
        if self._acc is None:
            self._acc = np.empty(self.n_params, dtype=self.dtype)
            self.A = cnp.PyArray_DATA(self._acc)

    cdef _ensure_workspace(self, Py_ssize_t cap):
        """Batch buffers for `cap` rows, in one allocation: per layer pre,
        delta, and where needed saved / act + dpost (maxout) / mask + out
        (dropout); then the gathered inputs, targets and weights."""
        if cap <= self.cap and self.ws is not None:
            return
        cdef Py_ssize_t l, off, item = self.dtype.itemsize
        cdef Layer *ly
        cdef char *base = NULL
        cdef bint hidden
        cdef int bind_pass
        ws = None
        for bind_pass in range(2):
            off = 0
            for l in range(self.n_layers):
                ly = &self.layers[l]
                hidden = l < self.n_layers - 1
                ly.pre = base + off * item
                off += _round_up(cap * ly.fan_out)
                if hidden:
                    ly.delta = base + off * item
                    off += _round_up(cap * ly.fan_out)
                else:   # the output gradient is computed in place of the logits
                    ly.delta = ly.pre
                ly.saved = NULL
                if hidden and ly.from_input:
                    ly.saved = base + off * item
                    off += _round_up(cap * ly.fan_out)
                ly.act = ly.pre
                ly.dpost = NULL
                if hidden and ly.pattern == PAT_MAXOUT:
                    ly.act = base + off * item
                    off += _round_up(cap * ly.width)
                    ly.dpost = base + off * item
                    off += _round_up(cap * ly.width)
                ly.mask = NULL
                ly.out = ly.act
                if hidden and ly.keep < 1.0:
                    ly.mask = base + off * item
                    off += _round_up(cap * ly.width)
                    ly.out = base + off * item
                    off += _round_up(cap * ly.width)
            self.xb = base + off * item
            if not self.data.sparse:
                off += _round_up(cap * self.n_features)
            self.tb = base + off * item
            off += _round_up(cap * self.n_outputs)
            self.wb = base + off * item
            off += _round_up(cap)
            if bind_pass == 0:
                ws = np.empty(off + 16, dtype=self.dtype)
                base = <char *>cnp.PyArray_DATA(ws)
                base += (64 - (<size_t>base) % 64) % 64   # align to 64 bytes
        self.ws = ws
        self.cap = cap

    # -- training ------------------------------------------------------------

    def train_epoch(self, cnp.ndarray[int64_t, ndim=1, mode="c"] order, Py_ssize_t batch_size):
        """One pass over the rows `order` of the bound data in mini-batches
        of batch_size (the last one smaller), one optimizer step each.

        Returns ``(sum over batches of batch_loss * batch_rows, status)``
        where status is "ok" or "nonfinite" (training stopped at a batch whose
        loss was NaN or infinite, before updating with it).  Signals are
        checked between batches, and between the chunks of a batch too large
        to compute at once (see chunk_rows): KeyboardInterrupt propagates with
        the parameters of the last completed step.
        """
        if self.solver == SOLVER_NONE:
            raise RuntimeError("set_adam or set_sgd first")
        if not self.bound:
            raise RuntimeError("bind the training data first")
        cdef Py_ssize_t n = order.shape[0], start = 0, B
        if n == 0:
            return 0.0, "ok"
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        cdef int64_t *rows = &order[0]
        cdef Py_ssize_t i
        for i in range(n):
            if rows[i] < 0 or rows[i] >= self.n_rows:
                raise IndexError(f"row index {rows[i]} out of range for {self.n_rows} rows")
        self._ensure_workspace(min(batch_size, n, self.chunk))
        if min(batch_size, n) > self.chunk:
            self._ensure_accumulator()
        cdef double acc = 0, batch_loss = 0
        cdef int status = STEP_OK
        with nogil:
            while start < n:
                B = min(batch_size, n - start)
                if self.is_f32:
                    status = _train_step(self, <float *>self.P, rows + start, B, &batch_loss)
                else:
                    status = _train_step(self, <double *>self.P, rows + start, B, &batch_loss)
                if status == STEP_NONFINITE or status == STEP_NO_MEMORY:
                    break
                if status == STEP_OK:
                    acc += batch_loss * B
                start += B
                with gil:
                    PyErr_CheckSignals()
        if status == STEP_NO_MEMORY:
            raise _no_memory()
        return acc, ("nonfinite" if status == STEP_NONFINITE else "ok")

    def loss_grad(self, x):
        """Loss and gradient over all the bound rows at parameters x (1-D,
        any float dtype): the objective of scipy's L-BFGS-B.  The L2 term is
        included.  Returns ``(loss, grad)``, grad a new float64 array; the
        loss is inf when it is not finite."""
        if not self.bound:
            raise RuntimeError("bind the training data first")
        xv = np.asarray(x)
        if xv.shape != (self.n_params,):
            raise ValueError(f"x must have {self.n_params} entries, got shape {xv.shape}")
        self.params[...] = xv
        cdef Py_ssize_t n = self.n_rows
        self._ensure_workspace(max(1, min(n, self.chunk)))
        if n > self.chunk:
            self._ensure_accumulator()
        cdef cnp.ndarray order = np.arange(n, dtype=np.int64)
        cdef int64_t *rows = <int64_t *>cnp.PyArray_DATA(order)
        cdef double loss = 0, total = 0, sumsq = 0, norm = self.norm
        cdef int status = STEP_NO_WEIGHT
        if n > 0:
            with nogil:
                if self.is_f32:
                    status = _batch_grad(self, <float *>self.P, rows, n, norm, &loss, &total)
                else:
                    status = _batch_grad(self, <double *>self.P, rows, n, norm, &loss, &total)
        if status == STEP_NO_MEMORY:
            raise _no_memory()
        if status == STEP_NONFINITE:
            return np.inf, np.zeros(self.n_params)
        if status == STEP_NO_WEIGHT:
            loss = 0
            self.grads[...] = 0
        # L2 penalty on the weights (not the intercepts)
        cdef double l2 = self.alpha / norm
        if self.alpha != 0:
            if self.is_f32:
                sumsq = mlp_sumsq_f32(<float *>self.P, self.n_coef)
                mlp_add_scaled_f32(<float *>self.G, <float *>self.P, <float>l2, self.n_coef)
            else:
                sumsq = mlp_sumsq_f64(<double *>self.P, self.n_coef)
                mlp_add_scaled_f64(<double *>self.G, <double *>self.P, l2, self.n_coef)
        loss += 0.5 * self.alpha * sumsq / norm
        return loss, self.grads.astype(np.float64)

    # -- inference -----------------------------------------------------------

    def forward(self, X, rows=None, *, bint check_finite=False):
        """Output activations (softmax / logistic / identity / exp) of the
        rows of X, as a new (n, n_outputs) array of the network's dtype.

        X: ndarray of the network's dtype (any strides) or CSR matrix with
        int32 indices.  rows: optional row indices.  With check_finite,
        returns None when the first layer's output is not finite (X holds NaN
        or inf, or values that overflow), so the caller can validate X and
        report the problem.
        """
        cdef Data d
        cdef cnp.ndarray xd, rows_arr = None
        memset(&d, 0, sizeof(Data))
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must be 2-D with {self.n_features} columns, got shape {X.shape}")
        if sp.issparse(X):
            if (X.format != "csr" or X.data.dtype != self.dtype or X.indices.dtype != np.int32
                    or X.indptr.dtype != np.int32):
                raise ValueError("sparse X must be CSR with data of the network's dtype "
                                 "and int32 indices")
            xd = np.require(X.data, requirements=["C", "A"])
            ind = np.require(X.indices, requirements=["C", "A"])
            ptr = np.require(X.indptr, requirements=["C", "A"])
            d.sparse = 1
            d.x = cnp.PyArray_DATA(xd)
            d.indices = <int32_t *>cnp.PyArray_DATA(<cnp.ndarray>ind)
            d.indptr = <int32_t *>cnp.PyArray_DATA(<cnp.ndarray>ptr)
        else:
            if not isinstance(X, np.ndarray) or X.dtype != self.dtype:
                raise ValueError("dense X must be an ndarray of the network's dtype")
            xd = X
            if xd.strides[0] % xd.itemsize or xd.strides[1] % xd.itemsize \
                    or not xd.flags.aligned:
                xd = np.require(xd, requirements=["C", "A"])
            d.x = cnp.PyArray_DATA(xd)
            d.s0 = xd.strides[0] // xd.itemsize
            d.s1 = xd.strides[1] // xd.itemsize
        cdef Py_ssize_t n = X.shape[0]
        if rows is not None:
            rows_arr = np.ascontiguousarray(rows, dtype=np.int64)
            n = rows_arr.shape[0]
            if n and (rows_arr.min() < 0 or rows_arr.max() >= X.shape[0]):
                raise IndexError("row index out of range")
        cdef cnp.ndarray out = np.empty((n, self.n_outputs), dtype=self.dtype)
        if n == 0:
            return out
        if self.is_f32:
            status = _forward_call(self, <float *>NULL, &d, rows_arr, n, out, check_finite)
        else:
            status = _forward_call(self, <double *>NULL, &d, rows_arr, n, out, check_finite)
        return None if status else out


cdef int _forward_call(Network net, floating *kind, Data *d, cnp.ndarray rows_arr, Py_ssize_t n,
                       cnp.ndarray out, bint check_finite) except -1:
    """Runs _forward_rows without the GIL: chunks of PREDICT_CHUNK rows, spread
    over the OpenMP threads (threadpoolctl's limit), each with its own
    workspace and single-threaded BLAS.  The chunks do not depend on the
    thread count, so neither do the results (see fastact._blas_threads)."""
    cdef Py_ssize_t chunk = min(n, PREDICT_CHUNK), maxw = 1, l, buf_size, k
    for l in range(net.n_layers):
        maxw = max(maxw, net.layers[l].fan_out)
    buf_size = _round_up(chunk * maxw)
    cdef Py_ssize_t n_chunks = (n + chunk - 1) // chunk
    cdef int nt = <int>min(<Py_ssize_t>fa_omp_max_threads(), n_chunks)
    # per thread: 3 buffers, the gathered rows and their indices, 64-byte aligned
    cdef Py_ssize_t per_thread = _round_up(3 * buf_size + chunk * net.n_features
                                           + (chunk * sizeof(int64_t) + sizeof(floating) - 1)
                                           // sizeof(floating))
    cdef floating *work = <floating *>malloc(nt * per_thread * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    cdef const int64_t *rows = NULL
    if rows_arr is not None:
        rows = <const int64_t *>cnp.PyArray_DATA(rows_arr)
    cdef floating *P = <floating *>net.P
    cdef floating *o = <floating *>cnp.PyArray_DATA(out)
    cdef int status = 0
    # The activation kernels are not split further (n_threads 1): the chunks
    # already keep every thread busy.
    try:
        if n <= SMALL_ROWS:         # no BLAS call (_matmul): no need to pin it
            with nogil:
                status = _forward_rows(net, P, d, rows, 0, n, o, work, chunk, buf_size,
                                       check_finite, 1)
        else:
            with single_threaded_blas, nogil:
                if nt == 1:
                    status = _forward_rows(net, P, d, rows, 0, n, o, work, chunk, buf_size,
                                           check_finite, 1)
                else:
                    for k in prange(n_chunks, schedule="static", num_threads=nt):
                        status += _forward_rows(net, P, d, rows, k * chunk,
                                                min(n, (k + 1) * chunk), o,
                                                work + threadid() * per_thread, chunk,
                                                buf_size, check_finite, 1)
    finally:
        free(work)
    return 1 if status else 0


def _rebuild_network(units, acts, dropout, loss, dtype, params, opt_state):
    net = Network(units, acts, dropout, loss, np.dtype(dtype))
    net.params[...] = params
    net.set_optimizer_state(opt_state)
    return net
