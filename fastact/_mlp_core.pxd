# Declarations of the MLP engine (fastact/_mlp_core.pyx): the per-layer and
# bound-data structs and the Network extension type, so that the fused nogil
# functions of the .pyx can take a typed Network.

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint64_t

cdef extern from "fastact.h" nogil:
    ctypedef int fa_kind
    ctypedef struct fa_params:
        double a
        double b


cdef struct Layer:
    Py_ssize_t fan_in, fan_out    # W is fan_in x fan_out
    Py_ssize_t width              # outputs after the activation (maxout: fan_out / pieces)
    Py_ssize_t w_off, b_off       # offsets of W and b in the parameter buffer
    int pattern
    fa_kind kind
    int from_input                # slope needs z + b (kept in `saved`)
    Py_ssize_t pieces
    fa_params p
    double keep                   # 1 - dropout rate
    void *alpha                   # prelu alpha in the network's dtype
    # training workspace, `cap` rows each (pointers into Network.ws)
    void *pre                     # z + b, then f(z + b) in place (maxout: z + b only)
    void *saved                   # z + b for slope-from-input kinds, else NULL
    void *act                     # f(z + b): == pre except for maxout
    void *mask                    # dropout scales, NULL without dropout
    void *out                     # what the next layer reads: act, or act * mask
    void *delta                   # d loss / d (z + b)
    void *dpost                   # maxout: d loss / d act


cdef struct Data:
    # rows read in place: a dense X (any strides) or a CSR matrix
    int sparse
    void *x                       # dense values, or CSR data
    Py_ssize_t s0, s1             # dense strides in elements
    int32_t *indices
    int32_t *indptr
    void *t                       # targets, n x n_outputs, C-contiguous
    void *w                       # sample weights or NULL


cdef class Network:
    cdef Layer *layers
    cdef readonly Py_ssize_t n_layers, n_features, n_outputs, n_params, n_coef
    cdef readonly object dtype
    cdef int is_f32
    cdef int loss
    cdef fa_kind out_kind
    cdef readonly str loss_name
    cdef list _acts, _dropout, _units, _alphas
    # parameters and gradients: one buffer each
    cdef readonly cnp.ndarray params
    cdef cnp.ndarray grads
    cdef void *P
    cdef void *G
    # gradient sum of a batch computed in chunks of `chunk` rows
    cdef Py_ssize_t chunk
    cdef cnp.ndarray _acc
    cdef void *A
    # optimizer
    cdef int solver
    cdef double lr, lr_init, momentum, beta_1, beta_2, epsilon
    cdef int nesterov
    cdef long long adam_t
    cdef cnp.ndarray _opt_a, _opt_b
    cdef void *opt_a
    cdef void *opt_b
    cdef public uint64_t seed
    cdef uint64_t step
    # training workspace and the bound data
    cdef cnp.ndarray ws
    cdef Py_ssize_t cap
    cdef void *xb
    cdef void *tb
    cdef void *wb
    cdef Data data
    cdef bint bound
    cdef tuple _data_refs
    cdef Py_ssize_t n_rows
    cdef readonly double norm     # weight sum (or row count) of the bound data
    cdef double alpha             # L2 strength of the bound fit
    cdef int n_threads
    cdef tuple _views             # the coef/intercept view objects handed out

    cdef _configure_activation(self, Py_ssize_t l, object act)
    cdef _copy_optimizer_from(self, Network other)
    cdef _set_data(self, X, bint sparse)
    cdef _ensure_accumulator(self)
    cdef _ensure_workspace(self, Py_ssize_t cap)
